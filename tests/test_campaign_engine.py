"""The LDEA loop end to end on a fast numeric domain: stages, failures, summary, resume (SIGKILL at random
moments: tests/test_crashtest.py)."""
from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from evolve.campaign import Campaign
from evolve.config import ConfigError
from evolve.knowledge import KnowledgeBase, KnowledgeBaseError

ROOT = Path(__file__).resolve().parent.parent
SUMMARY_KEYS = {"evaluations_total", "evaluations_by_stage", "failed", "hypervolume", "pareto_front", "kb_path",
                "mlflow_tracking_uri", "mlflow_run_id", "wall_seconds", "device_seconds"}


def test_campaign_uses_every_stage_and_records_failures(tmp_path, numeric_cfg):
    cfg = numeric_cfg(["campaign.cycles=3"], hostile=True)
    cfg["executor"]["time_limit_s"] = 8.0
    summary = Campaign(cfg, tmp_path / "run", ROOT).run()

    assert SUMMARY_KEYS <= set(summary)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["evaluations_total"] == summary["evaluations_total"]
    assert all(summary["evaluations_by_stage"][s] >= 1 for s in ("isolated", "cross", "full"))
    assert summary["failed"] == 3
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", cfg["campaign"]["name"]).open()
    reasons = " | ".join(c.reason for c in kb.candidates(status="failed"))
    assert "non-finite loss at step 3" in reasons
    assert "timeout" in reasons and "crash" in reasons
    assert kb.integrity_errors() == []
    # runs: one row per (candidate, domain, seed); the full stage's 2 seeds make them outnumber candidates
    assert summary["runs_total"] == len(kb.evaluations()) == sum(summary["runs_by_stage"].values())
    assert summary["runs_by_stage"]["full"] == 2 * summary["evaluations_by_stage"]["full"]
    assert summary["hypervolume"] > 0 and summary["pareto_front"]
    assert len(kb.analyses()) == 3 and kb.agenda()
    assert (tmp_path / "run" / "report.md").exists() and (tmp_path / "run" / "pareto_front.png").exists()


def test_rerun_with_more_cycles_resumes_without_repeating(tmp_path, numeric_cfg, monkeypatch):
    log = tmp_path / "evals.log"
    monkeypatch.setenv("EVOLVE_TEST_LOG", str(log))
    Campaign(numeric_cfg(["campaign.cycles=2"], hostile=False), tmp_path / "run", ROOT).run()
    first = log.read_text().splitlines()
    summary = Campaign(numeric_cfg(["campaign.cycles=3"], hostile=False), tmp_path / "run", ROOT).run()
    lines = log.read_text().splitlines()
    assert len(lines) > len(first)
    assert not [k for k, n in Counter(lines).items() if n > 1], "an evaluation ran twice"
    assert summary["cycles_done"] == 3


def test_foreign_or_corrupt_knowledge_base_is_refused_untouched(tmp_path):
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE users (name TEXT)")
    con.commit()
    con.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    for path in (foreign, junk):
        before = path.read_bytes()
        with pytest.raises(KnowledgeBaseError):
            KnowledgeBase(path, "evolve").open()
        assert path.read_bytes() == before
    KnowledgeBase(tmp_path / "mine.db", "one").open().close()
    with pytest.raises(KnowledgeBaseError, match="belongs to campaign 'one'"):
        KnowledgeBase(tmp_path / "mine.db", "two").open()


def _promoted(kb: KnowledgeBase, stage: str) -> int:
    """Candidates promoted into `stage` over the campaign (a cycle may promote an earlier cycle's genome)."""
    before = {"cross": "isolated", "full": "cross"}[stage]
    return sum(c.promoted for c in kb.candidates(stage=before))


def test_stage_budgets_promote_fewer_triples_when_several_domains_score_each(tmp_path, numeric_cfg):
    """max_evaluations caps a stage's promotions per cycle in evaluations: a triple scored by two domains
    costs twice what a one-domain genome does, so the same budget promotes half as many."""
    caps = ["scale.stages.cross.max_evaluations=4", "scale.stages.full.max_evaluations=4", "campaign.cycles=2",
            "campaign.p_pass=1.0", "tracking.enabled=false"]
    one = numeric_cfg(caps, hostile=False)
    two = numeric_cfg(caps, hostile=False)
    two["domains"]["other"] = {**two["domains"]["numeric"], "problem": "zdt2",
                               "plugin": "tests.hostile_domain:SecondNumericDomain"}
    Campaign(one, tmp_path / "one", ROOT).run()
    summary = Campaign(two, tmp_path / "two", ROOT).run()
    kb_one = KnowledgeBase(tmp_path / "one" / "knowledge.db", one["campaign"]["name"]).open()
    kb_two = KnowledgeBase(tmp_path / "two" / "knowledge.db", two["campaign"]["name"]).open()
    # one domain (p_pass 1 would promote everything): cycle 0 has 2 fresh genomes, cycle 1 has 5, of which
    # 4 fit (1 seed each) -> 6 into cross; 2 per cycle into full (2 seeds each)
    assert (_promoted(kb_one, "cross"), _promoted(kb_one, "full")) == (6, 4)
    # two domains: a triple costs 2 evaluations per seed -> 2 per cycle into cross, 1 into full
    assert (_promoted(kb_two, "cross"), _promoted(kb_two, "full")) == (4, 2)
    assert all(summary["evaluations_by_stage"][s] >= 1 for s in ("isolated", "cross", "full"))


def test_a_domain_under_a_foreign_key_is_refused(tmp_path, numeric_cfg):
    cfg = numeric_cfg(["tracking.enabled=false"], hostile=False)
    cfg["domains"]["other"] = dict(cfg["domains"]["numeric"])  # builds a domain named "numeric"
    with pytest.raises(ConfigError, match="domains.other builds a domain named 'numeric'"):
        Campaign(cfg, tmp_path / "run", ROOT)
