"""`python -m evolve.report` and `python -m evolve.ablation report` rebuild real runs of every domain and of
+domain=all from their knowledge bases alone (small budgets: the reference at the isolated stage)."""
from __future__ import annotations

import json

import pytest

from evolve.ablation.__main__ import main as ablation_main
from evolve.campaign import Campaign
from evolve.config import resolve
from evolve.report import main as report_main
from tests.conftest import ROOT, compose_config


@pytest.mark.slow
@pytest.mark.parametrize("domain, evaluations", [("arch", 1), ("rl", 1), ("data", 1), ("all", 3)])
def test_reports_rebuild_a_real_run(tmp_path, domain, evaluations):
    # an ablation arm (`gp`: the full method without an LLM), so the ablation report reads it too
    cfg = resolve(compose_config([f"+domain={domain}", "+ablation=gp", "progress=false", "tracking.enabled=false",
                                  "campaign.cycles=1", f"campaign.budget.evaluations={evaluations}",
                                  "executor.time_limit_s=3600", "executor.cpu_time_limit_s=7200"]))  # bounds, not races
    run = tmp_path / "runs" / domain
    Campaign(cfg, run, ROOT).run()
    for made in ("report.md", "summary.json", "pareto_front.png", "lineage.png"):
        (run / made).unlink()
    assert report_main([str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["evaluations_total"] >= 1 and sorted(summary["domains"]) == sorted(cfg["domains"])
    text = (run / "report.md").read_text()
    assert f"## Pareto front ({len(summary['pareto_front'])} genomes)" in text
    assert (run / "pareto_front.png").exists() and (run / "lineage.png").exists()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert ablation_main(["report", str(tmp_path / "runs"), "--tracking-uri", uri]) == 0
    assert (tmp_path / "runs" / "ablation.md").exists()
