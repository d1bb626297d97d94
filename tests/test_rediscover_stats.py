"""Rediscovery statistics against hand-computed cases: Kaplan-Meier with censored runs, its median and
bootstrap interval, exact hit-rate intervals, the log-rank test."""
from __future__ import annotations

import math

import numpy as np
import pytest

from evolve.ablation import stats

# six runs: hits after 10, 20, 20 and 40 evaluations; two never hit (censored at their 30 and 50 evaluations)
TIMES = [10, 20, 20, 30, 40, 50]
HIT = [True, True, True, False, True, False]


def test_kaplan_meier_matches_the_product_limit_by_hand():
    # t=10: 6 at risk, 1 hit -> 5/6; t=20: 5 at risk, 2 hits -> 5/6 * 3/5 = 1/2; t=30 censored;
    # t=40: 2 at risk, 1 hit -> 1/4; t=50 censored
    t, s = stats.km_survival(TIMES, HIT)
    assert t.tolist() == [10, 20, 30, 40, 50]
    assert s.tolist() == pytest.approx([5 / 6, 1 / 2, 1 / 2, 1 / 4, 1 / 4])
    assert stats.km_median(TIMES, HIT) == 20.0  # first t with S(t) <= 1/2


def test_the_median_is_not_reached_when_most_runs_never_hit():
    assert stats.km_median([12, 50, 50, 50], [True, False, False, False]) == math.inf  # S ends at 3/4
    assert stats.km_median([50, 50], [False, False]) == math.inf
    t, s = stats.km_survival([50, 50], [False, False])
    assert s.tolist() == [1.0]
    # ignoring censoring would report the median of the hits alone (12): KM does not flatter the arm
    assert stats.km_median([12, 14, 50, 50], [True, True, False, False]) == 14.0


def test_bootstrap_interval_of_the_median():
    assert stats.km_median_ci([7, 7, 7, 7], [True] * 4) == (7.0, 7.0)
    assert stats.km_median_ci([50] * 5, [False] * 5) == (math.inf, math.inf)
    lo, hi = stats.km_median_ci(TIMES, HIT, 0.95, 2000, seed=1)
    assert lo <= stats.km_median(TIMES, HIT) <= hi
    assert lo >= 10 and hi == math.inf  # a resample of mostly censored runs never reaches S = 1/2
    assert (lo, hi) == stats.km_median_ci(TIMES, HIT, 0.95, 2000, seed=1)  # seeded: reproducible


def test_hit_rate_has_the_exact_clopper_pearson_interval():
    rate, lo, hi = stats.hit_rate(3, 5)
    assert rate == 0.6 and lo == pytest.approx(0.14663, abs=1e-4) and hi == pytest.approx(0.94726, abs=1e-4)
    rate, lo, hi = stats.hit_rate(0, 5)
    assert rate == 0.0 and lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 5))
    assert all(math.isnan(x) for x in stats.hit_rate(0, 0))


def test_logrank_separates_a_fast_arm_from_a_slow_one():
    assert stats.logrank_p(TIMES, HIT, TIMES, HIT) == pytest.approx(1.0)
    fast = ([5, 6, 7, 8, 9, 10, 11, 12], [True] * 8)
    slow = ([40, 45, 50, 50, 50, 50, 50, 50], [True, True] + [False] * 6)
    assert stats.logrank_p(*fast, *slow) < 0.01
    assert stats.logrank_p([50, 50], [False, False], [50], [False]) is None
    rng = np.random.default_rng(0)
    same = [(rng.integers(5, 50, 8).tolist(), [True] * 8) for _ in range(2)]
    assert stats.logrank_p(*same[0], *same[1]) > 0.05
