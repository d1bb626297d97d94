"""The LDEA loop end to end on a fast numeric domain: stages, failures, summary, resume (SIGKILL at random
moments: tests/test_crashtest.py)."""
from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from evolve.campaign import Campaign
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
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", cfg["campaign"]["name"])
    reasons = " | ".join(c.reason for c in kb.candidates(status="failed"))
    assert "non-finite loss at step 3" in reasons
    assert "timeout" in reasons and "crash" in reasons
    assert kb.integrity_errors() == []
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
            KnowledgeBase(path, "evolve")
        assert path.read_bytes() == before
    KnowledgeBase(tmp_path / "mine.db", "one").close()
    with pytest.raises(KnowledgeBaseError, match="belongs to campaign 'one'"):
        KnowledgeBase(tmp_path / "mine.db", "two")
