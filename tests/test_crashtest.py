"""The kill-and-resume harness (tools/crashtest.py): a few real trials, and its checks can fail."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tools import crashtest
from evolve.campaign import Campaign

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_three_sigkill_trials_lose_and_repeat_nothing(tmp_path, capsys):
    code = crashtest.main(["--trials", "3", "--kills", "2", "--seed", "1", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3/3 trials passed" in out
    assert (tmp_path / "trial-002" / "knowledge.db").exists()


def test_invariant_checks_catch_a_broken_knowledge_base(tmp_path, numeric_cfg):
    cfg = numeric_cfg(["campaign.cycles=1", "tracking.enabled=false"], hostile=False)
    Campaign(cfg, tmp_path / "run", ROOT).run()
    kb_path = tmp_path / "run" / "knowledge.db"
    assert crashtest.invariant_errors(kb_path, complete=True) == []
    evaluations = crashtest.read_evaluations(kb_path)
    assert evaluations and all(status == "ok" for status, _ in evaluations.values())

    con = sqlite3.connect(kb_path)
    con.execute("DELETE FROM meta WHERE key = 'planned:0:cross'")
    cand, domain, seed = next(iter(evaluations))
    con.execute("UPDATE evaluations SET seed = 12345 WHERE candidate = ? AND domain = ? AND seed = ?",
                (cand, domain, seed))
    con.execute("UPDATE candidates SET status = 'pending' WHERE stage = 'full'")
    con.commit()
    con.close()
    errors = " | ".join(crashtest.invariant_errors(kb_path, complete=True))
    assert "phase cross was never planned" in errors
    assert "without its plan marker planned:0:cross" in errors
    assert "outside its stage's" in errors
    assert "still pending after the last cycle" in errors
