"""One unit of gain: a domain's raw score scale must not decide anything the campaign does."""
from __future__ import annotations

from pathlib import Path

import pytest

from evolve.campaign import Campaign
from evolve.knowledge import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent


def _campaign(tmp_path: Path, numeric_cfg, scale: float) -> tuple[list, list, list, dict]:
    cfg = numeric_cfg(["campaign.cycles=3", "campaign.proposals_per_cycle=6", "scale.stages.full.coupling=true"],
                      hostile=False)
    cfg["domains"]["numeric2"] = {"plugin": "tests.numeric_domain:SecondNumericDomain", "n_var": 5,
                                  "problem": "zdt2", "score_scale": scale, "scales": {"tiny": {}}}
    cfg["analysis"]["coupling_pairs"] = [["numeric", "numeric2"]]
    run = tmp_path / f"scale{scale:g}"
    summary = Campaign(cfg, run, ROOT).run()
    kb = KnowledgeBase(run / "knowledge.db", cfg["campaign"]["name"]).open()
    promoted = sorted((c.stage, c.id) for c in kb.candidates() if c.promoted)
    front = sorted(f["candidate"] for f in summary["pareto_front"])
    agenda = [(a["cycle"], a["domain"], a["share"]) for a in kb.agenda()]
    kb.close()
    return promoted, front, agenda, summary


@pytest.mark.slow  # two 3-cycle campaigns over two numeric domains
def test_scaling_one_domains_raw_scores_by_100_changes_no_decision(tmp_path, numeric_cfg):
    promoted, front, agenda, summary = _campaign(tmp_path, numeric_cfg, 1.0)
    promoted100, front100, agenda100, summary100 = _campaign(tmp_path, numeric_cfg, 100.0)
    assert promoted and front and agenda
    # the unit absorbs the scale: perf per domain is the same number
    assert summary100["gain_units"]["numeric2"]["value"] == pytest.approx(100 * summary["gain_units"]["numeric2"]["value"])
    assert summary100["best_perf"] == pytest.approx(summary["best_perf"])
    # the two numeric domains ignore each other: the factorial measures no coupling, and its cells were runs
    full = [e for e in summary["coupling"] if e["stage"] == "full" and e["n"] > 0]
    assert full and summary["runs_auxiliary"] > 0
    assert all(e["interaction"]["estimate"] == pytest.approx(0.0, abs=1e-9) for e in full)
    assert all(e["main_b" if e["response"] == "numeric" else "main_a"]["estimate"] == pytest.approx(0.0, abs=1e-9)
               for e in full)  # a domain's genome does not move the other's score
    assert set(summary["fidelity"]) == {"numeric", "numeric2"}
    assert promoted100 == promoted
    assert front100 == front
    assert [a[:2] for a in agenda100] == [a[:2] for a in agenda]
    assert [a[2] for a in agenda100] == pytest.approx([a[2] for a in agenda], rel=1e-9)
