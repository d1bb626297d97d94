"""Proxy fidelity (Spearman with a bootstrap interval) and the 2x2 coupling factorial: exact values."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evolve import coupling, fidelity


def test_spearman_matches_scipy_and_the_hand_value():
    low, high = [1.0, 2.0, 3.0, 4.0, 5.0], [5.0, 6.0, 7.0, 8.0, 7.0]
    f = fidelity.rank_fidelity(low, high, n_resamples=500, seed=0)
    # ranks of high: 1, 2, 3.5, 5, 3.5 -> Pearson on ranks = 0.8208 (scipy agrees)
    assert f.rho == pytest.approx(0.8207826816681233) == stats.spearmanr(low, high).statistic
    assert f.n == 5 and -1.0 <= f.ci_low <= f.rho <= f.ci_high <= 1.0
    same = fidelity.rank_fidelity([3, 1, 2, 5], [30, 10, 20, 50], n_resamples=200)
    assert same.rho == 1.0 and same.ci_low == same.ci_high == 1.0
    flipped = fidelity.rank_fidelity([3, 1, 2, 5], [-3, -1, -2, -5], n_resamples=200)
    assert flipped.rho == -1.0 and flipped.ci_high == -1.0


def test_vectorised_bootstrap_statistic_is_spearman_per_row():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 9)), rng.normal(size=(7, 9))
    y[0] = y[0].round()  # ties
    expected = [stats.spearmanr(a, b).statistic for a, b in zip(x, y)]
    assert fidelity._spearman_rows(x, y) == pytest.approx(expected)
    assert math.isnan(fidelity._spearman_rows(np.ones((1, 4)), x[:1, :4])[0])


def test_fidelity_is_undefined_with_too_few_genomes_and_low_fidelity_is_said_in_words():
    assert math.isnan(fidelity.rank_fidelity([1, 2], [2, 1]).rho)
    assert "not measurable" in fidelity.describe("data", "isolated -> full", fidelity.rank_fidelity([1, 2], [2, 1]))
    low = fidelity.rank_fidelity([1, 2, 3, 4, 5, 6], [4, 6, 1, 5, 2, 3], n_resamples=300)
    assert low.rho < fidelity.LOW and "LOW" in fidelity.describe("data", "isolated -> full", low.as_dict())
    high = fidelity.rank_fidelity(range(12), range(12), n_resamples=300)
    assert "holds" in fidelity.describe("arch", "isolated -> full", high)


def test_factorial_effects_of_a_known_table():
    # y[level_a, level_b]: A alone +1, B alone +2, both +5 -> interaction 5 - 2 - 1 + 0 = 2
    table = np.array([[0.0, 2.0], [1.0, 5.0]])
    f = coupling.factorial(("arch", "data"), "data", np.stack([table, table + 0.5]), n_resamples=200)
    assert f.n == 2
    assert (f.main_a.estimate, f.main_b.estimate, f.interaction.estimate) == pytest.approx((2.0, 3.0, 2.0))
    assert f.interaction.ci_low == f.interaction.ci_high == 2.0  # the offset cancels in every contrast
    noisy = np.stack([table + np.array([[0, 0], [0, e]]) for e in (-1.0, 0.0, 1.0, 2.0)])
    g = coupling.factorial(("arch", "rl"), "rl", noisy, n_resamples=500, seed=3)
    assert g.interaction.estimate == pytest.approx(2.5) and g.interaction.ci_low < 2.5 < g.interaction.ci_high
    one = coupling.factorial(("arch", "rl"), "rl", table[None], n_resamples=100)
    assert one.main_a.estimate == 2.0 and math.isnan(one.main_a.ci_low)
    assert coupling.factorial(("a", "b"), "a", np.zeros((0, 2, 2))).n == 0


def test_cell_triples_swap_in_the_references():
    ref = {"arch": "A0", "rl": "R0", "data": "D0"}
    tri = {"arch": "A1", "rl": "R1", "data": "D1"}
    cells = coupling.cell_triples(tri, ref, ("arch", "data"))
    assert cells[(1, 1)] == tri and cells[(0, 0)] == {"arch": "A0", "rl": "R1", "data": "D0"}
    assert cells[(1, 0)] == {"arch": "A1", "rl": "R1", "data": "D0"}
    assert coupling.informative(tri, ref, ("arch", "rl")) and not coupling.informative({**tri, "rl": "R0"}, ref,
                                                                                         ("arch", "rl"))


def test_three_genomes_in_order_are_too_few_to_judge():
    """A percentile bootstrap over 3 monotone genomes collapses to [1, 1] and spearmanr's t-approximation says
    p = 0; the exact permutation test says 1/3, and the report gives no verdict below MIN_GENOMES."""
    f = fidelity.rank_fidelity([0.1, 0.2, 0.3], [1.0, 2.0, 3.0])
    assert f.rho == 1.0 and abs(f.p_value - 1 / 3) < 1e-9
    words = fidelity.describe("arch", "isolated->full", f)
    assert "too few to judge" in words and "holds" not in words
