"""Coupling between two domains, measured by a 2x2 factorial.

A triple (a, r, d) at the cross or full stage is re-evaluated with each member of a coupled pair
(a x d, a x r) swapped for its domain's reference genome, the third member held fixed. The four
cells (candidate or reference in domain A) x (candidate or reference in domain B), at the same
stage and seeds, give for a response (one domain's gain):

  main effect of A   = mean over B's levels of [y(A=cand) - y(A=ref)]  = (y11 + y10 - y01 - y00) / 2
  main effect of B   = (y11 + y01 - y10 - y00) / 2
  interaction        = (y11 - y01) - (y10 - y00): how much more A's change gains when B's is made too
                       (> 0 synergy, < 0 the changes get in each other's way)

Units are (triple, seed) pairs with all four cells measured; the interval is a percentile bootstrap
over units. Which pairs are coupled is configuration (`analysis.coupling_pairs`, set by
+domain=all to a x d and a x r). Everything here is pure; the campaign gathers the cells.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

# (level of A, level of B): 1 = the triple's own genome, 0 = the domain's reference genome
CELLS: tuple[tuple[int, int], ...] = ((1, 1), (1, 0), (0, 1), (0, 0))


@dataclass(frozen=True)
class Effect:
    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Factorial:
    pair: tuple[str, str]
    response: str  # the domain whose gain is the response
    n: int         # units (triple, seed) with all four cells
    main_a: Effect
    main_b: Effect
    interaction: Effect

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pair": list(self.pair)}


def contrasts(y: np.ndarray) -> np.ndarray:
    """(n, 2, 2) responses y[unit, level_a, level_b] -> (n, 3): main A, main B, interaction per unit."""
    y = np.asarray(y, float)
    y11, y10, y01, y00 = y[:, 1, 1], y[:, 1, 0], y[:, 0, 1], y[:, 0, 0]
    return np.stack([(y11 + y10 - y01 - y00) / 2.0, (y11 + y01 - y10 - y00) / 2.0, (y11 - y01) - (y10 - y00)],
                    axis=-1)


def factorial(pair: tuple[str, str], response: str, y: np.ndarray, *, confidence: float = 0.95,
              n_resamples: int = 2000, seed: int = 0) -> Factorial:
    """Effects averaged over units, each with a percentile-bootstrap interval (nan with a single unit)."""
    c = contrasts(np.asarray(y, float).reshape(-1, 2, 2))
    n = len(c)
    if n == 0:
        nan = Effect(math.nan, math.nan, math.nan)
        return Factorial(tuple(pair), response, 0, nan, nan, nan)
    est = c.mean(axis=0)
    if n == 1 or np.ptp(c, axis=0).max() == 0.0:
        lo = hi = est if n > 1 else np.full(3, math.nan)
    else:
        idx = np.random.default_rng(seed).integers(0, n, size=(int(n_resamples), n))
        boot = c[idx].mean(axis=1)  # (B, 3)
        tail = (1.0 - confidence) / 2.0 * 100.0
        lo, hi = np.percentile(boot, [tail, 100.0 - tail], axis=0)
    eff = [Effect(float(e), float(a), float(b)) for e, a, b in zip(est, lo, hi)]
    return Factorial(tuple(pair), response, n, *eff)


def swap(triple: Mapping[str, str], reference: Mapping[str, str], levels: Mapping[str, int]) -> dict[str, str]:
    """The triple with every domain whose level is 0 set to its reference genome."""
    return {d: (g if levels.get(d, 1) else reference[d]) for d, g in triple.items()}


def cell_triples(triple: Mapping[str, str], reference: Mapping[str, str],
                 pair: Sequence[str]) -> dict[tuple[int, int], dict[str, str]]:
    """The four triples of the factorial of `pair` around `triple` (cell (1, 1) is the triple itself)."""
    a, b = pair
    return {(la, lb): swap(triple, reference, {a: la, b: lb}) for la, lb in CELLS}


def informative(triple: Mapping[str, str], reference: Mapping[str, str], pair: Sequence[str]) -> bool:
    """A factorial measures something only when the triple differs from the reference in both domains."""
    return all(d in triple and triple[d] != reference[d] for d in pair)
