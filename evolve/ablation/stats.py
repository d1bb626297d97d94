"""The statistics of an ablation, as pure functions of plain numbers.

Why these choices: seeds per arm are few (3-10), so every comparison reports an effect size
with an interval, not just a verdict; the rank test (Mann-Whitney U) makes no normality
assumption; with several arms there are several pairs, so p-values are Holm-corrected
(step-down Bonferroni: controls the family-wise error, uniformly more powerful than plain
Bonferroni). Differences of means, their bootstrap intervals and Hedges' g come from the
analyst (`evolve.analyst.compare_groups`) so hypotheses and ablations share one definition.
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from evolve.analyst import compare_groups


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: p_(k) * (m - k + 1), made monotone, capped at 1."""
    p = np.asarray(pvalues, float)
    adjusted = np.empty(len(p))
    running = 0.0
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, (len(p) - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted.tolist()


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided Mann-Whitney p-value that n_a vs n_b runs can reach (perfect separation).

    With 3 seeds per arm it is 0.1: no pair can be significant at 0.05 however large the effect,
    which the report says rather than let a reader mistake "not significant" for "no effect".
    """
    if min(n_a, n_b) < 1:
        return 1.0
    return float(stats.mannwhitneyu(np.arange(n_a), np.arange(n_a, n_a + n_b), alternative="two-sided").pvalue)


def step_values(curve: Sequence[Sequence[float]], grid: Sequence[float]) -> np.ndarray:
    """A (evaluations, hypervolume) history read as a step function at each grid point (0 before the first)."""
    pts = sorted((float(x), float(y)) for x, y in curve)
    xs = np.array([x for x, _ in pts])
    ys = np.array([y for _, y in pts])
    idx = np.searchsorted(xs, np.asarray(grid, float), side="right") - 1
    return np.where(idx >= 0, ys[np.clip(idx, 0, None)] if len(ys) else 0.0, 0.0)


def mean_band(values: np.ndarray, confidence: float, n_resamples: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Mean over runs (rows) at each column, with a percentile-bootstrap interval of that mean.

    Columns where every run agrees (or a single run) get a zero-width band.
    """
    values = np.atleast_2d(np.asarray(values, float))
    mean = values.mean(axis=0)
    lo, hi = mean.copy(), mean.copy()
    varies = np.ptp(values, axis=0) > 0
    if values.shape[0] >= 2 and varies.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((values[:, varies],), np.mean, axis=0, vectorized=True, method="percentile",
                                  n_resamples=n_resamples, confidence_level=confidence,
                                  rng=np.random.default_rng(seed))
        low, high = res.confidence_interval.low, res.confidence_interval.high
        lo[varies] = np.where(np.isnan(low), mean[varies], low)
        hi[varies] = np.where(np.isnan(high), mean[varies], high)
    return mean, lo, hi


def pairwise(final: Mapping[str, Sequence[float]], confidence: float, n_resamples: int,
             seed: int = 0) -> list[dict[str, Any]]:
    """Every pair of arms: difference of mean final hypervolume (a - b) with a bootstrap CI, Hedges' g,
    the two-sided Mann-Whitney p-value and its Holm correction over all pairs."""
    alpha = 1.0 - confidence
    rows = []
    for a, b in itertools.combinations(list(final), 2):
        x, y = list(final[a]), list(final[b])
        row: dict[str, Any] = {"a": a, "b": b, "n_a": len(x), "n_b": len(y),
                               "mean_a": _mean(x), "mean_b": _mean(y), "smallest_p": smallest_p(len(x), len(y))}
        if min(len(x), len(y)) < 2:
            row.update(diff=row["mean_a"] - row["mean_b"] if x and y else None, ci_low=None, ci_high=None,
                       hedges_g=None, p_value=None, note="fewer than 2 runs in an arm: no test")
        else:
            ev = compare_groups(x, y, confidence, n_resamples, seed)
            row.update(diff=ev.effect, ci_low=ev.ci_low, ci_high=ev.ci_high,
                       hedges_g=ev.hedges_g if math.isfinite(ev.hedges_g) else None, p_value=ev.p_value)
        rows.append(row)
    tested = [r for r in rows if r["p_value"] is not None]
    for r, p in zip(tested, holm([r["p_value"] for r in tested])):
        r["p_holm"] = p
        r["significant"] = p < alpha
        r["ci_excludes_zero"] = r["ci_low"] > 0 or r["ci_high"] < 0
        r["verdict"] = verdict(r, alpha)
    for r in rows:
        r.setdefault("p_holm", None)
        r.setdefault("significant", False)
        r.setdefault("ci_excludes_zero", False)
        r.setdefault("verdict", r.get("note", ""))
    return rows


def verdict(row: Mapping[str, Any], alpha: float) -> str:
    """A one-line reading of a pairwise row that never claims more than the numbers carry."""
    better = row["a"] if row["diff"] > 0 else row["b"]
    if row["significant"]:
        return f"{better} higher (Holm p < {alpha:g})"
    if row["ci_excludes_zero"]:
        return f"{better} higher by the bootstrap CI, not significant after Holm"
    if row["smallest_p"] >= alpha:
        return f"no detectable difference (with these seeds p cannot go below {row['smallest_p']:.3g})"
    return "no detectable difference"


def evaluations_to_target(curve: Sequence[Sequence[float]], target: float) -> float | None:
    """Evaluations recorded when the hypervolume first reached `target` (None if it never did)."""
    for x, y in sorted((float(x), float(y)) for x, y in curve):
        if y >= target:
            return x
    return None


def default_target(finals: Sequence[float]) -> float:
    """The median final hypervolume over every run of every arm: about half the runs reach it, so
    "how many evaluations to get there, and how often" separates the arms."""
    return float(np.median(finals)) if len(finals) else 0.0


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


# ---------------------------------------------------------------- rediscovery: time to first hit
# A run that never hit its target is right-censored at the evaluations it recorded (it might have hit
# later), so the median time to a hit is the Kaplan-Meier median, not the median of the hits alone
# (which would flatter an arm that rarely hits).
def km_survival(times: Sequence[float], hit: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of P(no hit after t evaluations): the step times and S(t) just after each."""
    t, h = np.asarray(times, float), np.asarray(hit, bool)
    if not h.any():  # nothing ever hit: S stays at 1 (scipy's ecdf needs no special case, we want no steps)
        return np.sort(np.unique(t)), np.ones(len(np.unique(t)))
    sf = stats.ecdf(stats.CensoredData(uncensored=t[h], right=t[~h])).sf
    return np.asarray(sf.quantiles, float), np.asarray(sf.probabilities, float)


def km_median(times: Sequence[float], hit: Sequence[bool]) -> float:
    """Evaluations by which half the runs are estimated to have hit: the first t with S(t) <= 0.5
    (inf when the curve never gets there: fewer than half the runs hit within their budgets)."""
    if not len(times):
        return math.inf
    t, s = km_survival(times, hit)
    below = np.flatnonzero(s <= 0.5 + 1e-12)
    return float(t[below[0]]) if len(below) else math.inf


def km_median_ci(times: Sequence[float], hit: Sequence[bool], confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the KM median, resampling runs; an end may be inf ("not reached")."""
    t, h = np.asarray(times, float), np.asarray(hit, bool)
    if len(t) < 2:
        m = km_median(t, h)
        return m, m
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(t), size=(n_resamples, len(t)))
    meds = np.array([km_median(t[i], h[i]) for i in idx])
    alpha = 1.0 - confidence
    lo, hi = np.quantile(meds, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")  # actual values: inf-safe
    return float(lo), float(hi)


def hit_rate(hits: int, runs: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Share of runs that hit, with its exact (Clopper-Pearson) interval."""
    if runs <= 0:
        return math.nan, math.nan, math.nan
    ci = stats.binomtest(int(hits), int(runs)).proportion_ci(confidence_level=confidence, method="exact")
    return hits / runs, float(ci.low), float(ci.high)


def logrank_p(times_a: Sequence[float], hit_a: Sequence[bool], times_b: Sequence[float],
              hit_b: Sequence[bool]) -> float | None:
    """Two-sided log-rank p-value for equal time-to-hit curves (None when neither arm ever hit)."""
    ta, ha, tb, hb = (np.asarray(x, float) for x in (times_a, hit_a, times_b, hit_b))
    ha, hb = ha.astype(bool), hb.astype(bool)
    if not (ha.any() or hb.any()) or min(len(ta), len(tb)) < 1:
        return None
    res = stats.logrank(stats.CensoredData(uncensored=ta[ha], right=ta[~ha]),
                        stats.CensoredData(uncensored=tb[hb], right=tb[~hb]))
    return float(res.pvalue)
