"""`ArchDomain`: the architecture domain plugin (the `domains.base.Domain` protocol).

A thin class over pure modules: genome/expr (the tree), text (forms), operators (GP),
describe (params, descriptor, features), checks, compile (NNX) and evaluate (LM + recall).
Constructed once per process from the merged config dict (conf/domain/arch.yaml), typed by settings.py.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from domains.arch import describe, genome, operators, schema, text
from domains.arch.baselines import REFERENCE, baselines
from domains.arch.checks import static_check
from domains.arch.genome import ArchGenome, Bounds
from domains.arch.grammar import grammar
from domains.arch.settings import ArchSettings
from domains.base import Budget, CheckResult, Domain, Metrics
from domains.settings import as_dict


class ArchDomain:
    name = "arch"
    consumes = ("corpus",)  # what evaluate asks partners for (domains/base.py: evaluation_inputs)
    reference = REFERENCE

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        self.settings = ArchSettings.from_cfg(cfg)  # unknown keys: SettingsError naming the valid ones
        self.cfg: dict[str, Any] = as_dict(self.settings, cfg)  # the dict form the pure modules take
        self.bounds = Bounds.from_cfg(self.cfg)

    # --- the genome space ------------------------------------------------------------------
    def baselines(self) -> dict[str, ArchGenome]:
        return baselines()

    def sample(self, rng: np.random.Generator) -> ArchGenome:
        return operators.sample(rng, self.bounds)

    def mutate(self, g: ArchGenome, rng: np.random.Generator) -> ArchGenome:
        return operators.mutate(g, rng, self.bounds)

    def crossover(self, a: ArchGenome, b: ArchGenome, rng: np.random.Generator) -> ArchGenome:
        return operators.crossover(a, b, rng, self.bounds)

    # --- forms -----------------------------------------------------------------------------
    def to_json(self, g: ArchGenome) -> dict:
        return genome.to_json(g)

    def from_json(self, data: Any) -> ArchGenome:
        return genome.from_json(data)

    def to_text(self, g: ArchGenome) -> str:
        return text.to_text(g)

    def parse(self, s: str) -> ArchGenome:
        return text.parse(s)

    def grammar(self) -> str:
        c = self.cfg
        return grammar(self.bounds, d_model=int(c["d_model"]), n_layers=int(c["n_layers"]),
                       max_params=int(c["max_params"]))

    def json_schema(self) -> dict[str, Any]:
        """The genome's JSON form as a bounded-depth JSON schema (the LLM's structured-output constraint)."""
        return schema.json_schema(self.bounds)

    # --- analysis --------------------------------------------------------------------------
    def check(self, g: Any) -> CheckResult:
        c = self.cfg
        return static_check(g, self.bounds, d_model=int(c["d_model"]), n_layers=int(c["n_layers"]),
                            vocab_size=int(c["vocab_size"]), max_params=int(c["max_params"]))

    def descriptor(self, g: ArchGenome) -> np.ndarray:
        return describe.descriptor(g)

    def features(self, g: ArchGenome) -> dict[str, float]:
        return describe.features(g)

    def n_params(self, g: ArchGenome) -> int:
        c = self.cfg
        return describe.n_params(g, d_model=int(c["d_model"]), n_layers=int(c["n_layers"]),
                                 vocab_size=int(c["vocab_size"]))

    # --- evaluation ------------------------------------------------------------------------
    def dynamic_check(self, g: ArchGenome, *, seed: int = 0) -> CheckResult:
        from domains.arch import evaluate

        return evaluate.dynamic_check(g, self.cfg, seed=seed)

    def evaluate(self, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Domain]) -> Metrics:
        from domains.arch import evaluate

        g = triple[self.name]
        static = self.check(g)
        if not static.ok:
            from domains.base import EvaluationError

            raise EvaluationError(f"static check failed: {static.reason}")
        from proxies.cache import compile_stats

        with compile_stats() as compiling:  # what compiling cost, in the details (bench/bench_throughput.py)
            metrics = evaluate.evaluate(g, self.cfg, budget, evaluate.corpus_for(triple, budget, partners, self.cfg))
        metrics.details.update(compiling)
        return metrics

    def provides(self, resource: str) -> bool:
        return resource in ("model_fn", "sequence_block")

    def provide(self, resource: str, g: ArchGenome, **kwargs: Any) -> Any:
        from domains.arch import compile as comp

        c = self.cfg
        if resource == "model_fn":
            w = comp.Width(int(c["d_model"]), int(c["n_layers"]), str(c["dtype"]), int(c["chunk"]))
            return comp.model_fn(g, w, vocab_size=int(kwargs["vocab_size"]), max_len=int(kwargs["max_len"]))
        if resource == "sequence_block":
            w = comp.Width(int(kwargs["d_model"]), int(c["sequence_block_layers"]), str(c["dtype"]), int(c["chunk"]))
            return comp.stack_fn(g, w)
        raise KeyError(f"arch provides 'model_fn' and 'sequence_block', not {resource!r}")

    def export(self, g: ArchGenome, to: str, out: Any, **options: Any) -> dict[str, str]:
        """Write the genome's LM for another framework (`to="torch"`: domains/arch/torch_export.py)."""
        if to != "torch":
            raise ValueError(f"arch exports to 'torch' only, not {to!r}")
        from domains.arch import torch_export

        return torch_export.export(g, self.cfg, out, **options)

    def normalise(self, score: float, reference_score: float) -> float:
        """Raw gain over the reference Transformer with the same partners, stage and seed, in score units
        (nats of held-out loss, plus recall); the engine states it in the declared unit (evolve/gain.py)."""
        return float(score) - float(reference_score)
