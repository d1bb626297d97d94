"""kNN novelty: how far a candidate's descriptor lies from its k nearest neighbours in the archive.

Descriptors are fixed-length rows: a domain's structural `descriptor(g)` concatenated with the
behaviour of its evaluation (`Metrics.behaviour`). Candidates not evaluated yet have NaN where
behaviour goes; those entries are imputed with the archive's column mean (they then sit at z = 0
and add no distance in that column), so structure alone decides until behaviour is known.

Conventions (chosen so that novelty stays a finite, bounded objective for NSGA-II and hypervolume):
- Standardisation uses the archive's per-column mean and std over *observed* (non-NaN) values; a
  constant or unobserved column gets std 1. Imputing first and then taking the std would shrink
  the spread of sparsely observed behaviour columns and overweight them.
- A query that is itself in the archive (an exact row match, NaNs matching NaNs) does not count
  as its own neighbour; one matching row is dropped, so a true duplicate elsewhere in the archive
  still yields novelty 0.
- Fewer than k neighbours: the mean over those that exist.
- No neighbour at all (empty archive, or the archive holds only the query): `fill`; by default the
  largest novelty among the other queries of the same call (a lone candidate is at least as novel
  as any other), or 0.0 when no query has a neighbour. Never +inf, which would break hypervolume.

For large archives, `NoveltyIndex` fits the standardisation and the neighbour structure once and
answers many queries; scikit-learn picks a KD-/ball tree or brute force by dimension and size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

__all__ = ["standardise", "knn_novelty", "NoveltyIndex"]


def _as_rows(X: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {X.shape}")
    if np.isinf(X).any():
        raise ValueError(f"{name} contains inf; descriptors must be finite or NaN (missing)")
    return X


def _column_stats(X_archive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per column over observed values; unobserved column: mean 0; std 0 -> 1."""
    d = X_archive.shape[1]
    observed = ~np.isnan(X_archive)
    count = observed.sum(axis=0)
    filled = np.where(observed, X_archive, 0.0)
    mean = np.divide(filled.sum(axis=0), count, out=np.zeros(d), where=count > 0)
    sq = np.where(observed, (X_archive - mean) ** 2, 0.0).sum(axis=0)
    std = np.sqrt(np.divide(sq, count, out=np.zeros(d), where=count > 0))
    std[std == 0] = 1.0
    return mean, std


def _apply(X: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    X = np.where(np.isnan(X), mean, X)  # impute missing behaviour with the archive mean
    return (X - mean) / std


def standardise(X_archive: np.ndarray, X: np.ndarray) -> np.ndarray:
    """z-score X with the archive's column mean/std (std 0 -> 1); NaN in X becomes 0 (the mean)."""
    X_archive, X = _as_rows(X_archive, "X_archive"), _as_rows(X, "X")
    if X_archive.shape[1] != X.shape[1]:
        raise ValueError(f"dimension mismatch: archive {X_archive.shape[1]}, X {X.shape[1]}")
    mean, std = _column_stats(X_archive)
    return _apply(X, mean, std)


def _same_rows(A: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Which rows of A equal `row` exactly, NaN matching NaN."""
    both_nan = np.isnan(A) & np.isnan(row)
    return np.all((A == row) | both_nan, axis=1)


@dataclass(frozen=True, eq=False)
class NoveltyIndex:
    """The archive, standardised once, with a fitted neighbour index; `query` is `knn_novelty`.

    Fit it once per cycle and query all new candidates: fitting touches every archive row."""

    archive: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    nn: NearestNeighbors | None

    @classmethod
    def fit(cls, archive: np.ndarray) -> "NoveltyIndex":
        archive = _as_rows(archive, "archive")
        mean, std = _column_stats(archive)
        nn = NearestNeighbors(metric="euclidean").fit(_apply(archive, mean, std)) if len(archive) else None
        return cls(archive, mean, std, nn)

    def query(self, queries: np.ndarray, k: int, exclude_self: bool = True, fill: float | None = None) -> np.ndarray:
        queries = _as_rows(queries, "queries")
        if queries.shape[1] != self.archive.shape[1]:
            raise ValueError(f"dimension mismatch: archive {self.archive.shape[1]}, queries {queries.shape[1]}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        novelty = np.full(len(queries), np.nan)
        n = len(self.archive)
        if n and len(queries):
            n_ask = min(k + 1 if exclude_self else k, n)
            dist, idx = self.nn.kneighbors(_apply(queries, self.mean, self.std), n_neighbors=n_ask)
            for q in range(len(queries)):
                d = dist[q]
                if exclude_self:
                    # The query's own row sits at distance 0, so it is among the k+1 nearest unless
                    # more than k+1 rows tie at 0, in which case every kept distance is 0 anyway.
                    own = np.flatnonzero(_same_rows(self.archive[idx[q]], queries[q]))
                    if len(own):
                        d = np.delete(d, own[0])
                d = d[:k]
                if len(d):
                    novelty[q] = float(d.mean())
        missing = np.isnan(novelty)
        if missing.any():
            if fill is None:
                fill = float(novelty[~missing].max()) if (~missing).any() else 0.0
            novelty[missing] = fill
        return novelty


def knn_novelty(
    archive: np.ndarray,
    queries: np.ndarray,
    k: int,
    exclude_self: bool = True,
    fill: float | None = None,
) -> np.ndarray:
    """Mean Euclidean distance from each query to its k nearest archive rows, in the archive's
    standardised coordinates (see the module docstring for NaNs, self-matches and empty archives)."""
    archive = np.asarray(archive, dtype=float)
    if archive.size == 0:  # accept np.array([]) for "no archive yet"
        archive = archive.reshape(0, np.shape(queries)[-1])
    return NoveltyIndex.fit(archive).query(queries, k, exclude_self=exclude_self, fill=fill)
