"""The data-curation genome: an ordered pipeline of curation steps, a source mixture and an ordering.

    DataGenome(steps=(Step, ...), mixture=((source, weight), ...), order="shuffle"|"quality")
    Step = Filter(stat, min, max, on) | Dedup(unit) | NearDedup(threshold, ngram, perms)
         | Quality(keep, features, per_source, on)

Steps run in order, each on what the previous ones kept. `mixture` multiplies each source's natural share
of the kept text (weight 1 = natural, 0 = drop the source); only weights different from 1 are stored, so
a genome has one canonical form. `on` restricts a filter or scorer to some sources (empty = all).
Every JSON node is `{"type": <tag>, ...fields}`, the same tags as the text form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Union

from domains.base import CheckResult, GenomeError
from domains.data.stats import BY_NAME, STAT_NAMES

UNITS: tuple[str, ...] = ("doc", "para")
NGRAMS: tuple[int, ...] = (1, 2, 3, 4, 5, 7, 9)
PERMS: tuple[int, ...] = (16, 32, 64, 128)
FEATURES: tuple[str, ...] = ("words", "chars", "ngram")
ORDERS: tuple[str, ...] = ("shuffle", "quality")
MAX_STEPS = 12
MAX_WEIGHT = 8.0
NEAR_RANGE = (0.3, 0.99)  # MinHash Jaccard threshold
KEEP_RANGE = (0.02, 1.0)  # quality scorer keep fraction


def _as_float(x: Any) -> Any:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x


def _as_int(x: Any) -> Any:
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _as_sources(x: Any) -> Any:
    return tuple(sorted(set(x))) if isinstance(x, (tuple, list)) else x


def _normalise(obj: Any, floats: tuple[str, ...] = (), ints: tuple[str, ...] = ()) -> None:
    """One canonical type per field (3 and 3.0 must not give two genome ids)."""
    for name in floats:
        object.__setattr__(obj, name, _as_float(getattr(obj, name)))
    for name in ints:
        object.__setattr__(obj, name, _as_int(getattr(obj, name)))
    if hasattr(obj, "on"):
        object.__setattr__(obj, "on", _as_sources(obj.on))


@dataclass(frozen=True)
class Filter:
    """Keep documents whose statistic `stat` lies in [min, max] (None = unbounded)."""

    stat: str
    min: float | None = None
    max: float | None = None
    on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _normalise(self, floats=("min", "max"))


@dataclass(frozen=True)
class Dedup:
    """Exact deduplication of whole documents or of paragraphs (first occurrence kept)."""

    unit: str = "doc"


@dataclass(frozen=True)
class NearDedup:
    """MinHash-LSH near-duplicate removal at Jaccard `threshold` over word `ngram` shingles."""

    threshold: float = 0.8
    ngram: int = 5
    perms: int = 64

    def __post_init__(self) -> None:
        _normalise(self, floats=("threshold",), ints=("ngram", "perms"))


@dataclass(frozen=True)
class Quality:
    """A learned quality scorer (hashed n-grams + linear classifier, clean reference vs. the text it
    sees); keeps the top `keep` fraction, per source or overall."""

    keep: float = 0.5
    features: str = "words"
    per_source: bool = True
    on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _normalise(self, floats=("keep",))


Step = Union[Filter, Dedup, NearDedup, Quality]
TAGS: dict[type, str] = {Filter: "filter", Dedup: "dedup", NearDedup: "minhash", Quality: "quality"}
BY_TAG: dict[str, type] = {v: k for k, v in TAGS.items()}


@dataclass(frozen=True)
class DataGenome:
    steps: tuple[Step, ...] = ()
    mixture: tuple[tuple[str, float], ...] = ()
    order: str = "shuffle"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if isinstance(self.mixture, (dict, tuple, list)):
            try:
                object.__setattr__(self, "mixture", canonical_mixture(self.mixture))
            except (TypeError, ValueError) as exc:
                raise GenomeError(f"mixture must map source names to numbers: {exc}") from None

    def weight(self, source: str) -> float:
        return dict(self.mixture).get(source, 1.0)


def canonical_mixture(weights: dict[str, float] | tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    """Sorted (source, weight) pairs, weights rounded to 3 decimals, natural weights (1.0) dropped."""
    items = dict(weights).items()
    return tuple(sorted((s, round(float(w), 3)) for s, w in items if round(float(w), 3) != 1.0))


# --- JSON ----------------------------------------------------------------------------------------------


def step_to_json(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"type": TAGS[type(step)]}
    for f in fields(step):
        value = getattr(step, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def to_json(g: DataGenome) -> dict[str, Any]:
    return {"steps": [step_to_json(s) for s in g.steps], "mixture": {s: w for s, w in g.mixture},
            "order": g.order}


def step_from_json(data: Any) -> Step:
    if not isinstance(data, dict) or data.get("type") not in BY_TAG:
        raise GenomeError(f"unknown curation step {data!r}; steps: {', '.join(BY_TAG)}")
    cls = BY_TAG[data["type"]]
    names = {f.name for f in fields(cls)}
    if extra := set(data) - names - {"type"}:
        raise GenomeError(f"{data['type']}: unknown fields {sorted(extra)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "type"}
    return cls(**kwargs)


def from_json(data: Any) -> DataGenome:
    if not isinstance(data, dict):
        raise GenomeError(f"data genome JSON must be an object, got {type(data).__name__}")
    mixture = data.get("mixture") or {}
    if not isinstance(mixture, dict):
        raise GenomeError("mixture must map source names to weights")
    return DataGenome(steps=tuple(step_from_json(s) for s in data.get("steps", [])),
                      mixture=canonical_mixture(mixture), order=data.get("order", "shuffle"))


# --- validity ----------------------------------------------------------------------------------------


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_step(step: Step, sources: tuple[str, ...]) -> str:
    """The reason `step` is invalid, or '' when it is valid."""
    if isinstance(step, (Filter, Quality)):
        if not isinstance(step.on, tuple) or any(s not in sources for s in step.on):
            return f"{TAGS[type(step)]}: 'on' must name sources among {sources}, got {step.on!r}"
    if isinstance(step, Filter):
        if step.stat not in BY_NAME:
            return f"filter: unknown statistic {step.stat!r}; known: {', '.join(STAT_NAMES)}"
        stat = BY_NAME[step.stat]
        bounds = [b for b in (step.min, step.max) if b is not None]
        if not bounds:
            return f"filter({step.stat}): needs min or max"
        if any(not _number(b) or not stat.lo <= b <= stat.hi for b in bounds):
            return f"filter({step.stat}): thresholds must lie in [{stat.lo}, {stat.hi}]"
        if step.min is not None and step.max is not None and step.min >= step.max:
            return f"filter({step.stat}): min {step.min} >= max {step.max}"
    elif isinstance(step, Dedup):
        if step.unit not in UNITS:
            return f"dedup: unit must be one of {UNITS}"
    elif isinstance(step, NearDedup):
        if not _number(step.threshold) or not NEAR_RANGE[0] <= step.threshold <= NEAR_RANGE[1]:
            return f"minhash: threshold must lie in {list(NEAR_RANGE)}"
        if step.ngram not in NGRAMS or step.perms not in PERMS:
            return f"minhash: ngram in {NGRAMS}, perms in {PERMS}"
    elif isinstance(step, Quality):
        if not _number(step.keep) or not KEEP_RANGE[0] <= step.keep <= KEEP_RANGE[1]:
            return f"quality: keep must lie in {list(KEEP_RANGE)}"
        if step.features not in FEATURES or not isinstance(step.per_source, bool):
            return f"quality: features in {FEATURES}, per_source true|false"
    else:
        return f"unknown step {step!r}"
    return ""


def check(g: DataGenome, sources: tuple[str, ...]) -> CheckResult:
    if not isinstance(g, DataGenome):
        return CheckResult.failed(f"not a data genome: {type(g).__name__}")
    if len(g.steps) > MAX_STEPS:
        return CheckResult.failed(f"at most {MAX_STEPS} steps, got {len(g.steps)}")
    for step in g.steps:
        if reason := check_step(step, sources):
            return CheckResult.failed(reason)
    for source, w in g.mixture:
        if source not in sources:
            return CheckResult.failed(f"mixture: unknown source {source!r}; sources: {', '.join(sources)}")
        if not _number(w) or not 0.0 <= w <= MAX_WEIGHT:
            return CheckResult.failed(f"mixture: weight of {source} must lie in [0, {MAX_WEIGHT}]")
    if all(g.weight(s) == 0 for s in sources):
        return CheckResult.failed("mixture: every source has weight 0")
    if g.order not in ORDERS:
        return CheckResult.failed(f"order must be one of {ORDERS}")
    return CheckResult.passed()
