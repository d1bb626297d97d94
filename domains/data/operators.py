"""GP operators on curation genomes: pure functions of (genome, rng) returning new genomes.

Thresholds move in a normalised space (the statistic's typical range, log-scaled where the statistic is),
so one mutation scale suits every statistic. Structural mutations insert, delete or swap steps; crossover
splices two pipelines at random cut points and mixes the source weights gene by gene.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from domains.data.genome import (FEATURES, KEEP_RANGE, MAX_STEPS, MAX_WEIGHT, NEAR_RANGE, NGRAMS, ORDERS, PERMS,
                                 UNITS, DataGenome, Dedup, Filter, NearDedup, Quality, Step, canonical_mixture)
from domains.data.stats import BY_NAME, STAT_NAMES, Stat

SIGMA = 0.15  # mutation step in the normalised threshold space


def _round(x: float, digits: int = 3) -> float:
    """Three significant digits: thresholds stay readable in the text form."""
    return 0.0 if x == 0 else float(f"{x:.{digits}g}")


def to_unit(stat: Stat, value: float) -> float:
    lo, hi = stat.typical
    if stat.log:
        lo, hi, value = math.log(max(lo, 1e-9)), math.log(hi), math.log(max(value, 1e-9))
    return (value - lo) / (hi - lo)


def from_unit(stat: Stat, u: float) -> float:
    lo, hi = stat.typical
    if stat.log:
        value = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    else:
        value = lo + u * (hi - lo)
    return _round(min(stat.hi, max(stat.lo, value)))


def _pick_sources(sources: tuple[str, ...], rng: np.random.Generator) -> tuple[str, ...]:
    """Usually every source; sometimes a random non-empty proper subset."""
    if rng.random() < 0.7 or len(sources) < 2:
        return ()
    k = int(rng.integers(1, len(sources)))
    return tuple(sorted(str(s) for s in rng.choice(sources, size=k, replace=False)))


def random_filter(rng: np.random.Generator, sources: tuple[str, ...], stat: str | None = None) -> Filter:
    s = BY_NAME[stat or str(rng.choice(STAT_NAMES))]
    side = rng.choice(["min", "max", "both"], p=[0.4, 0.4, 0.2])
    lo = from_unit(s, rng.uniform(0.0, 0.5)) if side in ("min", "both") else None
    hi = from_unit(s, rng.uniform(0.5, 1.0)) if side in ("max", "both") else None
    if lo is not None and hi is not None and lo >= hi:
        hi = None
    return Filter(s.name, lo, hi, _pick_sources(sources, rng))


def random_step(rng: np.random.Generator, sources: tuple[str, ...]) -> Step:
    kind = rng.choice(["filter", "dedup", "minhash", "quality"], p=[0.55, 0.12, 0.15, 0.18])
    if kind == "filter":
        return random_filter(rng, sources)
    if kind == "dedup":
        return Dedup(str(rng.choice(UNITS)))
    if kind == "minhash":
        return NearDedup(_round(rng.uniform(0.5, 0.95), 2), int(rng.choice(NGRAMS[2:])), int(rng.choice(PERMS)))
    return Quality(_round(rng.uniform(0.2, 0.9), 2), str(rng.choice(FEATURES)), bool(rng.random() < 0.7),
                   _pick_sources(sources, rng))


def sample(rng: np.random.Generator, sources: tuple[str, ...]) -> DataGenome:
    steps = tuple(random_step(rng, sources) for _ in range(int(rng.integers(1, 5))))
    mixture = {}
    if rng.random() < 0.3:
        mixture = {str(s): _round(float(np.exp(rng.normal(0, 0.5))), 2) for s in sources}
    return DataGenome(steps, canonical_mixture(mixture), str(rng.choice(ORDERS, p=[0.8, 0.2])))


# --- mutation ----------------------------------------------------------------------------------------


def _nudge(x: float, lo: float, hi: float, rng: np.random.Generator, digits: int = 3) -> float:
    return _round(float(np.clip(x + rng.normal(0, SIGMA) * (hi - lo), lo, hi)), digits)


def tweak_step(step: Step, rng: np.random.Generator, sources: tuple[str, ...]) -> Step:
    """Move one numeric or categorical gene of a step."""
    if isinstance(step, Filter):
        choice = rng.integers(4)
        if choice == 0:  # move a bound
            stat = BY_NAME[step.stat]
            names = [k for k in ("min", "max") if getattr(step, k) is not None]
            name = str(rng.choice(names))
            value = from_unit(stat, to_unit(stat, getattr(step, name)) + rng.normal(0, SIGMA))
            new = replace(step, **{name: value})
            return new if new.min is None or new.max is None or new.min < new.max else step
        if choice == 1:  # another filter in the same scope
            fresh = random_filter(rng, sources)
            return replace(fresh, on=step.on)
        if choice == 2:  # open or close a side
            fresh = random_filter(rng, sources, stat=step.stat)
            return replace(fresh, on=step.on)
        return replace(step, on=_pick_sources(sources, rng))
    if isinstance(step, Dedup):
        return Dedup("para" if step.unit == "doc" else "doc")
    if isinstance(step, NearDedup):
        choice = rng.integers(3)
        if choice == 0:
            return replace(step, threshold=_nudge(step.threshold, *NEAR_RANGE, rng, 2))
        if choice == 1:
            return replace(step, ngram=int(rng.choice(NGRAMS)))
        return replace(step, perms=int(rng.choice(PERMS)))
    choice = rng.integers(4)
    if choice == 0:
        return replace(step, keep=_nudge(step.keep, *KEEP_RANGE, rng, 2))
    if choice == 1:
        return replace(step, features=str(rng.choice([f for f in FEATURES if f != step.features])))
    if choice == 2:
        return replace(step, per_source=not step.per_source)
    return replace(step, on=_pick_sources(sources, rng))


def mutate(g: DataGenome, rng: np.random.Generator, sources: tuple[str, ...]) -> DataGenome:
    steps = list(g.steps)
    moves = ["tweak", "tweak", "insert", "delete", "swap", "mixture", "order"]
    for _ in range(20):  # retry moves that cannot apply (e.g. delete on an empty pipeline)
        move = str(rng.choice(moves))
        if move == "tweak" and steps:
            i = int(rng.integers(len(steps)))
            steps[i] = tweak_step(steps[i], rng, sources)
        elif move == "insert" and len(steps) < MAX_STEPS:
            steps.insert(int(rng.integers(len(steps) + 1)), random_step(rng, sources))
        elif move == "delete" and steps:
            del steps[int(rng.integers(len(steps)))]
        elif move == "swap" and len(steps) >= 2:
            i = int(rng.integers(len(steps) - 1))
            steps[i], steps[i + 1] = steps[i + 1], steps[i]
        elif move == "mixture":
            weights = {s: g.weight(s) for s in sources}
            s = str(rng.choice(sources))
            r = rng.random()
            weights[s] = 0.0 if r < 0.1 else 1.0 if r < 0.25 else _round(
                float(np.clip(max(weights[s], 0.05) * np.exp(rng.normal(0, 0.5)), 0.0, MAX_WEIGHT)), 2)
            if not any(w > 0 for w in weights.values()):
                continue
            new = DataGenome(tuple(steps), canonical_mixture(weights), g.order)
            if new != g:
                return new
            continue
        elif move == "order":
            return DataGenome(tuple(steps), g.mixture, "quality" if g.order == "shuffle" else "shuffle")
        else:
            continue
        new = DataGenome(tuple(steps), g.mixture, g.order)
        if new != g:
            return new
        steps = list(g.steps)
    return DataGenome(g.steps, g.mixture, "quality" if g.order == "shuffle" else "shuffle")


def crossover(a: DataGenome, b: DataGenome, rng: np.random.Generator, sources: tuple[str, ...]) -> DataGenome:
    i = int(rng.integers(len(a.steps) + 1))
    j = int(rng.integers(len(b.steps) + 1))
    steps = (a.steps[:i] + b.steps[j:])[:MAX_STEPS]
    weights = {s: (a if rng.random() < 0.5 else b).weight(s) for s in sources}
    if not any(w > 0 for w in weights.values()):
        weights = {s: a.weight(s) for s in sources}
    return DataGenome(steps, canonical_mixture(weights), (a if rng.random() < 0.5 else b).order)
