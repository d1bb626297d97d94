"""The data-curation domain: evolvable curation pipelines scored by a language-model proxy.

Evaluation: run the genome's pipeline over the raw corpus (cached per process by genome id), draw exactly
`steps x batch x seq_len` training tokens from the kept text (repeating it when too little is kept), train
the triple's architecture (or this scale's default model, see models.py) on them and measure loss on the clean held-out text of every
source. Score = -macro-average held-out loss; perf = nats gained over the reference ("none").
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from domains.base import Budget, CheckResult, EvaluationError, GenomeError, Metrics, genome_id, partner_providing
from domains.data import baselines as bl
from domains.data import describe, genome as gn, operators, text
from domains.data.control import ControlCache, bucket, random_filter
from domains.data.genome import DataGenome
from domains.data.mixture import training_tokens
from domains.data.pipeline import Context, Docs, kept_fractions, run_steps
from domains.data.settings import DataSettings
from domains.data.user_corpus import OFFLINE, load_user_corpus, validate_corpus_config
from domains.settings import as_dict
from proxies.corpus import VOCAB_SIZE, CorpusConfig, RawCorpus, TokenCorpus, corpus_key, encode, raw_corpus

CURVE_POINTS = 4  # loss-curve features in the behaviour vector
CONTROL_STREAM = 1  # the random filter's generator is seeded with (evaluation seed, CONTROL_STREAM)


class DataDomain:
    """Curation pipelines over the offline corpus (or the user's), scored by held-out LM loss."""

    name = "data"
    consumes = ("model_fn",)  # what evaluate asks partners for (domains/base.py: evaluation_inputs)
    reference = bl.REFERENCE

    def __init__(self, cfg: Mapping[str, Any] | None = None) -> None:
        self.settings = DataSettings.from_cfg(cfg)  # unknown keys: SettingsError naming the valid ones
        self.cfg = as_dict(self.settings, cfg)  # the dict form user_corpus.py takes
        validate_corpus_config(self.cfg)
        self._raw: RawCorpus | None = None
        self._curated: OrderedDict[str, tuple[Docs, float]] = OrderedDict()
        self._sources: tuple[str, ...] | None = None
        offline = self.settings.corpus in OFFLINE  # a user's file may change under the same name
        self._controls = ControlCache(disk=offline and bool(self._control_settings()["disk_cache"]))

    # --- the corpus ------------------------------------------------------------------------------------
    def corpus_config(self) -> CorpusConfig:
        overrides = dict(self.settings.corpus_overrides)
        return replace(CorpusConfig.preset(self.settings.corpus_preset), **overrides)

    def raw(self) -> RawCorpus:
        if self._raw is None:
            spec = self.settings.corpus
            self._raw = raw_corpus(self.corpus_config()) if spec in OFFLINE else load_user_corpus(self.cfg)
        return self._raw

    @property
    def sources(self) -> tuple[str, ...]:
        """Source names; the offline corpus's are known without building it."""
        if self._sources is None:
            spec = self.settings.corpus
            self._sources = self.corpus_config().sources if spec in OFFLINE else self.raw().sources
        return self._sources

    def _context(self) -> Context:
        raw = self.raw()
        reference = tuple(t for s in raw.sources for t in raw.reference.get(s, ()))
        return Context(sources=raw.sources, reference=reference, seed=int(self.settings.curation_seed))

    def curate(self, genome: DataGenome) -> tuple[Docs, float]:
        """(kept documents, pipeline seconds when first run); cached per process by genome id."""
        key = genome_id(self.name, self.to_json(genome))
        if key in self._curated:
            self._curated.move_to_end(key)
            return self._curated[key]
        raw = self.raw()
        start = time.perf_counter()
        docs = Docs(raw.texts, raw.source.astype(np.int64), raw.kind.astype(np.int64))
        try:
            kept = run_steps(genome.steps, docs, self._context())
        except (ValueError, MemoryError) as exc:
            raise EvaluationError(f"curation pipeline failed: {exc}") from exc
        seconds = time.perf_counter() - start
        self._curated[key] = (kept, seconds)
        while len(self._curated) > int(self.settings.curated_cache):
            self._curated.popitem(last=False)
        return kept, seconds

    def _all_docs(self) -> Docs:
        raw = self.raw()
        return Docs(raw.texts, raw.source.astype(np.int64), raw.kind.astype(np.int64))

    # --- the genome space ------------------------------------------------------------------------------
    def baselines(self) -> dict[str, DataGenome]:
        return bl.baselines()

    def sample(self, rng: np.random.Generator) -> DataGenome:
        return operators.sample(rng, self.sources)

    def mutate(self, genome: DataGenome, rng: np.random.Generator) -> DataGenome:
        return operators.mutate(genome, rng, self.sources)

    def crossover(self, a: DataGenome, b: DataGenome, rng: np.random.Generator) -> DataGenome:
        return operators.crossover(a, b, rng, self.sources)

    # --- forms -------------------------------------------------------------------------------------------
    def to_json(self, genome: DataGenome) -> dict[str, Any]:
        return gn.to_json(genome)

    def from_json(self, data: Any) -> DataGenome:
        try:
            return gn.from_json(data)
        except TypeError as exc:
            raise GenomeError(f"bad data genome JSON: {exc}") from exc

    def to_text(self, genome: DataGenome) -> str:
        return text.to_text(genome)

    def parse(self, source: str) -> DataGenome:
        try:
            return text.parse(source)
        except TypeError as exc:
            raise GenomeError(f"bad data genome text: {exc}") from exc

    def grammar(self) -> str:
        return describe.grammar(self.sources)

    def json_schema(self) -> dict[str, Any]:
        """The genome's JSON form as a JSON schema (the LLM's structured-output constraint)."""
        from domains.data import schema

        return schema.json_schema(self.sources)

    # --- analysis --------------------------------------------------------------------------------------
    def check(self, genome: DataGenome) -> CheckResult:
        return gn.check(genome, self.sources)

    def descriptor(self, genome: DataGenome) -> np.ndarray:
        return describe.descriptor(genome, self.sources)

    def features(self, genome: DataGenome) -> dict[str, float]:
        return describe.features(genome, self.sources)

    # --- evaluation ------------------------------------------------------------------------------------
    def lm_config(self, fraction: float) -> Any:
        """The LM proxy's config at this budget: the scale's preset and overrides, steps scaled."""
        from proxies.lm import stage_config

        lm = dict(self.settings.lm)
        preset = str(lm.pop("preset", self.settings.scale))
        return stage_config(preset, fraction, min_steps=int(lm.pop("min_steps", 10)), **lm)

    def model_fn(self, triple: Mapping[str, Any], partners: Mapping[str, Any], max_len: int) -> Any:
        """The triple's architecture when an arch partner exists, else this scale's default model."""
        found = partner_providing("model_fn", triple, partners)
        if found is not None:
            partner, genome = found
            return partner.provide("model_fn", genome, vocab_size=VOCAB_SIZE, max_len=max_len)
        from domains.data.models import default_model_fn

        spec = dict(self.settings.model or {"kind": "hybrid", "d_model": 64, "n_layers": 1, "n_heads": 4})
        return default_model_fn(spec, VOCAB_SIZE, max_len, self.lm_config(1.0).dtype)

    def evaluate(self, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Any]) -> Metrics:
        from proxies.cache import compile_stats

        with compile_stats() as compiling:  # what compiling cost, in the details (bench/bench_throughput.py)
            metrics = self._evaluate(triple, budget, partners)
        metrics.details.update(compiling)
        return metrics

    def _evaluate(self, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Any]) -> Metrics:
        genome = triple[self.name]
        if not (ok := self.check(genome)).ok:
            raise EvaluationError(f"invalid genome: {ok.reason}")
        raw = self.raw()
        kept, pipeline_seconds = self.curate(genome)
        if not len(kept):
            raise EvaluationError("the curation pipeline kept no documents")
        weights = {s: genome.weight(s) for s in raw.sources}
        run = self._train_and_score(kept, weights, genome.order, triple, budget, partners)
        eval_loss, result, tokens, mix_details = run
        metrics = result["metrics"] if "metrics" in result else result
        score = -float(np.mean(list(eval_loss.values())))
        before = self._all_docs()
        by_source = kept_fractions(before, kept, raw.sources, "source")
        by_kind = kept_fractions(before, kept, raw.kinds, "kind")
        kept_tokens = float(kept.nbytes().sum() / before.nbytes().sum())
        control = self._control_details(genome, kept_tokens, eval_loss, triple, budget, partners)
        curve = np.asarray(metrics["train_loss"], dtype=np.float64).ravel()
        train_seconds = float(result.get("train_seconds", 0.0))
        return Metrics(
            score=score,
            cost={"seconds": pipeline_seconds + train_seconds, "pipeline_seconds": pipeline_seconds,
                  "train_seconds": train_seconds, "compile_seconds": float(result.get("compile_seconds", 0.0)),
                  "tokens": float(tokens.size), "params": float(result.get("params", 0.0)),
                  "flops_per_token": float(result.get("flops_per_token", 0.0))},
            details={**{f"kept/{s}": v for s, v in by_source.items()},
                     **{f"kept_kind/{k}": v for k, v in by_kind.items() if math.isfinite(v)},
                     **{f"eval_loss/{s}": v for s, v in eval_loss.items()},
                     **mix_details, "docs_kept": float(len(kept)),
                     "bytes_kept": float(kept.nbytes().sum()), "kept_tokens": kept_tokens, **control,
                     "tokens_per_second": float(result.get("tokens_per_second", 0.0))},
            behaviour=[*(by_kind[k] for k in raw.kinds), *curve_features(curve)],
            curves={"train_loss": curve[:: max(1, curve.size // 200)].tolist()},
        )

    def _train_and_score(self, docs: Docs, weights: Mapping[str, float], order: str, triple: Mapping[str, Any],
                         budget: Budget, partners: Mapping[str, Any]) -> tuple[dict[str, float], dict, np.ndarray,
                                                                                dict[str, float]]:
        """Draw the stage's tokens from `docs`, train the model, return (held-out loss per source, the
        trainer's result, the tokens, mixture details). Pipelines and their controls both come here."""
        import jax

        from proxies.cache import enable_compile_cache
        from proxies.lm import measure, token_budget
        from proxies.trainer import step_capacity

        if self.settings.compile_cache:
            enable_compile_cache()  # every stage and pipeline shares one trainer per model (see n_tokens)
        raw = self.raw()
        cfg = self.lm_config(budget.fraction)
        # Every stage draws the full stage's token budget and trains its own (shorter) run on it: the token
        # array's length, and so the compiled trainer, is the same at every stage and for every pipeline.
        capacity = step_capacity(cfg, self.lm_config(1.0))
        n_tokens = token_budget(cfg, capacity)
        rng = np.random.default_rng(budget.seed)
        try:
            tokens, mix_details = training_tokens(docs, raw.sources, weights, n_tokens, order, rng)
        except ValueError as exc:
            raise EvaluationError(str(exc)) from exc
        eval_sets = {s: encode(raw.heldout[s]) for s in raw.sources}
        result = measure(cfg, self.model_fn(triple, partners, cfg.seq_len), tokens, eval_sets,
                         jax.random.PRNGKey(budget.seed), max_steps=capacity)
        metrics = result["metrics"] if "metrics" in result else result
        if bool(np.asarray(metrics.get("diverged", False))):
            raise EvaluationError("LM training diverged")
        eval_loss = {s: float(np.asarray(v)) for s, v in metrics["eval_loss"].items()}
        if not all(math.isfinite(v) for v in eval_loss.values()):
            raise EvaluationError(f"non-finite held-out loss {eval_loss}")
        return eval_loss, result, tokens, mix_details

    # --- the equal-fraction random-filter control (control.py) -------------------------------------------
    def _control_settings(self) -> dict[str, Any]:
        return self.settings.control_settings()

    def _control_key(self, fraction: float, triple: Mapping[str, Any], budget: Budget,
                     partners: Mapping[str, Any]) -> str:
        """Everything a control's result depends on: corpus, LM, model (or the arch partner's genome), stage
        budget, seed, the bucketed fraction."""
        import jax

        found = partner_providing("model_fn", triple, partners)
        if found is not None:
            arch, genome = found
            form = arch.to_json(genome) if hasattr(arch, "to_json") else repr(genome)
            model: Any = [genome_id(getattr(arch, "name", "arch"), form), getattr(arch, "cfg", None)]
        else:
            model = self.settings.model
        spec = self.settings.corpus
        corpus = corpus_key(self.corpus_config()) if spec in OFFLINE else f"user:{spec}"
        return ControlCache.key({"corpus": corpus, "lm": asdict(self.lm_config(budget.fraction)),
                                 "capacity": self.lm_config(1.0).steps, "model": model,
                                 "fraction": budget.fraction, "seed": budget.seed, "kept": fraction,
                                 "jax": jax.__version__, "backend": jax.default_backend()})

    def control(self, fraction: float, triple: Mapping[str, Any], budget: Budget,
                partners: Mapping[str, Any]) -> tuple[dict[str, float], float]:
        """(held-out loss per source, training seconds: 0 when cached) of a random filter keeping
        `fraction` of the raw tokens, evaluated exactly as a pipeline would be with this triple and budget."""
        key = self._control_key(fraction, triple, budget, partners)
        if (cached := self._controls.get(key)) is not None:
            return cached, 0.0
        raw = self.raw()
        docs = random_filter(self._all_docs(), fraction, np.random.default_rng([budget.seed, CONTROL_STREAM]))
        natural = {s: 1.0 for s in raw.sources}
        eval_loss, result, _, _ = self._train_and_score(docs, natural, "shuffle", triple, budget, partners)
        self._controls.put(key, eval_loss)
        return eval_loss, float(result.get("train_seconds", 0.0))

    def _control_details(self, genome: DataGenome, kept_tokens: float, eval_loss: Mapping[str, float],
                         triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Any]) -> dict[str, float]:
        """control/* details and gain_vs_control at the configured stages (none elsewhere)."""
        settings = self._control_settings()
        if budget.stage not in settings["stages"]:
            return {}
        fraction = bucket(kept_tokens, float(settings["bucket_ratio"]))
        if kept_tokens == 1.0 and genome.order == "shuffle" and all(genome.weight(s) == 1.0 for s in self.sources):
            # keeps everything at natural weights, like the reference: it is its own control (same tokens)
            self._controls.put(self._control_key(fraction, triple, budget, partners), eval_loss)
        try:
            control_loss, seconds = self.control(fraction, triple, budget, partners)
        except EvaluationError:
            return {"control/kept": fraction, "control/failed": 1.0}  # the pipeline's own result stands
        mean = float(np.mean(list(control_loss.values())))
        return {"control/kept": fraction, "control/eval_loss": mean, "control/seconds": seconds,
                **{f"control/eval_loss/{s}": v for s, v in control_loss.items()},
                "gain_vs_control": mean - float(np.mean(list(eval_loss.values())))}

    def provides(self, resource: str) -> bool:
        return resource == "corpus"

    def provide(self, resource: str, genome: Any, **kwargs: Any) -> Any:
        if resource != "corpus":
            raise KeyError(f"data domain provides 'corpus', not {resource!r}")
        return self.curated_corpus(genome, seed=int(kwargs.get("seed", 0)), budget=kwargs.get("budget"))

    def curated_corpus(self, genome: DataGenome, *, seed: int = 0, budget: int | None = None) -> TokenCorpus:
        """The curated training tokens (one natural pass over the kept text unless `budget` is given, drawn
        with the genome's mixture and order) plus the clean held-out sets."""
        raw = self.raw()
        kept, _ = self.curate(genome)
        if not len(kept):
            raise EvaluationError("the curation pipeline kept no documents")
        n_tokens = int(budget) if budget is not None else int(kept.nbytes().sum() + len(kept))
        weights = {s: genome.weight(s) for s in raw.sources}
        tokens, mix_details = training_tokens(kept, raw.sources, weights, n_tokens, genome.order,
                                              np.random.default_rng(seed))
        kept_by_source = kept_fractions(self._all_docs(), kept, raw.sources, "source")
        return TokenCorpus(train=tokens, heldout={s: encode(raw.heldout[s]) for s in raw.sources},
                           details={**{f"kept/{s}": v for s, v in kept_by_source.items()}, **mix_details})

    def normalise(self, score: float, reference_score: float) -> float:
        """Raw gain: nats of held-out loss gained over the reference pipeline with the same partners, stage and
        seed; the engine states it in the declared unit (evolve/gain.py)."""
        return float(score) - float(reference_score)


def curve_features(curve: np.ndarray, points: int = CURVE_POINTS) -> list[float]:
    """Mean training loss in `points` equal segments, in units of the uniform byte loss ln(256)."""
    if curve.size == 0 or not np.all(np.isfinite(curve)):
        return [float("nan")] * points
    return [float(seg.mean() / math.log(VOCAB_SIZE)) for seg in np.array_split(curve, points) if seg.size] + \
        [float("nan")] * max(0, points - curve.size)
