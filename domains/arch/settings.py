"""The arch domain's settings (conf/domain/arch.yaml documents each key), typed and closed: an unknown key is
an error that names the valid ones (domains/settings.py). Defaults are the `tiny` scale."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from domains.settings import SettingsError, check_keys, field_names, from_config
from proxies.configs import LMConfig, RecallConfig


@dataclass(frozen=True)
class ArchSettings:
    vocab_size: int = 256
    max_sublayers: int = 6
    max_branches: int = 3
    expr_depth: int = 4
    expr_size: int = 9
    recall_weight: float = 0.4
    check_seq_len: int = 96
    check_batch: int = 2
    check_layers: int = 1
    sequence_block_layers: int = 1
    min_steps: int = 10
    min_recall_steps: int = 10
    recall_skip_below_steps: int = 60  # a stage with fewer MQAR steps does not run the probe (evaluate.runs_recall)
    compile_cache: bool = True
    corpus_max_bytes: int | None = None
    d_model: int = 64
    n_layers: int = 2
    max_params: int = 400_000
    dtype: str = "float32"
    chunk: int = 16
    lm_preset: str = "tiny"  # proxies.lm.LMConfig preset, then the overrides in `lm`
    lm: Mapping[str, Any] = field(default_factory=lambda: {"seq_len": 128, "batch_size": 16, "steps": 100,
                                                           "eval_batches": 2})
    recall_preset: str = "tiny"  # proxies.recall.RecallConfig preset, then the overrides in `recall`
    recall: Mapping[str, Any] = field(default_factory=lambda: {"vocab_size": 64, "seq_len": 32, "num_pairs": 4,
                                                               "batch_size": 32, "steps": 100})

    def __post_init__(self) -> None:
        """The nested proxy blocks are closed too: a typo there fails in the driver, not in a worker."""
        check_keys(self.lm or {}, field_names(LMConfig), "arch lm")
        check_keys(self.recall or {}, field_names(RecallConfig), "arch recall")
        if isinstance(self.recall_skip_below_steps, bool) or not isinstance(self.recall_skip_below_steps, int) \
                or self.recall_skip_below_steps < 0:
            raise SettingsError(f"arch recall_skip_below_steps must be an integer >= 0 (0: the probe runs at every "
                                f"stage), got {self.recall_skip_below_steps!r}")

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> "ArchSettings":
        return from_config(cls, cfg, domain="arch")
