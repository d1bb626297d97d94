"""The cascade's pure rules: stage specs, promotion counts and order, cross combinations."""
from __future__ import annotations

import numpy as np
import pytest

from evolve import stages


def test_stage_specs_and_validation():
    specs = stages.stage_specs({"stages": {"isolated": {"fraction": 0.1, "seeds": 1},
                                           "cross": {"fraction": 0.3, "seeds": 1},
                                           "full": {"fraction": 1.0, "seeds": 3}}})
    assert specs["full"].seed_list(2) == [2000, 2001, 2002]
    with pytest.raises(ValueError, match="lacks stages"):
        stages.stage_specs({"stages": {"isolated": {"fraction": 0.1, "seeds": 1}}})
    with pytest.raises(ValueError, match="fraction must be in"):
        stages.stage_specs({"stages": {s: {"fraction": 0.0, "seeds": 1} for s in ("isolated", "cross", "full")}})
    assert stages.next_stage("isolated") == "cross" and stages.next_stage("full") is None


def test_promotion_count():
    assert [stages.promotion_count(n, 0.34) for n in (0, 1, 3, 5, 10)] == [0, 1, 2, 2, 4]


def test_promotions_follow_pareto_rank_against_the_whole_stage():
    # minimisation; rows 0 and 1 are on the first front, 2 on the second, 3 dominated by everything
    F = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    assert stages.choose_promotions(F, [True] * 4, 2) == [0, 1]
    assert stages.choose_promotions(F, [False, True, True, True], 2) == [1, 2]
    assert stages.choose_promotions(F, [False, False, False, True], 3) == [3]


def test_cross_triples_combine_the_focus_with_top_genomes_of_the_others():
    triple = {"arch": "a1", "rl": "r0", "data": "d0"}
    out = stages.cross_triples(triple, "arch", {"arch": ["a9"], "rl": ["r1", "r2"], "data": ["d1"]}, limit=10)
    assert out == [{"arch": "a1", "rl": "r1", "data": "d1"}, {"arch": "a1", "rl": "r2", "data": "d1"}]
    assert stages.cross_triples({"arch": "a1"}, "arch", {"arch": ["a2"]}, limit=4) == [{"arch": "a1"}]


def test_promotion_count_respects_the_next_stages_evaluation_budget():
    assert stages.promotion_count(10, 0.34, evaluations_each=1, max_evaluations=6) == 4  # p_pass binds
    assert stages.promotion_count(10, 0.34, evaluations_each=3, max_evaluations=6) == 2  # triples x 3 domains
    assert stages.promotion_count(10, 0.34, evaluations_each=6, max_evaluations=6) == 1  # x 2 seeds
    assert stages.promotion_count(10, 0.34, evaluations_each=9, max_evaluations=6) == 1  # never below one
    assert stages.promotion_count(0, 0.34, evaluations_each=1, max_evaluations=6) == 0
    specs = stages.stage_specs({"stages": {"isolated": {"fraction": 0.1, "seeds": 1},
                                           "cross": {"fraction": 0.3, "seeds": 1, "max_evaluations": 6},
                                           "full": {"fraction": 1.0, "seeds": 2, "max_evaluations": None}}})
    assert (specs["cross"].max_evaluations, specs["full"].max_evaluations) == (6, None)
    with pytest.raises(ValueError, match="max_evaluations"):
        stages.stage_specs({"stages": {s: {"fraction": 0.5, "seeds": 1, "max_evaluations": 0}
                                       for s in ("isolated", "cross", "full")}})


def test_promotion_objectives_are_per_domain_and_ties_go_to_the_better_pooled_perf():
    perf = [{"a": 1.0}, {"b": 1.0}, {"a": 0.2, "b": 0.2}]
    F = stages.promotion_objectives(perf, ["a", "b"], np.ones(3), np.zeros(3))
    assert F.tolist() == [[-1.0, 0.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [-0.2, -0.2, 1.0, 0.0]]
    # all three are non-dominated with infinite crowding; the pooled perf decides, not the row order
    assert stages.choose_promotions(F, [True] * 3, 1, tiebreak=-np.array([0.5, 0.6, 0.2])) == [1]
