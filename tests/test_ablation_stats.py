"""Ablation statistics against known cases: Holm by hand, identical arms, a clearly better arm, gallery CIs."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from evolve.ablation import stats
from evolve.ablation.gallery import paired_interval, verdicts


def test_holm_matches_a_hand_computed_case():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([0.02]) == pytest.approx([0.02])  # one test: unchanged


def test_identical_arms_show_no_difference():
    values = [0.41, 0.45, 0.39, 0.47, 0.43, 0.44]
    (row,) = stats.pairwise({"a": values, "b": list(values)}, 0.95, 2000)
    assert row["diff"] == 0.0 and row["ci_low"] <= 0.0 <= row["ci_high"]
    assert row["p_value"] == pytest.approx(1.0) and not row["significant"] and not row["ci_excludes_zero"]
    assert row["verdict"] == "no detectable difference"


def test_arms_from_one_distribution_are_not_called_different():
    rng = np.random.default_rng(7)
    final = {arm: rng.normal(0.5, 0.1, 10).tolist() for arm in ("a", "b", "c")}
    rows = stats.pairwise(final, 0.95, 2000)
    assert not any(r["significant"] for r in rows)


def test_a_clearly_better_arm_is_detected_after_holm():
    rng = np.random.default_rng(3)
    final = {"better": rng.normal(1.0, 0.1, 10).tolist(), "b": rng.normal(0.0, 0.1, 10).tolist(),
             "c": rng.normal(0.0, 0.1, 10).tolist()}
    rows = {(r["a"], r["b"]): r for r in stats.pairwise(final, 0.95, 2000)}
    for pair in (("better", "b"), ("better", "c")):
        r = rows[pair]
        assert r["significant"] and r["ci_low"] > 0.8 and r["hedges_g"] > 3
        assert r["p_holm"] == pytest.approx(min(1.0, 3 * r["p_value"]))  # smallest of 3 p-values: x3
        assert r["verdict"].startswith("better higher")
    assert not rows[("b", "c")]["significant"]


def test_three_seeds_cannot_be_significant_and_the_report_says_so():
    assert stats.smallest_p(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3)
    (row,) = stats.pairwise({"a": [3.0, 3.1, 3.2], "b": [1.0, 1.1, 1.2]}, 0.95, 2000)
    assert not row["significant"] and row["ci_excludes_zero"] and row["p_value"] == pytest.approx(0.1)
    assert "not significant after Holm" in row["verdict"]


def test_curves_as_step_functions_and_time_to_target():
    curve = [[2, 0.5], [5, 0.7], [9, 0.9]]
    assert stats.step_values(curve, [0, 1, 2, 4, 5, 10]).tolist() == [0.0, 0.0, 0.5, 0.5, 0.7, 0.9]
    assert stats.evaluations_to_target(curve, 0.7) == 5
    assert stats.evaluations_to_target(curve, 0.95) is None
    assert stats.default_target([1.0, 3.0, 2.0]) == 2.0


def test_mean_band_brackets_the_mean_and_collapses_when_runs_agree():
    values = np.array([[1.0, 2.0, 5.0], [1.0, 4.0, 5.0], [1.0, 3.0, 5.0]])
    mean, lo, hi = stats.mean_band(values, 0.95, 2000)
    assert mean.tolist() == [1.0, 3.0, 5.0]
    assert lo[0] == hi[0] == 1.0 and lo[2] == hi[2] == 5.0
    assert 2.0 <= lo[1] < 3.0 < hi[1] <= 4.0


def test_gallery_interval_is_the_paired_t_interval():
    d = [0.3, 0.1, 0.2]
    mean, lo, hi = paired_interval(d, 0.95)
    half = sps.t.ppf(0.975, 2) * np.std(d, ddof=1) / np.sqrt(3)
    assert (mean, lo, hi) == pytest.approx((0.2, 0.2 - half, 0.2 + half))


def test_gallery_calls_improvements_only_outside_the_interval():
    perf = {"ref": {1: 0.0, 2: 0.0, 3: 0.0}, "gla": {1: 0.05, 2: 0.12, 3: 0.08},
            "good": {1: 0.30, 2: 0.35, 3: 0.33}, "noisy": {1: 0.40, 2: -0.30, 3: 0.05}}
    table = verdicts(perf, ["good", "noisy"], ["ref", "gla"], 0.95)
    assert [r["improvement"] for r in table["good"]] == [True, True]
    assert [r["improvement"] for r in table["noisy"]] == [False, False]  # mean above 0, interval is not
    assert table["noisy"][0]["diff"] > 0
