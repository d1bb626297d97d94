"""The data domain's settings (conf/domain/data.yaml documents each key), typed and closed: an unknown key is
an error that names the valid ones (domains/settings.py). Defaults are the `tiny` scale's where it has one."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from domains.settings import check_keys, field_names, from_config
from proxies.configs import LMConfig
from proxies.corpus import CorpusConfig

CONTROL_DEFAULTS: dict[str, Any] = {"stages": ["full"], "bucket_ratio": 1.1, "disk_cache": True}
LM_KEYS = field_names(LMConfig) | {"preset", "min_steps"}  # the domain's own two, then the proxy's fields
MODEL_KEYS = frozenset({"kind", "d_model", "n_layers", "n_heads", "kernel_size"})  # domains/data/models.py


@dataclass(frozen=True)
class DataSettings:
    corpus: str = "offline"  # "offline" or a user corpus (file, directory, cached Hugging Face dataset)
    text_field: str = "text"
    source_field: str | None = None
    eval_corpus: str | None = None
    reference_corpus: str | None = None
    eval_fraction: float = 0.05
    reference_fraction: float = 0.05
    max_docs: int | None = None
    curation_seed: int = 0
    curated_cache: int = 16
    compile_cache: bool = True
    corpus_preset: str = "tiny"
    corpus_overrides: Mapping[str, Any] = field(default_factory=dict)  # fields of proxies.corpus.CorpusConfig
    control: Mapping[str, Any] = field(default_factory=dict)  # over CONTROL_DEFAULTS
    lm: Mapping[str, Any] = field(default_factory=dict)  # preset, min_steps, then proxies.lm.LMConfig fields
    model: Mapping[str, Any] | None = None  # the model without an arch partner (domains/data/models.py)
    scale: str = "tiny"

    def __post_init__(self) -> None:
        check_keys(self.control or {}, frozenset(CONTROL_DEFAULTS), "data control")
        check_keys(self.lm or {}, LM_KEYS, "data lm")  # nested blocks are closed too: typos fail in the driver
        check_keys(self.model or {}, MODEL_KEYS, "data model")
        check_keys(self.corpus_overrides or {}, field_names(CorpusConfig), "data corpus_overrides")

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> "DataSettings":
        return from_config(cls, cfg, domain="data")

    def control_settings(self) -> dict[str, Any]:
        return {**CONTROL_DEFAULTS, **dict(self.control or {})}
