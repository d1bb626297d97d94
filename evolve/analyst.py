"""The statistical analyst: testable hypotheses and a research agenda, without an LLM.

A hypothesis is a predicate over a domain's named genome features (`features(g)`), a
metric and a predicted direction: "arch genomes with has_data_dependent_decay == 1 have
higher perf". Evidence decides its status, never whoever proposed it:

- the effect is the difference of mean perf between genomes that satisfy the predicate and
  those that do not, with a percentile-bootstrap confidence interval, Hedges' g and a
  two-sided Mann-Whitney p-value;
- hypotheses mined from the archive are judged only on genomes created AFTER they were
  proposed (no double dipping); until both groups hold `min_group` such genomes they stay
  `active`;
- `supported` when the interval excludes 0 in the predicted direction, `refuted` when it
  excludes 0 in the other, `retired` when plenty of evidence shows no effect (|g| < 0.2,
  interval covering 0) or when the predicate never splits the new genomes.

The agenda shares the next cycle's proposals between domains in proportion to the
progress each made recently per device-second, with a floor so no domain starves.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

OPS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal}


@dataclass(frozen=True)
class GenomeRecord:
    """One genome as the analyst sees it: its features, its measured perf, when it appeared."""

    gid: str
    domain: str
    features: dict[str, float]
    perf: float
    cycle: int


@dataclass(frozen=True)
class Evidence:
    n_true: int
    n_false: int
    effect: float          # mean(perf | predicate) - mean(perf | not predicate)
    ci_low: float
    ci_high: float
    hedges_g: float
    p_value: float


def hypothesis_id(domain: str, predicate: Mapping[str, Any], metric: str) -> str:
    key = json.dumps([domain, dict(predicate), metric], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def statement(domain: str, predicate: Mapping[str, Any], metric: str, direction: str) -> str:
    return (f"{domain} genomes with {predicate['feature']} {predicate['op']} {predicate['value']:g} "
            f"have {direction} {metric}")


def satisfies(features: Mapping[str, float], predicate: Mapping[str, Any]) -> bool | None:
    """None when the feature is unknown for this genome (it then counts on neither side)."""
    if predicate["feature"] not in features:
        return None
    op = OPS.get(predicate["op"])
    if op is None:
        raise ValueError(f"unknown predicate operator {predicate['op']!r}; allowed: {sorted(OPS)}")
    return bool(op(float(features[predicate["feature"]]), float(predicate["value"])))


def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    nx, ny = len(x), len(y)
    if nx < 2 or ny < 2:
        return 0.0
    pooled = math.sqrt(((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2))
    if pooled == 0.0:
        return 0.0 if x.mean() == y.mean() else math.copysign(math.inf, x.mean() - y.mean())
    correction = 1.0 - 3.0 / (4.0 * (nx + ny) - 9.0)
    return float((x.mean() - y.mean()) / pooled * correction)


def compare_groups(x: Sequence[float], y: Sequence[float], confidence: float, n_resamples: int,
                    seed: int) -> Evidence:
    """Effect of the predicate: mean(x) - mean(y) with a bootstrap CI, Hedges' g and Mann-Whitney p."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    effect = float(x.mean() - y.mean())
    if np.ptp(np.concatenate([x, y])) == 0.0:
        lo = hi = effect
    else:
        res = stats.bootstrap((x, y), lambda a, b, axis=-1: a.mean(axis=axis) - b.mean(axis=axis),
                              n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                              vectorized=True, rng=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    p = float(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue) if np.ptp(np.concatenate([x, y])) else 1.0
    return Evidence(len(x), len(y), effect, lo, hi, hedges_g(x, y), p)


def judge(evidence: Evidence | None, direction: str, min_group: int) -> str:
    """The status that the evidence supports (see module docstring)."""
    if evidence is None or min(evidence.n_true, evidence.n_false) < min_group:
        return "active"
    sign = 1.0 if direction == "higher" else -1.0
    lo, hi = sorted((sign * evidence.ci_low, sign * evidence.ci_high))
    if lo > 0:
        return "supported"
    if hi < 0:
        return "refuted"
    if min(evidence.n_true, evidence.n_false) >= 4 * min_group and abs(evidence.hedges_g) < 0.2:
        return "retired"
    return "active"


def evaluate_hypothesis(h: Mapping[str, Any], records: Sequence[GenomeRecord], cycle: int, *,
                        min_group: int, confidence: float, n_resamples: int) -> dict[str, Any]:
    """Re-test a stored hypothesis on the genomes created after it; returns the updated row."""
    fresh = [r for r in records if r.domain == h["domain"] and r.cycle > h["created_cycle"]]
    sides = [(satisfies(r.features, h["predicate"]), r.perf) for r in fresh]
    x = [p for s, p in sides if s is True]
    y = [p for s, p in sides if s is False]
    ev = compare_groups(x, y, confidence, n_resamples, seed=cycle) if min(len(x), len(y)) >= 2 else None
    status = judge(ev, h["direction"], min_group)
    if ev is None and len(fresh) >= 4 * min_group:
        status = "retired"  # the predicate no longer splits what the search produces
    if h["status"] in ("supported", "refuted", "retired") and status == "active":
        status = h["status"]  # a verdict stands until evidence overturns it
    out = dict(h)
    out.update(status=status, updated_cycle=cycle, n_true=len(x), n_false=len(y))
    if ev is not None:
        out.update(effect=ev.effect, ci_low=ev.ci_low, ci_high=ev.ci_high, p_value=ev.p_value,
                   evidence={**dict(h.get("evidence") or {}), "hedges_g": ev.hedges_g,
                             "genomes_tested": len(x) + len(y), "tested_cycle": cycle})
    return out


def mine_hypotheses(records: Sequence[GenomeRecord], domain: str, cycle: int, existing: set[str], *,
                    limit: int, min_group: int, confidence: float, n_resamples: int) -> list[dict[str, Any]]:
    """Propose new hypotheses from the archive so far: the feature splits with the largest effects.

    The exploratory effect that motivated a hypothesis is kept as evidence['exploratory'];
    its status is decided later on fresh genomes only.
    """
    rows = [r for r in records if r.domain == domain]
    if len(rows) < 2 * min_group:
        return []
    names = sorted({k for r in rows for k in r.features})
    found = []
    for name in names:
        values = np.array([r.features.get(name, np.nan) for r in rows], float)
        known = ~np.isnan(values)
        uniq = np.unique(values[known])
        if len(uniq) < 2:
            continue
        if set(uniq.tolist()) <= {0.0, 1.0}:
            predicate = {"feature": name, "op": "==", "value": 1.0}
        else:
            predicate = {"feature": name, "op": ">", "value": float(np.median(values[known]))}
        perf = np.array([r.perf for r in rows], float)
        side = OPS[predicate["op"]](values, predicate["value"])
        x, y = perf[known & side], perf[known & ~side]
        if min(len(x), len(y)) < max(2, min_group):
            continue
        ev = compare_groups(x, y, confidence, n_resamples, seed=cycle)
        hid = hypothesis_id(domain, predicate, "perf")
        if hid in existing:
            continue
        direction = "higher" if ev.effect >= 0 else "lower"
        found.append((abs(ev.hedges_g), {
            "id": hid, "domain": domain, "predicate": predicate, "metric": "perf", "direction": direction,
            "statement": statement(domain, predicate, "perf", direction), "status": "active",
            "source": "statistical", "effect": None, "ci_low": None, "ci_high": None, "p_value": None,
            "n_true": 0, "n_false": 0, "created_cycle": cycle, "updated_cycle": cycle,
            "evidence": {"exploratory": {"effect": ev.effect, "ci": [ev.ci_low, ev.ci_high],
                                         "hedges_g": ev.hedges_g, "n_true": ev.n_true, "n_false": ev.n_false}},
        }))
    found.sort(key=lambda t: -t[0] if math.isfinite(t[0]) else -1e9)
    return [h for _, h in found[:limit]]


def agenda(progress: Mapping[str, float], floor: float) -> list[dict[str, Any]]:
    """Shares of the next cycle's proposals: proportional to recent progress, never below `floor`."""
    names = list(progress)
    if not names:
        return []
    floor = min(floor, 1.0 / len(names))
    gains = {d: max(0.0, float(progress[d])) if math.isfinite(progress[d]) else 0.0 for d in names}
    total = sum(gains.values())
    free = 1.0 - floor * len(names)
    out = []
    for d in names:
        share = floor + (free * gains[d] / total if total > 0 else free / len(names))
        reason = (f"recent progress {gains[d]:.4g} perf per device-hour" if total > 0
                  else "no measured progress yet: equal shares")
        out.append({"domain": d, "share": share, "progress": float(progress[d]), "reason": reason})
    return out


def split_proposals(shares: Mapping[str, float], n: int, rng: np.random.Generator) -> dict[str, int]:
    """Integer proposal counts per domain that follow the shares (largest remainder, random ties)."""
    names = list(shares)
    raw = np.array([shares[d] for d in names], float) * n
    counts = np.floor(raw).astype(int)
    rest = n - counts.sum()
    order = np.lexsort((rng.random(len(names)), -(raw - counts)))
    for i in order[:rest]:
        counts[i] += 1
    return {d: int(c) for d, c in zip(names, counts)}
