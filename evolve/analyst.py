"""The statistical analyst: testable hypotheses and a research agenda, without an LLM.

A hypothesis is a predicate over a domain's named genome features (`features(g)`), a
metric and a predicted direction: "arch genomes with has_data_dependent_decay == 1 have
higher perf". Evidence decides its status, never whoever proposed it:

- the effect is the difference of mean perf between genomes that satisfy the predicate and
  those that do not, with a percentile-bootstrap confidence interval (descriptive), Hedges' g
  and a two-sided Mann-Whitney p-value (the test statistic);
- hypotheses mined from the archive are judged only on genomes created AFTER they were
  proposed (no double dipping);
- a hypothesis is judged only at pre-set looks: when the smaller side of its fresh sample
  first reaches min_group * 2**k (k = 0 .. looks-1). Each look spends part of the error
  budget (alpha spending, `look_schedule`): its p-value is divided by the share of alpha that
  look spends, so the chance that a hypothesis without an effect is EVER rejected, over all its
  looks, is at most the FDR level (union bound);
- the hypotheses at a look in one cycle form one family: Benjamini-Hochberg (or
  Benjamini-Yekutieli) over their spent p-values controls the false discovery rate of the
  cycle's verdicts. A rejection is `supported` when the effect has the predicted sign and
  `refuted` when it has the other; no rejection at the final look is `retired`, as is a
  predicate that never splits the new genomes. Verdicts are final: a closed hypothesis is
  never looked at again (another look would be another chance of error).

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


def new_hypothesis(domain: str, predicate: Mapping[str, Any], direction: str, *, source: str, cycle: int,
                   evidence: Mapping[str, Any], metric: str = "perf") -> dict[str, Any]:
    """A hypotheses-table row for a freshly proposed hypothesis: active, untested (the one place its keys are
    spelled; the statistical miner and the LLM analyst both propose through it)."""
    return {"id": hypothesis_id(domain, predicate, metric), "domain": domain, "predicate": dict(predicate),
            "metric": metric, "direction": direction, "statement": statement(domain, predicate, metric, direction),
            "status": "active", "source": source, "effect": None, "ci_low": None, "ci_high": None, "p_value": None,
            "n_true": 0, "n_false": 0, "created_cycle": cycle, "updated_cycle": cycle, "evidence": dict(evidence)}


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


@dataclass(frozen=True)
class LookSchedule:
    """When hypotheses are judged and how much of the error budget each look may spend."""

    sizes: tuple[int, ...]    # the smaller group's size at each look
    spent: tuple[float, ...]  # cumulative share of alpha spent by each look (last = 1)

    def index(self, n_min: int) -> int:
        """The latest look a sample whose smaller group holds n_min genomes has reached (-1: none)."""
        return sum(n_min >= s for s in self.sizes) - 1


def look_schedule(min_group: int, looks: int = 4, rho: float = 1.0) -> LookSchedule:
    """Looks at n_min = min_group * 2**k; alpha spent by look k: (n_k / n_last) ** rho (power family;
    rho = 1 spends in proportion to the information, larger rho saves alpha for the last look)."""
    if looks < 1 or min_group < 1:
        raise ValueError(f"looks and min_group must be >= 1, got {looks} and {min_group}")
    sizes = tuple(int(min_group) * 2 ** k for k in range(int(looks)))
    return LookSchedule(sizes, tuple((s / sizes[-1]) ** float(rho) for s in sizes))


def fdr_reject(p_values: Sequence[float], level: float, method: str = "bh") -> np.ndarray:
    """Which of a family's hypotheses are rejected with the false discovery rate held at `level`
    (scipy's Benjamini-Hochberg `bh`, valid under independence or positive dependence, or
    Benjamini-Yekutieli `by`, valid under any dependence)."""
    p = np.clip(np.asarray(p_values, float), 0.0, 1.0)
    if p.size == 0:
        return np.zeros(0, bool)
    return stats.false_discovery_control(p, method=method) <= level


def judge_cycle(hypotheses: Sequence[Mapping[str, Any]], records: Sequence[GenomeRecord], cycle: int, *,
                min_group: int, confidence: float, n_resamples: int, looks: int = 4, fdr: float = 0.05,
                fdr_method: str = "bh", rho: float = 1.0) -> list[dict[str, Any]]:
    """Re-test every `active` hypothesis on the genomes created after it; the ones at a new look
    are judged together under FDR control (see module docstring). Returns the updated rows of
    the active hypotheses; closed ones are left as they are."""
    schedule = look_schedule(min_group, looks, rho)
    rows: list[dict[str, Any]] = []
    family: list[tuple[dict[str, Any], float, Evidence, int]] = []
    for h in hypotheses:
        if h["status"] != "active":
            continue
        fresh = [r for r in records if r.domain == h["domain"] and r.cycle > h["created_cycle"]]
        sides = [(satisfies(r.features, h["predicate"]), r.perf) for r in fresh]
        x = [p for s, p in sides if s is True]
        y = [p for s, p in sides if s is False]
        row = dict(h)
        row.update(updated_cycle=cycle, n_true=len(x), n_false=len(y), evidence=dict(h.get("evidence") or {}))
        rows.append(row)
        if min(len(x), len(y)) < 2:
            if len(fresh) >= schedule.sizes[-1]:
                row["status"] = "retired"  # the predicate no longer splits what the search produces
                row["evidence"]["closed"] = "the predicate does not split the new genomes"
            continue
        ev = compare_groups(x, y, confidence, n_resamples, seed=cycle)
        row.update(effect=ev.effect, ci_low=ev.ci_low, ci_high=ev.ci_high, p_value=ev.p_value)
        row["evidence"].update(hedges_g=ev.hedges_g, genomes_tested=len(x) + len(y), tested_cycle=cycle)
        k = schedule.index(min(len(x), len(y)))
        before = float(row["evidence"].get("alpha_spent", 0.0))
        if k < 0 or schedule.spent[k] <= before:
            continue  # between looks: the evidence is shown, nothing is judged
        share = schedule.spent[k] - before
        row["evidence"].update(look=k + 1, looks=len(schedule.sizes), alpha_spent=schedule.spent[k],
                               p_spent=min(1.0, ev.p_value / share))
        family.append((row, row["evidence"]["p_spent"], ev, k))
    rejected = fdr_reject([p for _, p, _, _ in family], fdr, fdr_method)
    for (row, _, ev, k), reject in zip(family, rejected):
        row["evidence"].update(fdr=fdr, fdr_method=fdr_method, family_size=len(family))
        if reject and ev.effect != 0.0:
            row["status"] = "supported" if (ev.effect > 0) == (row["direction"] == "higher") else "refuted"
        elif k == len(schedule.sizes) - 1:
            row["status"] = "retired"
            row["evidence"]["closed"] = "no effect found at the final look"
    return rows


def evaluate_hypothesis(h: Mapping[str, Any], records: Sequence[GenomeRecord], cycle: int, *,
                        min_group: int, confidence: float, n_resamples: int, looks: int = 4,
                        fdr: float = 0.05, fdr_method: str = "bh") -> dict[str, Any]:
    """One hypothesis judged as a family of its own (closed hypotheses come back unchanged)."""
    rows = judge_cycle([h], records, cycle, min_group=min_group, confidence=confidence,
                       n_resamples=n_resamples, looks=looks, fdr=fdr, fdr_method=fdr_method)
    return rows[0] if rows else dict(h)


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
        found.append((abs(ev.hedges_g), new_hypothesis(
            domain, predicate, direction, source="statistical", cycle=cycle,
            evidence={"exploratory": {"effect": ev.effect, "ci": [ev.ci_low, ev.ci_high],
                                      "hedges_g": ev.hedges_g, "n_true": ev.n_true, "n_false": ev.n_false}})))
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
