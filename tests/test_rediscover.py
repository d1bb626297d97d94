"""Rediscovery on the numeric test domain: withheld designs, their targets measured at the runs' own stage
seeds, hits when a designed genome reaches the target, censoring when none can; presets and reach."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from evolve.ablation import reach, rediscover
from evolve.campaign import Campaign

ROOT = Path(__file__).resolve().parent.parent
CENTRE = [0.5] * 5
POINTS = {"fair": [0.6, 0.45, 0.45, 0.45, 0.45], "optimum": [1.0, 0.0, 0.0, 0.0, 0.0]}


def _zdt1_f2(x: list[float]) -> float:
    g = 1 + 9 * float(np.mean(x[1:]))
    return g * (1 - math.sqrt(x[0] / g))


def _run_task(root: Path, numeric_cfg, target: str, seeds=(0, 1), budget: int = 16) -> dict:
    for seed in seeds:
        cfg = numeric_cfg([f"seed={seed}", "campaign.cycles=50", f"campaign.budget.evaluations={budget}",
                           "tracking.enabled=false"], hostile=False, points=POINTS)
        cfg["campaign"]["start_set"] = {"numeric": {"withhold": ["fair", "optimum"]}}
        cfg["ablation"] = {"arm": "gp"}
        cfg["rediscover"] = {"task": "numeric", "domain": "numeric", "targets": [target],
                             "stages": ["isolated", "full"], "tolerance": 0.0}
        Campaign(cfg, root / "gp" / f"seed{seed}", ROOT).run()
    rediscover.run_targets(root, progress=lambda _: None)
    return rediscover.build(root, n_resamples=200)


@pytest.mark.slow
def test_a_reachable_target_is_hit_and_an_unreachable_one_is_censored(tmp_path, numeric_cfg):
    easy = _run_task(tmp_path / "easy", numeric_cfg, "fair")
    # the target is the withheld genome's own perf at the runs' stage seeds: gain in -f2 over the reference
    expected = _zdt1_f2(CENTRE) - _zdt1_f2(POINTS["fair"])
    for run in easy["runs"]:
        for stage, s in run["stages"].items():
            assert s["target"] == pytest.approx(expected) and s["target_name"] == "fair"
            assert s["hit"] == any(h["perf"] >= s["target"] for h in s["hits"]) == bool(s["hits"])
            if s["hit"]:
                assert s["first_hit"] == min(h["at"] for h in s["hits"]) <= run["evaluations"] == 16
                assert s["best_minus_target"] >= 0 and s["hits"][0]["text"].startswith("x = [")
            else:
                assert s["time"] == run["evaluations"] and (s["best_minus_target"] or -1) < 0
    iso = easy["stages"]["isolated"]["arms"]["gp"]
    assert iso["hits"] >= 1 and iso["hit_genomes"]
    assert math.isfinite(iso["km_median"])  # half the runs or more hit: the Kaplan-Meier median exists
    assert iso["measured"] == 2 and 0 <= iso["hit_rate"] <= 1

    hard = _run_task(tmp_path / "hard", numeric_cfg, "optimum", seeds=(0,))
    for stage, s in hard["stages"].items():
        a = s["arms"]["gp"]
        assert a["hits"] == 0 and a["km_median"] == math.inf and a["first_hit"] == [None]
        assert a["targets"][0] == pytest.approx(_zdt1_f2(CENTRE))  # perf of f2 = 0
    text = "\n".join(rediscover.markdown(hard))
    assert "## Rediscovery — task `numeric`" in text and ">16" in text and "not reached" in text

    # targets are evaluated once: a second pass finds nothing to run
    calls = []
    rediscover.run_targets(tmp_path / "hard", progress=calls.append)
    assert calls == []


def test_every_preset_withholds_its_targets_and_keeps_a_start_set():
    for task in rediscover.task_names():
        dom, spec = reach.task_domain_instance(task)
        assert set(spec["targets"]) <= set(dom.withheld), task
        assert dom.reference in dom.baselines() and not set(dom.baselines()) & set(dom.withheld)


def test_tree_distance_counts_node_edits_and_forgives_close_numbers():
    a = {"steps": [{"type": "dedup", "unit": "doc"}], "order": "shuffle"}
    assert reach.distance(a, a) == 0
    assert reach.distance(a, {"steps": [], "order": "shuffle"}) == 5  # the step: {} + 2 keys + 2 values
    assert reach.distance(["mul", "ratio", 0.8], ["mul", "ratio", 0.85]) == 0  # within 10 %
    assert reach.distance(["mul", "ratio", 0.8], ["mul", "ratio", 0.4]) == pytest.approx(0.5)
    assert reach.distance(["mul", "ratio", "nadv"], ["add", "ratio", "nadv"]) == 1


def test_operator_search_reaches_a_design_one_mutation_away():
    from tests.numeric_domain import NumericDomain, Vector

    dom = NumericDomain({"n_var": 3, "prob_var_m": 1.0})
    start = Vector((0.5, 0.5, 0.5))
    found = reach.operator_steps(dom, {"centre": start}, Vector((0.53, 0.5, 0.5)), beam=4, children=32, max_steps=3)
    assert found["tree_distance"] == 0 and found["steps"] == 0  # within the 10 % tolerance already
    far = reach.operator_steps(dom, {"centre": start}, Vector((0.9, 0.1, 0.9)), beam=4, children=32, max_steps=6)
    assert far["tree_distance"] > 0 and (far["steps"] or 0) <= 6 and far["closest"] <= far["tree_distance"]
