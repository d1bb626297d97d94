"""The contract between the engine and a domain plugin.

The engine (`evolve/`) only ever sees this protocol; concrete domains live in
`domains/<name>/` (or in a third-party package) and are found through the
`evolve.domains` entry-point group. Everything here is plain Python + numpy so
that it imports anywhere (workers, GPU boxes without Hydra or MLflow).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np

STAGES: tuple[str, ...] = ("isolated", "cross", "full")


class GenomeError(ValueError):
    """A genome (or its text/JSON form) is malformed or violates the grammar."""


class EvaluationError(RuntimeError):
    """An evaluation failed for a reason worth recording (NaN loss, leak, budget...)."""


def canonical_json(obj: Any) -> str:
    """The one serialisation that genome ids hash: sorted keys, no whitespace."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def genome_id(domain: str, genome_json: Any) -> str:
    """Content hash of a genome: equal genomes share an id, so duplicates are free to detect."""
    return hashlib.sha256(f"{domain}:{canonical_json(genome_json)}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Budget:
    """How much compute one evaluation may spend.

    `fraction` scales the domain's full-stage budget (steps, env steps, tokens);
    `seed` makes the evaluation reproducible; `stage` is one of STAGES.
    """

    stage: str
    fraction: float
    seed: int = 0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reason: str = ""

    @staticmethod
    def passed() -> "CheckResult":
        return CheckResult(True, "")

    @staticmethod
    def failed(reason: str) -> "CheckResult":
        return CheckResult(False, reason)


@dataclass
class Metrics:
    """What one domain's evaluation of a triple returns (must be picklable).

    score:     the domain's raw figure of merit, higher is better (e.g. -held-out loss);
               the domain's `normalise` turns it into a raw gain over the reference genome.
    cost:      measured cost; at least `seconds` (wall time of training); also `params`,
               `flops_per_token`, `env_steps`, ... as the domain knows them.
    details:   any other scalars worth logging (loss, recall accuracy, kept fractions...).
    behaviour: fixed-length behaviour features (e.g. loss-curve shape) appended to the
               structural descriptor for novelty; same length for every evaluation of a domain.
    curves:    optional named series (loss per step...) stored as artifacts.
    """

    score: float
    cost: dict[str, float] = field(default_factory=dict)
    details: dict[str, float] = field(default_factory=dict)
    behaviour: list[float] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(float(self.score)):
            raise EvaluationError(f"non-finite score {self.score!r}")


@runtime_checkable
class Domain(Protocol):
    """One searchable domain. Constructed once per process as `Domain(cfg)` where cfg is
    the domain's Hydra config section merged with the scale section (a plain dict).

    Genomes are immutable values; operators return new genomes. `to_json`/`from_json`
    are exact inverses; `to_text`/`parse` round-trip too (`parse(to_text(g)) == g`).
    """

    name: str
    reference: str  # name of the baseline that defines perf 0 (and, where meaningful, perf 1)

    # --- the genome space ---------------------------------------------------------------
    def baselines(self) -> dict[str, Any]: ...
    def sample(self, rng: np.random.Generator) -> Any: ...
    def mutate(self, genome: Any, rng: np.random.Generator) -> Any: ...
    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> Any: ...

    # --- forms ----------------------------------------------------------------------------
    def to_json(self, genome: Any) -> Any: ...
    def from_json(self, data: Any) -> Any: ...
    def to_text(self, genome: Any) -> str: ...
    def parse(self, text: str) -> Any: ...
    def grammar(self) -> str: ...
    # Optional: `json_schema(self) -> dict`, see `genome_schema` below.
    # Optional: `export(self, genome, to: str, out: path, **options) -> dict[str, str]` writes the genome
    # as a model of another framework (arch: to="torch") under `out` and returns the paths written.

    # --- analysis -------------------------------------------------------------------------
    def check(self, genome: Any) -> CheckResult:
        """Static validity, cheap, runs in the driver (grammar, budgets, parameter count)."""
        ...

    def descriptor(self, genome: Any) -> np.ndarray:
        """Fixed-length structural features for kNN novelty."""
        ...

    def features(self, genome: Any) -> dict[str, float]:
        """Named, human-readable genome features; hypotheses are predicates over these."""
        ...

    # --- evaluation (runs in a worker process) --------------------------------------------
    def evaluate(self, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, "Domain"]) -> Metrics:
        """Train/score this domain's member of `triple` (a dict domain-name -> genome).

        Dynamic checks (builds, finite outputs and gradients, causality) happen here and
        raise EvaluationError with a reason. `partners` are the other domains of the
        campaign: use `partners[name].provide(...)` to couple (a x d, a x r).
        """
        ...

    # Optional: `evaluate_batch(self, items, partners) -> list[Metrics | Exception]`, see `batch_evaluator` below.

    # Optional: `consumes: tuple[str, ...]`, the resources `evaluate` asks partners for (arch: ("corpus",)).
    # Declaring it promises that a result depends only on the domain's own genome, the genomes of the partners
    # providing those resources, the budget and the seed, so the engine reuses an identical evaluation instead
    # of training it again (see `evaluation_inputs`). Without it a result may depend on the whole triple.

    def provide(self, resource: str, genome: Any, **kwargs: Any) -> Any:
        """Expose a capability to other domains (e.g. arch: 'sequence_block'; data: 'corpus').
        Raise KeyError for an unknown resource."""
        ...

    def provides(self, resource: str) -> bool:
        """Whether `provide(resource, ...)` answers: partners are found by what they provide (see
        `partner_providing`), never by name, so a new domain offering 'corpus' is asked too."""
        ...

    def normalise(self, score: float, reference_score: float) -> float:
        """Raw gain of `score` over the reference genome's score with the same partners, stage and seed, in
        the domain's own units, 0 for the reference itself (normally `score - reference_score`). The engine
        turns raw gains into perf in one unit shared by every domain (evolve/gain.py)."""
        ...


def partner_providing(resource: str, triple: Mapping[str, Any],
                      partners: Mapping[str, "Domain"]) -> tuple["Domain", Any] | None:
    """(the partner, its genome in `triple`) of the first partner, in campaign order, that provides
    `resource` and has a member in the triple; None when no partner of this campaign provides it."""
    name = provider_name(resource, triple, partners)
    return None if name is None else (partners[name], triple[name])


def provider_name(resource: str, triple: Mapping[str, Any], partners: Mapping[str, "Domain"]) -> str | None:
    """The name of the partner `partner_providing` asks for `resource` (the one rule for both)."""
    return next((n for n, p in partners.items() if n in triple and p.provides(resource)), None)


def evaluation_inputs(name: str, domains: Mapping[str, "Domain"]) -> tuple[str, ...] | None:
    """The campaign domains whose genomes domain `name`'s evaluation reads: itself, then for each resource in its
    `consumes` the partner `partner_providing` would ask (campaign order; a triple holds every campaign domain).
    None when the domain declares no `consumes`: its result may then depend on every member of the triple."""
    consumes = getattr(domains[name], "consumes", None)
    if consumes is None:
        return None
    partners = {n: d for n, d in domains.items() if n != name}
    reads = [name]
    for resource in consumes:
        provider = provider_name(resource, partners, partners)
        if provider is not None and provider not in reads:
            reads.append(provider)
    return tuple(reads)


# --- batched evaluation (optional part of the protocol) ------------------------------------------------------
BatchItem = tuple[Mapping[str, Any], Budget]  # (triple, budget) of one evaluation in a batch


def batch_evaluator(domain: Any) -> Any:
    """The domain's `evaluate_batch`, or None when it has none (then every evaluation runs alone).

    A domain whose candidates share one compiled program (rl: objectives are data to one interpreter) may define
    `evaluate_batch(self, items: Sequence[BatchItem], partners) -> list[Metrics | Exception]`: one entry per item,
    in order, each exactly what `evaluate(triple, budget, partners)` would return or raise for that item alone —
    so one bad item fails alone and never its batch-mates. Items of a batch share the stage and budget fraction
    (seeds may differ). The engine sends a batch as one task and records one result per item.
    """
    fn = getattr(domain, "evaluate_batch", None)
    return fn if callable(fn) else None


# --- structured outputs (optional part of the protocol) ---------------------------------------------------
def genome_schema(domain: Any) -> dict[str, Any] | None:
    """The JSON schema of `domain`'s genome JSON form, or None when the domain offers none.

    A domain may define `json_schema(self) -> dict`: a JSON schema (draft 2020-12) that an LLM's
    structured output is decoded under, so that what it writes has the genome's JSON shape. Rules:
    bounded depth, never recursive (a tree of depth d is unrolled into levels `$defs/<name>_1..d`,
    each referring only to the level below, or written inline), no string with both `pattern` and
    `maxLength` (xgrammar refuses it). The schema may admit more than the grammar (sizes, sums,
    cross-field rules): `from_json` and `check` reject the rest with a reason, so everything the
    schema admits either becomes a genome or is refused with a message an LLM can act on.
    """
    make = getattr(domain, "json_schema", None)
    return make() if callable(make) else None


def strict_object(properties: Mapping[str, Any], required: Any = None) -> dict[str, Any]:
    """An object schema with exactly these properties (all required unless `required` says otherwise)."""
    return {"type": "object", "properties": dict(properties),
            "required": list(properties if required is None else required), "additionalProperties": False}


def tuple_array(*items: Any) -> dict[str, Any]:
    """A fixed-length array whose i-th element matches items[i] (JSON schema 2020-12 prefixItems)."""
    return {"type": "array", "prefixItems": list(items), "items": False, "minItems": len(items),
            "maxItems": len(items)}


def number_in(lo: float, hi: float, integer: bool = False) -> dict[str, Any]:
    return {"type": "integer" if integer else "number", "minimum": lo, "maximum": hi}
