"""Proxy fidelity: does a cheap stage rank genomes the way the full stage does?

The cascade promotes on isolated-stage (short, one-domain) results and trusts that the order holds
at the full budget (RegMix's "rank invariance"). This measures it: Spearman's rank correlation
between the perf of the same genomes at two stages, with a percentile-bootstrap interval over
genomes, so a campaign reports how far its promotions can be trusted instead of assuming it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats

LOW = 0.5  # a rank correlation below this is called low in the report
MIN_GENOMES = 5  # below this a percentile bootstrap collapses (3 monotone genomes give [1, 1]): no verdict


@dataclass(frozen=True)
class Fidelity:
    n: int           # genomes measured at both stages
    rho: float       # Spearman's rank correlation (nan: fewer than 3 genomes or a constant side)
    ci_low: float    # percentile-bootstrap interval over genomes (nan where undefined)
    ci_high: float
    p_value: float   # two-sided, no correlation: exact permutation test over pairings (Monte Carlo past 7 genomes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rank_rows(a: np.ndarray) -> np.ndarray:
    return stats.rankdata(a, axis=-1)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman per row of (B, n) arrays: Pearson on average ranks (ties handled); nan for a constant row."""
    rx, ry = _rank_rows(x), _rank_rows(y)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def rank_fidelity(low: Sequence[float], high: Sequence[float], *, confidence: float = 0.95,
                  n_resamples: int = 2000, seed: int = 0) -> Fidelity:
    """Spearman between paired perfs of the same genomes at a cheap (`low`) and a dearer (`high`) stage.

    The interval resamples genomes with replacement; resamples whose ranks are constant on a side
    (possible with few genomes) carry no rank information and are left out.
    """
    x, y = np.asarray(low, float), np.asarray(high, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired 1-d perfs expected, got shapes {x.shape} and {y.shape}")
    n = int(x.size)
    nan = math.nan
    if n < 3 or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        return Fidelity(n, nan, nan, nan, nan)
    rho = float(stats.spearmanr(x, y).statistic)
    # spearmanr's t-approximation says p = 0 for a perfect order of 3 genomes; the exact test says 1/3
    perm = stats.permutation_test((x, y), lambda a, b, axis: _spearman_rows(np.moveaxis(a, axis, -1),
                                                                             np.moveaxis(b, axis, -1)), vectorized=True,
                                  permutation_type="pairings", n_resamples=9999, alternative="two-sided",
                                  random_state=seed)
    p = float(perm.pvalue)
    idx = np.random.default_rng(seed).integers(0, n, size=(int(n_resamples), n))
    boot = _spearman_rows(x[idx], y[idx])
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return Fidelity(n, rho, nan, nan, p)
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(boot, [tail, 100.0 - tail])
    return Fidelity(n, rho, float(lo), float(hi), p)


def describe(name: str, pair: str, f: Fidelity | dict[str, Any]) -> str:
    """One sentence for the report: what the fidelity means for trusting promotions."""
    f = f if isinstance(f, Fidelity) else Fidelity(**{k: f[k] for k in Fidelity.__dataclass_fields__})
    if f.n < 3 or not math.isfinite(f.rho):
        return f"{name}, {pair}: not measurable yet ({f.n} genomes at both stages; 3 needed, with distinct perfs)."
    ci = (f"95% CI [{f.ci_low:.2f}, {f.ci_high:.2f}]" if math.isfinite(f.ci_low) else "no interval")
    head = f"{name}, {pair}: Spearman {f.rho:.2f} ({ci}, {f.n} genomes)"
    if f.n < MIN_GENOMES:
        return (f"{name}, {pair}: Spearman {f.rho:.2f} from {f.n} genomes, too few to judge (exact permutation "
                f"p = {f.p_value:.2f}; the bootstrap interval is not meaningful below {MIN_GENOMES} genomes).")
    if f.rho < LOW:
        return (f"{head}. LOW: the cheaper stage ranks these genomes differently from the dearer one, so "
                f"promotions from it are close to guesses in this domain; give the cheap stage more budget "
                f"or promote more candidates.")
    if math.isfinite(f.ci_low) and f.ci_low < LOW:
        return f"{head}: the ranking mostly holds, but the interval still allows low fidelity (few genomes)."
    return f"{head}: the cheaper stage's ranking holds at the dearer one."
