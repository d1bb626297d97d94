"""Exact-value tests of evolve.novelty on small hand-made archives."""
import numpy as np
import pytest

from evolve.novelty import NoveltyIndex, knn_novelty, standardise

S2 = np.sqrt(2.0)
# Columns with mean 0 and (population) std 1: standardising leaves it unchanged.
SQUARE = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], dtype=float)
# The same square stretched: mean (1, 5), std (1, 5).
STRETCHED = np.array([[0, 0], [2, 0], [0, 10], [2, 10]], dtype=float)


def test_standardise_uses_archive_stats_and_imputes_mean():
    X = np.array([[1, 5], [3, np.nan]])
    np.testing.assert_allclose(standardise(STRETCHED, X), [[0, 0], [2, 0]])


def test_standardise_constant_column_has_unit_std():
    np.testing.assert_allclose(standardise(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 7.0]])), [[0, 2]])


def test_standardise_nan_stats_over_observed_values():
    A = np.array([[0.0], [4.0], [np.nan], [np.nan]])  # observed mean 2, std 2
    np.testing.assert_allclose(standardise(A, A), [[-1], [1], [0], [0]])


def test_query_outside_archive():
    assert knn_novelty(SQUARE, np.array([[0.0, 0.0]]), k=2) == pytest.approx([S2])
    assert knn_novelty(STRETCHED, np.array([[1.0, 5.0]]), k=4) == pytest.approx([S2])


def test_self_is_excluded_once():
    q = SQUARE[:1]
    assert knn_novelty(SQUARE, q, k=1) == pytest.approx([2.0])
    assert knn_novelty(SQUARE, q, k=3) == pytest.approx([(2 + 2 + 2 * S2) / 3])
    assert knn_novelty(SQUARE, q, k=1, exclude_self=False) == pytest.approx([0.0])
    # a genuine duplicate elsewhere in the archive is a neighbour at distance 0
    dup = np.vstack([SQUARE, SQUARE[:1]])
    assert knn_novelty(dup, q, k=1) == pytest.approx([0.0], abs=1e-7)


def test_fewer_than_k_members_uses_what_exists():
    assert knn_novelty(SQUARE, SQUARE[:1], k=10) == pytest.approx([(2 + 2 + 2 * S2) / 3])
    assert knn_novelty(SQUARE, np.array([[0.0, 0.0]]), k=10) == pytest.approx([S2])


def test_nan_behaviour_is_imputed_with_archive_mean():
    A = np.array([[-1, -1, 0], [1, -1, 4], [-1, 1, np.nan], [1, 1, np.nan]], dtype=float)
    # third column: observed mean 2, std 2 -> z = -1, 1, 0, 0
    # query (-1,-1,nan) -> (-1,-1,0): distances 1, sqrt5, 2, sqrt8
    assert knn_novelty(A, np.array([[-1.0, -1.0, np.nan]]), k=2) == pytest.approx([1.5])
    # (-1,1,nan) is archive row 2 (NaN matches NaN) -> excluded; nearest other is row 3 at 2
    assert knn_novelty(A, A[2:3], k=1) == pytest.approx([2.0])


def test_empty_archive_and_lone_member_conventions():
    Q = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_array_equal(knn_novelty(np.empty((0, 2)), Q, k=3), [0.0, 0.0])
    np.testing.assert_array_equal(knn_novelty(np.array([]), Q, k=3), [0.0, 0.0])
    np.testing.assert_array_equal(knn_novelty(np.empty((0, 2)), Q, k=3, fill=1.5), [1.5, 1.5])
    # archive = the first query alone (constant columns -> std 1): it has no neighbour and gets
    # the largest novelty of the call, never inf
    np.testing.assert_allclose(knn_novelty(Q[:1], Q, k=3), [5.0, 5.0])


def test_matches_brute_force_on_random_data():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 5)) * [1, 10, 100, 0.1, 1]
    Q = np.vstack([rng.normal(size=(20, 5)), A[:5]])
    Z, ZQ = standardise(A, A), standardise(A, Q)
    D = np.linalg.norm(ZQ[:, None, :] - Z[None, :, :], axis=-1)
    D[np.arange(20, 25), np.arange(5)] = np.inf  # the last five queries are archive rows 0..4
    expected = np.sort(D, axis=1)[:, :7].mean(axis=1)
    np.testing.assert_allclose(knn_novelty(A, Q, k=7), expected, rtol=1e-9)


def test_index_reused_for_many_queries():
    idx = NoveltyIndex.fit(SQUARE)
    np.testing.assert_allclose(idx.query(np.array([[0.0, 0.0]]), 2), [S2])
    np.testing.assert_allclose(idx.query(SQUARE, 1), [2.0, 2.0, 2.0, 2.0])


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        knn_novelty(SQUARE, np.zeros((1, 3)), k=1)
    with pytest.raises(ValueError):
        knn_novelty(SQUARE, np.zeros((1, 2)), k=0)
    with pytest.raises(ValueError):
        knn_novelty(SQUARE, np.array([[np.inf, 0.0]]), k=1)
