"""Engine switches the ablation arms need: random designer, analysis off, no cross stage, evaluation budget."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from domains.base import genome_id
from evolve.campaign import Campaign
from evolve.config import ConfigError, resolve
from evolve.designers import base_designer, build_designer
from evolve.designers.gp import GPDesigner
from evolve.designers.random import RandomDesigner
from evolve.knowledge import KnowledgeBase
from tests.conftest import compose_config
from tests.test_gp_designer import PickyDomain

ROOT = Path(__file__).resolve().parent.parent


def _kb(run: Path, cfg: dict) -> KnowledgeBase:
    return KnowledgeBase(run / "knowledge.db", cfg["campaign"]["name"]).open()


def test_random_designer_samples_under_the_gp_rules():
    dom = PickyDomain({"n_var": 4})
    rng = np.random.default_rng(1)
    parents = [(genome_id("numeric", dom.to_json(g)), g) for g in (dom.sample(rng) for _ in range(4))]
    known = {gid for gid, _ in parents}
    props, rejects = RandomDesigner().propose(dom, parents, np.zeros(4, int), np.ones(4), 6, rng, known)
    assert len(props) == 6 and len({p.gid for p in props}) == 6
    assert all(p.origin == "sample" and p.parents == () and p.genome.x[0] <= 0.5 for p in props)
    assert all(p.provenance == {"designer": "random"} for p in props)
    assert rejects and all(r.reason == "x0 above 0.5" for r in rejects)  # same check() rule as GP
    assert {p.gid for p in props} <= known  # known extended in place, as GP does


def test_designer_factory_names_the_choices():
    camp = {"crossover_rate": 0.3, "max_design_attempts": 7}
    assert type(base_designer({**camp, "designer": "random"})) is RandomDesigner
    gp = base_designer(camp)
    assert type(gp) is GPDesigner and (gp.crossover_rate, gp.max_attempts) == (0.3, 7)
    assert type(build_designer({"campaign": {**camp, "designer": "random"}}, None, lambda name: None)) is RandomDesigner
    with pytest.raises(ValueError, match="gp"):
        base_designer({**camp, "designer": "llm?"})


def test_random_arm_proposes_as_many_as_gp(tmp_path, numeric_cfg):
    for designer in ("gp", "random"):
        cfg = numeric_cfg(["tracking.enabled=false", "campaign.cycles=2", f"campaign.designer={designer}"], hostile=False)
        Campaign(cfg, tmp_path / designer, ROOT).run()
        kb = _kb(tmp_path / designer, cfg)
        designed = [c for c in kb.candidates(stage="isolated", cycle=1)]
        assert len(designed) == cfg["campaign"]["proposals_per_cycle"]
        origins = {kb.genome(c.triple["numeric"])["origin"] for c in designed}
        assert origins == {"sample"} if designer == "random" else not origins & {"sample"}


def test_analysis_off_keeps_no_hypotheses_and_no_agenda(tmp_path, numeric_cfg):
    cfg = numeric_cfg(["tracking.enabled=false", "campaign.cycles=3", "analysis.enabled=false", "analysis.min_group=2"], hostile=False)
    Campaign(cfg, tmp_path / "run", ROOT).run()
    kb = _kb(tmp_path / "run", cfg)
    assert kb.hypotheses() == [] and kb.agenda() == [] and kb.latest_agenda() == {}
    assert len(kb.analyses()) == 3  # the cycle reports (hypervolume, ...) are still written
    on = numeric_cfg(["tracking.enabled=false", "campaign.cycles=3", "analysis.min_group=2"], hostile=False)
    Campaign(on, tmp_path / "on", ROOT).run()
    assert _kb(tmp_path / "on", on).hypotheses() and _kb(tmp_path / "on", on).agenda()


def test_without_cross_stage_isolated_results_go_straight_to_full(tmp_path, numeric_cfg):
    cfg = numeric_cfg(["tracking.enabled=false", "campaign.cycles=2", "campaign.cross_stage=false"], hostile=False)
    summary = Campaign(cfg, tmp_path / "run", ROOT).run()
    kb = _kb(tmp_path / "run", cfg)
    assert summary["evaluations_by_stage"]["cross"] == 0 and summary["evaluations_by_stage"]["full"] >= 2
    isolated = {c.id for c in kb.candidates(stage="isolated")}
    sources = [c.source for c in kb.candidates(stage="full") if c.source]
    assert sources and set(sources) <= isolated


def test_evaluation_budget_stops_exactly_and_resumes(tmp_path, numeric_cfg, monkeypatch):
    log = tmp_path / "evals.log"
    monkeypatch.setenv("EVOLVE_TEST_LOG", str(log))
    small = numeric_cfg(["tracking.enabled=false", "campaign.cycles=50", "campaign.budget.evaluations=13"], hostile=False)
    summary = Campaign(small, tmp_path / "run", ROOT).run()
    assert summary["budget"]["evaluations_recorded"] == 13 and summary["complete"]
    assert 0 < summary["cycles_done"] < 50
    kb = _kb(tmp_path / "run", small)
    curve = kb.get_meta("hv_curve")
    assert [x for x, _ in curve] == list(range(1, 14)) and curve[-1][1] == pytest.approx(summary["hypervolume"])
    kb.close()
    Campaign(small, tmp_path / "run", ROOT).run()  # same budget: nothing more runs
    assert len(log.read_text().splitlines()) == 13
    bigger = numeric_cfg(["tracking.enabled=false", "campaign.cycles=50", "campaign.budget.evaluations=30"], hostile=False)
    summary = Campaign(bigger, tmp_path / "run", ROOT).run()
    lines = log.read_text().splitlines()
    assert summary["budget"]["evaluations_recorded"] == 30 == len(lines)
    assert not [k for k, n in Counter(lines).items() if n > 1], "an evaluation ran twice"
    assert _kb(tmp_path / "run", bigger).integrity_errors() == []


@pytest.mark.parametrize("override, message", [
    ("campaign.designer=llm", "campaign.designer"),
    ("campaign.cross_stage=maybe", "campaign.cross_stage"),
    ("analysis.enabled=1", "analysis.enabled"),
    ("campaign.budget.evaluations=0", "campaign.budget.evaluations"),
    ("campaign.budget.evaluations=2.5", "campaign.budget.evaluations"),
])
def test_bad_switch_values_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve(compose_config(["+domain=arch", override]))
