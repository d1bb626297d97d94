"""Exact-value tests of evolve.selection against hand-computed fronts."""
import numpy as np
import pytest
from pymoo.core.problem import Problem
from pymoo.core.population import Population
from pymoo.operators.survival.rank_and_crowding import RankAndCrowding

from evolve import selection as sel

INF = np.inf

# 2-D staircase: four non-dominated points, then dominated ones.
#                 0        1       2       3        4       5       6
STAIR = np.array([[0, 10], [1, 6], [4, 5], [10, 0], [2, 7], [5, 6], [11, 11]], dtype=float)


def test_objectives_negates_perf_and_novelty():
    F = sel.objectives(np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0]))
    np.testing.assert_array_equal(F, [[-1, 3, -5], [-2, 4, -6]])
    np.testing.assert_array_equal(sel.objectives([1.0], [2.0]), [[-1, 2]])
    with pytest.raises(ValueError):
        sel.objectives([1.0, 2.0], [1.0])


def test_pareto_ranks_staircase():
    np.testing.assert_array_equal(sel.pareto_ranks(STAIR), [0, 0, 0, 0, 1, 1, 2])


def test_pareto_ranks_chain_and_duplicates():
    F = np.array([[1, 4], [2, 3], [2, 4], [3, 3], [4, 4], [5, 5], [1, 4]], dtype=float)
    # [2,4] is dominated by [1,4]; [3,3] by [2,3]; [4,4] by [2,4]/[3,3]; duplicates share rank 0.
    np.testing.assert_array_equal(sel.pareto_ranks(F), [0, 0, 1, 1, 2, 3, 0])
    np.testing.assert_array_equal(sel.pareto_front_indices(F), [0, 1, 6])


def test_pareto_ranks_three_objectives():
    F = np.array([[1, 1, 1], [0, 2, 2], [2, 2, 2], [1, 1, 3]], dtype=float)
    np.testing.assert_array_equal(sel.pareto_ranks(F), [0, 0, 1, 1])


def test_rejects_nan_objectives():
    with pytest.raises(ValueError):
        sel.pareto_ranks(np.array([[0.0, np.nan]]))


def test_crowding_distances_hand_computed():
    ranks = sel.pareto_ranks(STAIR)
    cd = sel.crowding_distances(STAIR, ranks)
    # front 0 ranges: f1 10, f2 10; pymoo averages over objectives.
    # [1,6]: (4-0)/10 + (10-5)/10 = 0.9 -> 0.45;  [4,5]: (10-1)/10 + (6-0)/10 = 1.5 -> 0.75
    # fronts of one or two points are all extremes -> inf.
    np.testing.assert_allclose(cd, [INF, 0.45, 0.75, INF, INF, INF, INF])


def test_crowding_even_staircase():
    F = np.array([[1, 4], [2, 3], [3, 2], [4, 1]], dtype=float)
    np.testing.assert_allclose(sel.crowding_distances(F, np.zeros(4, int)), [INF, 2 / 3, 2 / 3, INF])


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, set()),
        (2, {0, 3}),  # extremes (inf) of the first front
        (3, {0, 2, 3}),  # drop [1,6] (0.45 < 0.75)
        (4, {0, 1, 2, 3}),
        (6, {0, 1, 2, 3, 4, 5}),
        (7, {0, 1, 2, 3, 4, 5, 6}),
        (99, {0, 1, 2, 3, 4, 5, 6}),
    ],
)
def test_survive_hand_computed(n, expected):
    idx = sel.survive(STAIR, n)
    assert len(idx) == len(expected) and set(idx.tolist()) == expected


def test_survive_order_is_front_then_crowding():
    np.testing.assert_array_equal(sel.survive(STAIR, 3), [0, 3, 2])
    np.testing.assert_array_equal(sel.survive(STAIR, 6)[4:], [4, 5])


def test_survive_tie_broken_by_rng_or_index():
    # n=5 takes front 0 and one of the two inf-crowded points of front 1.
    assert sel.survive(STAIR, 5)[-1] == 4  # stable without a generator
    picks = {int(sel.survive(STAIR, 5, rng=np.random.default_rng(s))[-1]) for s in range(20)}
    assert picks == {4, 5}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("m", [2, 3])
def test_survive_equals_pymoo_rank_and_crowding(seed, m):
    F = np.random.default_rng(seed).integers(0, 6, size=(60, m)).astype(float)  # many ties
    pop = Population.new(F=F)
    ref = RankAndCrowding().do(Problem(n_var=1, n_obj=m), pop, n_survive=25,
                               random_state=np.random.default_rng(seed), return_indices=True)
    ours = sel.survive(F, 25, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(ours, ref)


def test_tournament_lower_rank_always_wins():
    w = sel.tournament(np.array([1, 0]), np.array([5.0, 1.0]), 50, np.random.default_rng(0))
    np.testing.assert_array_equal(w, np.ones(50, int))


def test_tournament_crowding_breaks_rank_ties():
    w = sel.tournament(np.array([0, 0]), np.array([1.0, INF]), 40, np.random.default_rng(1))
    np.testing.assert_array_equal(w, np.ones(40, int))


def test_tournament_full_tie_is_a_fair_coin():
    w = sel.tournament(np.array([0, 0]), np.array([1.0, 1.0]), 4000, np.random.default_rng(2))
    assert 0.45 < w.mean() < 0.55


def test_tournament_with_whole_pool_picks_the_best():
    ranks, crowd = np.array([2, 0, 1, 0]), np.array([0.0, 1.0, 5.0, 3.0])
    w = sel.tournament(ranks, crowd, 30, np.random.default_rng(3), size=4)
    np.testing.assert_array_equal(w, np.full(30, 3))


def test_tournament_is_seeded_and_binary_pressure():
    ranks = np.arange(10)
    crowd = np.ones(10)
    a = sel.tournament(ranks, crowd, 1000, np.random.default_rng(7))
    b = sel.tournament(ranks, crowd, 1000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.dtype.kind == "i" and a.min() >= 0 and a.max() <= 8  # the worst can never win a pair
    assert (a == 0).sum() > (a == 5).sum()


def test_competitors_enter_equally_often():
    comp = sel._competitors(10, 10, 2, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(comp.ravel(), minlength=10), np.full(10, 2))


def test_hypervolume_2d_staircase():
    F = np.array([[1, 3], [2, 2], [3, 1]], dtype=float)
    # (2-1)(4-3) + (3-2)(4-2) + (4-3)(4-1) = 1 + 2 + 3
    assert sel.hypervolume(F, [4, 4]) == pytest.approx(6.0)
    # dominated points and points outside the reference box add nothing
    G = np.vstack([F, [[3, 3], [5, 0], [4, 1]]])
    assert sel.hypervolume(G, [4, 4]) == pytest.approx(6.0)
    assert sel.hypervolume(np.array([[5.0, 5.0]]), [4, 4]) == 0.0


def test_hypervolume_3d_box_and_union():
    assert sel.hypervolume(np.array([[1.0, 1.0, 1.0]]), [2, 3, 4]) == pytest.approx(6.0)
    # two boxes 1x1x2 and 2x1x1 overlapping in 1x1x1 -> 2 + 2 - 1
    F = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    assert sel.hypervolume(F, [2, 2, 2]) == pytest.approx(3.0)


def test_reference_point():
    F = np.array([[0.0, 10.0, 3.0], [4.0, 5.0, 3.0]])
    np.testing.assert_allclose(sel.reference_point(F), [4.4, 10.5, 3.1])
    np.testing.assert_allclose(sel.reference_point(F, margin=0.0), [4.0, 10.0, 3.0])


def test_tournament_with_F_compares_by_dominance():
    # rank 0 vs rank 1 but neither dominates the other: with F crowding decides, without F rank does
    F = np.array([[0.0, 10.0], [6.0, 6.0]])
    ranks, crowd = np.array([0, 1]), np.array([1.0, 2.0])
    np.testing.assert_array_equal(sel.tournament(ranks, crowd, 20, np.random.default_rng(0)), np.zeros(20, int))
    np.testing.assert_array_equal(sel.tournament(ranks, crowd, 20, np.random.default_rng(0), F=F), np.ones(20, int))
    # dominance beats crowding
    G = np.array([[0.0, 0.0], [1.0, 1.0]])
    w = sel.tournament(np.array([0, 1]), np.array([0.0, INF]), 20, np.random.default_rng(0), F=G)
    np.testing.assert_array_equal(w, np.zeros(20, int))
