"""The statistical analyst: exact values, known cases, and hypothesis life cycles."""
from __future__ import annotations

import numpy as np
import pytest

from evolve import analyst
from evolve.analyst import GenomeRecord


def test_hedges_g_matches_hand_computation():
    x, y = np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0])
    pooled = np.sqrt((2 * 4.0 + 2 * 1.0) / 4)          # sample variances 4 and 1
    expected = (4.0 - 2.0) / pooled * (1 - 3 / (4 * 6 - 9))
    assert analyst.hedges_g(x, y) == pytest.approx(expected)


def test_identical_groups_show_no_effect_and_separated_groups_do():
    rng = np.random.default_rng(0)
    a = rng.normal(size=30)
    same = analyst.compare_groups(a, a.copy(), 0.95, 1000, seed=1)
    assert same.effect == 0.0 and same.ci_low <= 0.0 <= same.ci_high and same.p_value > 0.5
    far = analyst.compare_groups(a + 3.0, a, 0.95, 1000, seed=1)
    assert far.ci_low > 2.0 and far.p_value < 1e-6
    assert analyst.judge(far, "higher", 3) == "supported"
    assert analyst.judge(far, "lower", 3) == "refuted"
    assert analyst.judge(same, "higher", 3) == "retired"      # 30 per side, g = 0
    assert analyst.judge(analyst.compare_groups(a[:2], a[2:4], 0.95, 100, 0), "higher", 3) == "active"


def _records(effect: float, cycle: int, n: int, seed: int) -> list[GenomeRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        flag = i % 2
        out.append(GenomeRecord(f"g{cycle}-{i}", "arch", {"gated": float(flag), "width": float(i)},
                                float(effect * flag + 0.1 * rng.normal()), cycle))
    return out


def test_mined_hypothesis_is_confirmed_only_on_later_genomes():
    past = _records(1.0, cycle=0, n=12, seed=0)
    mined = analyst.mine_hypotheses(past, "arch", 0, set(), limit=4, min_group=3, confidence=0.95,
                                    n_resamples=500)
    gated = next(h for h in mined if h["predicate"]["feature"] == "gated")
    assert gated["direction"] == "higher" and gated["status"] == "active"
    kw = dict(min_group=3, confidence=0.95, n_resamples=500)
    # the data that suggested it do not count as evidence
    assert analyst.evaluate_hypothesis(gated, past, 0, **kw)["status"] == "active"
    confirmed = analyst.evaluate_hypothesis(gated, past + _records(1.0, 1, 12, 1), 1, **kw)
    assert confirmed["status"] == "supported" and confirmed["ci_low"] > 0 and confirmed["n_true"] == 6
    null = analyst.evaluate_hypothesis(gated, past + _records(0.0, 1, 40, 2), 1, **kw)
    assert null["status"] in ("retired", "active") and null["ci_low"] < 0 < null["ci_high"]


def test_agenda_follows_progress_with_a_floor():
    rows = {r["domain"]: r["share"] for r in analyst.agenda({"arch": 3.0, "rl": 1.0}, floor=0.1)}
    assert rows == pytest.approx({"arch": 0.1 + 0.8 * 0.75, "rl": 0.1 + 0.8 * 0.25})
    flat = {r["domain"]: r["share"] for r in analyst.agenda({"arch": 0.0, "rl": -1.0, "data": 0.0}, floor=0.1)}
    assert flat == pytest.approx({"arch": 1 / 3, "rl": 1 / 3, "data": 1 / 3})


def test_split_proposals_is_exact_and_follows_shares():
    counts = analyst.split_proposals({"arch": 0.65, "rl": 0.35}, 5, np.random.default_rng(0))
    assert counts == {"arch": 3, "rl": 2}   # 3.25 and 1.75: the larger remainder gets the spare
    assert sum(analyst.split_proposals({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, 7, np.random.default_rng(1)).values()) == 7
