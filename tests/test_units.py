"""One unit of gain: a domain's raw score scale must not decide anything the campaign does."""
from __future__ import annotations

from pathlib import Path

import pytest

from evolve.campaign import Campaign
from evolve.knowledge import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent


def _campaign(tmp_path: Path, numeric_cfg, scale: float) -> tuple[list, list, list]:
    cfg = numeric_cfg(["campaign.cycles=3", "campaign.proposals_per_cycle=6"], hostile=False)
    cfg["domains"]["numeric2"] = {"plugin": "tests.numeric_domain:SecondNumericDomain", "n_var": 5,
                                  "problem": "zdt2", "score_scale": scale, "scales": {"tiny": {}}}
    run = tmp_path / f"scale{scale:g}"
    summary = Campaign(cfg, run, ROOT).run()
    kb = KnowledgeBase(run / "knowledge.db", cfg["campaign"]["name"])
    promoted = sorted((c.stage, c.id) for c in kb.candidates() if c.promoted)
    front = sorted(f["candidate"] for f in summary["pareto_front"])
    agenda = [(a["cycle"], a["domain"], a["share"]) for a in kb.agenda()]
    kb.close()
    return promoted, front, agenda


@pytest.mark.slow  # two 3-cycle campaigns over two numeric domains
def test_scaling_one_domains_raw_scores_by_100_changes_no_decision(tmp_path, numeric_cfg):
    promoted, front, agenda = _campaign(tmp_path, numeric_cfg, 1.0)
    promoted100, front100, agenda100 = _campaign(tmp_path, numeric_cfg, 100.0)
    assert promoted and front and agenda
    assert promoted100 == promoted
    assert front100 == front
    assert [a[:2] for a in agenda100] == [a[:2] for a in agenda]
    assert [a[2] for a in agenda100] == pytest.approx([a[2] for a in agenda], rel=1e-9)
