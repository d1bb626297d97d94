"""The one unit of gain every domain's perf is stated in.

A domain's `normalise(score, reference_score)` returns its raw gain: score minus the reference
genome's score, with the same partners at the same stage and seed, in the domain's own units
(nats per byte, normalised return...). Raw gains of different domains cannot be pooled, ranked
together or compared per device-hour: a domain with wider scores would win by its units.

The campaign divides each domain's raw gains by that domain's **design spread**: the robust
standard deviation (1.4826 x median absolute deviation) of the raw isolated-stage gains of the
genomes the campaign starts from (cycle 0: the baselines, the reference among them at 0, and the
random samples). So perf = 1 means "better than the reference by as much as known designs of this
domain typically differ", in every domain; the reference is at 0 at every stage; the unit is fixed
once cycle 0's isolated stage is measured (later perfs never change meaning); and multiplying a
domain's scores by any positive constant changes nothing downstream. This is the ideal/nadir-style
objective normalisation of NSGA-III, made robust to a broken random sample. Why this unit and not
the reference's seed-to-seed spread or a relative gain: docs/selection.md (measured).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

MIN_GENOMES = 3  # fewer cycle-0 genomes than this: the spread is not estimated (fallback below)


@dataclass(frozen=True)
class Unit:
    value: float  # raw-gain units per unit of perf
    source: str   # "design spread (n genomes)", or why a fallback was used

    def perf(self, raw_gain: float) -> float:
        return float(raw_gain) / self.value


def design_spread(raw_gains: Sequence[float]) -> float | None:
    """Robust spread of raw gains: 1.4826 MAD, or the sample sd when over half are equal; None if zero/too few."""
    x = np.asarray([g for g in raw_gains if g is not None and math.isfinite(g)], float)
    if x.size < MIN_GENOMES:
        return None
    mad = float(stats.median_abs_deviation(x, scale="normal"))
    if mad > 0.0:
        return mad
    sd = float(x.std(ddof=1))
    return sd if sd > 0.0 else None


def unit_of(raw_gains: Sequence[float], reference_scores: Sequence[float] = ()) -> Unit:
    """The domain's unit: its design spread; without one, |reference score| (a relative gain); else 1."""
    spread = design_spread(raw_gains)
    if spread is not None:
        return Unit(spread, f"design spread ({len([g for g in raw_gains if g is not None])} genomes)")
    ref = [abs(s) for s in reference_scores if s is not None and math.isfinite(s) and s != 0.0]
    if ref:
        return Unit(float(np.mean(ref)), "relative to the reference score (no design spread yet)")
    return Unit(1.0, "raw score units (no design spread and no reference score yet)")
