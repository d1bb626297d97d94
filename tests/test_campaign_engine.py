"""The LDEA loop end to end on a fast numeric domain: stages, failures, summary, resume."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
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


def _run_cli(run_dir: Path, tmp_path: Path, cycles: int, env: dict) -> subprocess.Popen:
    plugin = "tests.hostile_domain:HostileDomain"
    args = [sys.executable, "-m", "evolve", f"hydra.run.dir={run_dir}", f"campaign.cycles={cycles}",
            "llm=none", "progress=false", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"+domains.numeric.plugin={plugin}", "+domains.numeric.hostile=false",
            "+domains.numeric.delay_s=0.2", "+domains.numeric.scales={tiny: {}}"]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_sigkill_and_resume_loses_and_repeats_nothing(tmp_path):
    """Kill the driver with SIGKILL mid-campaign, twice, then resume to the end."""
    log, run_dir = tmp_path / "evals.log", tmp_path / "run"
    env = {**os.environ, "EVOLVE_TEST_LOG": str(log), "PYTHONPATH": str(ROOT)}
    for wait_lines in (4, 12):
        proc = _run_cli(run_dir, tmp_path, 3, env)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if log.exists() and len(log.read_text().splitlines()) >= wait_lines:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    before = sqlite3.connect(run_dir / "knowledge.db").execute(
        "SELECT candidate, domain, seed, score FROM evaluations ORDER BY id").fetchall()
    proc = _run_cli(run_dir, tmp_path, 3, env)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    kb = sqlite3.connect(run_dir / "knowledge.db")
    after = kb.execute("SELECT candidate, domain, seed, score FROM evaluations ORDER BY id").fetchall()
    assert after[: len(before)] == before, "a finished evaluation was lost or changed"
    runs = Counter(log.read_text().splitlines())
    # only an evaluation in flight at a kill may have run twice (at most one per kill, one worker)
    assert sum(n - 1 for n in runs.values()) <= 2
    assert json.loads((run_dir / "summary.json").read_text())["cycles_done"] == 3


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
