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


def test_promotion_slots_go_round_the_domains_that_improve():
    # the issue's +domain=all run: one slot a cycle, data's best gain a little above arch's in the declared
    # unit, both Pareto extremes; a novel arch row that is far worse than the reference is an extreme too
    perf_by = [{"data": 1.42}, {"arch": 1.27}, {"rl": 0.30}, {"arch": -38.9}, {"data": 1.35}]
    F = stages.promotion_objectives(perf_by, ["arch", "rl", "data"], np.array([0.3, 0.9, 0.6, 0.8, 0.5]),
                                    np.array([6.0, 16.0, 9.0, 22.0, 7.0]))
    perf = [sum(p.values()) for p in perf_by]
    group = ["data", "arch", "rl", "arch", "data"]
    assert stages.choose_shared_promotions(F, [True] * 5, 1, perf, group) == [0]  # first slot: the best gain
    # data already took a slot: the next goes to arch's improvement, never to the worse-than-reference extreme
    assert stages.choose_shared_promotions(F, [False, True, True, True, True], 1, perf, group, {"data": 1}) == [1]
    # several slots at once: one per improving domain before any domain gets a second
    assert stages.choose_shared_promotions(F, [True] * 5, 3, perf, group) == [0, 1, 2]
    # a single domain (every row one group) keeps the plain order: better perf first
    assert stages.choose_shared_promotions(F, [True] * 5, 2, perf, ["x"] * 5) == \
        stages.choose_promotions(F, [True] * 5, 2, tiebreak=-np.array(perf))


def test_coupled_pools_give_the_focus_a_non_reference_partner_in_each_coupled_domain():
    ref = {"arch": "a0", "rl": "r0", "data": "d0"}
    top = {"arch": ["a0"], "rl": ["r0"], "data": ["d0"]}  # the references rank first: measured at every stage
    challengers = {"arch": ["a3"], "rl": ["r2"], "data": []}
    pairs = [("arch", "data"), ("arch", "rl")]
    # data is coupled with arch only: arch gets its best challenger, rl keeps the reference
    assert stages.coupled_pools("data", top, challengers, ref, pairs) == {"arch": ["a3"], "rl": ["r0"], "data": ["d0"]}
    # arch is coupled with both; data has no challenger measured yet, so its reference stays
    assert stages.coupled_pools("arch", top, challengers, ref, pairs) == {"arch": ["a0"], "rl": ["r2"], "data": ["d0"]}
    # a challenger already on top is kept; no pairs, no change
    assert stages.coupled_pools("rl", {**top, "arch": ["a5"]}, challengers, ref, pairs)["arch"] == ["a5"]
    assert stages.coupled_pools("data", top, challengers, ref, []) == top
    triple = stages.cross_triples({"arch": "a0", "rl": "r0", "data": "d7"}, "data",
                                  stages.coupled_pools("data", top, challengers, ref, pairs), limit=1)
    assert triple == [{"arch": "a3", "rl": "r0", "data": "d7"}]
