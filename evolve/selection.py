"""NSGA-II selection on top of pymoo: Pareto ranks, crowding, survival, tournaments, hypervolume.

Every objective matrix `F` has shape (n, m) and is MINIMISED; the campaign builds it with
`objectives(perf, cost, novelty)` = (-perf, cost, -novelty). The functions are pure (numpy in,
numpy out) and take an explicit `np.random.Generator` wherever chance breaks ties, so a campaign
replays exactly from its seed.

We call pymoo's pieces (moocore's `pareto_rank` behind `NonDominatedSorting`, the NSGA-II
crowding function, `randomized_argsort`, moocore's hypervolume) rather than its `Population`
objects: a Python object per individual costs ~1 s per 100k candidates, the arrays cost nothing.
`survive` is exactly pymoo's `RankAndCrowding` survival (a test checks index equality for the same
seed).

Scale: sorting the whole archive is cheap (3 objectives, 100k uniform-random candidates, ~100
fronts: ranks 0.13-0.26 s, crowding ~0.09 s, survive ~0.26 s on a busy 2-core machine; see
bench/bench_engine.py and docs/BENCHMARKS.md), so the engine may rank the full archive each cycle. If an archive ever outgrows that (millions, or many objectives, where non-dominated
sorting tends to O(m n^2)), the remedy is to rank only what selection needs: the current
stage's population plus a bounded elite (`survive(F_elite ∪ F_new, n)`), while novelty still looks
at the full archive through a KD-tree (see evolve/novelty.py). The cost is that a candidate outside
the elite cannot re-enter selection, which NSGA-II's elitism already assumes.
"""
from __future__ import annotations

import numpy as np
from moocore import hypervolume as _moocore_hypervolume
from pymoo.operators.survival.rank_and_crowding.metrics import get_crowding_function
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting
from pymoo.util.randomized_argsort import randomized_argsort

__all__ = [
    "objectives",
    "pareto_ranks",
    "pareto_front_indices",
    "crowding_distances",
    "survive",
    "tournament",
    "hypervolume",
    "reference_point",
]

_NDS = NonDominatedSorting()
_CROWDING = get_crowding_function("cd")  # NSGA-II's crowding distance, as in pymoo's NSGA2


def _as_matrix(F: np.ndarray) -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise ValueError(f"objective matrix must be 2-D (n, m), got shape {F.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError("objective matrix contains NaN or inf; drop failed candidates first")
    return F


def objectives(perf: np.ndarray, cost: np.ndarray, novelty: np.ndarray | None = None) -> np.ndarray:
    """Minimisation matrix (-perf, cost[, -novelty]) from 1-D arrays (cost is used as given)."""
    cols = [-np.asarray(perf, dtype=float), np.asarray(cost, dtype=float)]
    if novelty is not None:
        cols.append(-np.asarray(novelty, dtype=float))
    if len({c.shape for c in cols}) != 1 or cols[0].ndim != 1:
        raise ValueError(f"perf, cost, novelty must be 1-D arrays of one length, got {[c.shape for c in cols]}")
    return np.stack(cols, axis=1)


def pareto_ranks(F: np.ndarray) -> np.ndarray:
    """Front index of every row: 0 = non-dominated, 1 = non-dominated once front 0 is removed, ...

    Duplicated rows share a rank (neither dominates the other)."""
    F = _as_matrix(F)
    _, ranks = _NDS.do(F, return_rank=True)
    return np.asarray(ranks, dtype=int) if len(F) else np.zeros(0, dtype=int)


def pareto_front_indices(F: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the non-dominated rows, duplicates included."""
    F = _as_matrix(F)
    if len(F) == 0:
        return np.zeros(0, dtype=int)
    return np.sort(np.asarray(_NDS.do(F, only_non_dominated_front=True), dtype=int))


def _front_crowding(F_front: np.ndarray, n_remove: int = 0) -> np.ndarray:
    return np.asarray(_CROWDING.do(F_front, n_remove=n_remove), dtype=float)


def crowding_distances(F: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of every row within its own front (inf at a front's extremes,
    and for fronts of one or two points)."""
    F = _as_matrix(F)
    ranks = np.asarray(ranks, dtype=int)
    if ranks.shape != (len(F),):
        raise ValueError(f"ranks must have shape ({len(F)},), got {ranks.shape}")
    cd = np.empty(len(F), dtype=float)
    for r in np.unique(ranks):
        front = np.flatnonzero(ranks == r)
        cd[front] = _front_crowding(F[front])
    return cd


def survive(F: np.ndarray, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of the `n` NSGA-II survivors: whole fronts in rank order, then the front that does
    not fit whole, by descending crowding distance.

    Returned front by front (the split front's members by descending crowding). Ties in crowding
    are broken by `rng` exactly as pymoo's `RankAndCrowding` does; with `rng=None` by index (stable),
    so the result is deterministic without a generator.
    """
    F = _as_matrix(F)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    n = min(int(n), len(F))
    if n == 0:
        return np.zeros(0, dtype=int)
    survivors: list[np.ndarray] = []
    n_taken = 0
    for front in _NDS.do(F, n_stop_if_ranked=n):
        front = np.asarray(front, dtype=int)
        if n_taken + len(front) > n:
            n_remove = n_taken + len(front) - n
            cd = _front_crowding(F[front], n_remove=n_remove)
            if rng is None:
                order = np.argsort(-cd, kind="stable")
            else:
                order = randomized_argsort(cd, order="descending", method="numpy", random_state=rng)
            front = front[order[: len(front) - n_remove]]
        survivors.append(front)
        n_taken += len(front)
        if n_taken >= n:
            break
    return np.concatenate(survivors)


def _competitors(n_pool: int, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, size) pool indices drawn as concatenated permutations (pymoo's TournamentSelection):
    every candidate enters about equally often, which keeps selection pressure even."""
    total = n * size
    n_perms = -(-total // n_pool)
    flat = np.concatenate([rng.permutation(n_pool) for _ in range(n_perms)])[:total]
    return flat.reshape(n, size)


def _dominates(Fa: np.ndarray, Fb: np.ndarray) -> np.ndarray:
    """Row-wise: does Fa Pareto-dominate Fb (minimisation)?"""
    return np.all(Fa <= Fb, axis=1) & np.any(Fa < Fb, axis=1)


def tournament(
    ranks: np.ndarray,
    crowding: np.ndarray,
    n: int,
    rng: np.random.Generator,
    size: int = 2,
    F: np.ndarray | None = None,
) -> np.ndarray:
    """`n` winners (indices into ranks) of `size`-way tournaments: lower rank wins, then larger
    crowding distance, then a fair coin (Deb et al.'s crowded comparison).

    With `F` given, the first test is Pareto dominance instead of rank, as in pymoo's NSGA2
    (`comp_by_dom_and_crowding`): a rank-1 candidate beats a rank-2 one only if it dominates it,
    otherwise crowding decides. That is gentler pressure and keeps spread: on ZDT2 it avoids the
    collapse onto one end of the front that rank-first tournaments hit in about a quarter of runs
    (8 of 30; tests/test_selection_zdt.py). The campaign should pass F.

    Competitors come from concatenated permutations, as in pymoo's TournamentSelection, so every
    candidate enters about equally often. For size > 2 the winner holds the seat against each
    challenger in turn.
    """
    ranks = np.asarray(ranks)
    crowding = np.asarray(crowding, dtype=float)
    if ranks.shape != crowding.shape or ranks.ndim != 1:
        raise ValueError(f"ranks and crowding must be 1-D of one length, got {ranks.shape}, {crowding.shape}")
    if len(ranks) == 0:
        raise ValueError("cannot hold a tournament over an empty pool")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if F is not None:
        F = _as_matrix(F)
        if len(F) != len(ranks):
            raise ValueError(f"F has {len(F)} rows, ranks {len(ranks)}")
    comp = _competitors(len(ranks), n, size, rng)  # (n, size)
    coin = rng.random(comp.shape)  # random tie-break, uniform over exact ties
    best = comp[:, 0]
    best_coin = coin[:, 0]
    for j in range(1, size):
        c, u = comp[:, j], coin[:, j]
        if F is None:
            better, worse = ranks[c] < ranks[best], ranks[c] > ranks[best]
        else:
            better, worse = _dominates(F[c], F[best]), _dominates(F[best], F[c])
        cb, cc = crowding[best], crowding[c]
        wins = better | (~worse & ((cc > cb) | ((cc == cb) & (u < best_coin))))
        best = np.where(wins, c, best)
        best_coin = np.where(wins, u, best_coin)
    return best.astype(int)


def hypervolume(F: np.ndarray, ref_point: np.ndarray) -> float:
    """Volume dominated by F and bounded by `ref_point` (minimisation; moocore's exact algorithm).
    Rows that do not strictly dominate the reference point contribute nothing."""
    F = _as_matrix(F)
    ref = np.asarray(ref_point, dtype=float)
    if ref.shape != (F.shape[1],):
        raise ValueError(f"ref_point must have shape ({F.shape[1]},), got {ref.shape}")
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    return float(_moocore_hypervolume(F, ref=ref))


def reference_point(F: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """A reference point just beyond the worst value of every objective: max + margin * range
    (range 0 counts as 1), so the extremes of the front still add volume.

    Fix it once (e.g. from the baselines' objectives) and reuse it: a hypervolume curve over
    cycles is only comparable under one reference point."""
    F = _as_matrix(F)
    if len(F) == 0:
        raise ValueError("reference_point needs at least one row")
    hi, lo = F.max(axis=0), F.min(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return hi + margin * span
