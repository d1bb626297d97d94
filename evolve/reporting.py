"""Gathering a run's plots and report from its knowledge base (the drawing lives in report.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from evolve import report


def lineage_nodes(campaign: Any) -> dict[str, dict[str, Any]]:
    perf = {r.gid: r.perf for r in campaign.genome_records()}
    return {g["id"]: {"parents": g["parents"], "label": f"{g['domain']}:{g['id'][:6]}", "perf": perf.get(g["id"]),
                      "origin": g["origin"]} for g in campaign.kb.genomes()}


def write_run_report(run_dir: Path, campaign: Any) -> Path:
    """Pareto front, hypervolume curve, lineage of the front's genomes and report.md in run_dir."""
    run_dir = Path(run_dir)
    rows, _ = campaign._front_points()
    front = campaign.pareto_front()
    front_ids = {f["candidate"] for f in front}
    nov = campaign.novelty_of([r.cand.id for r in rows]) if rows else {}
    points = [{"id": r.cand.id, "perf": r.perf, "cost": r.cost_ratio, "novelty": nov.get(r.cand.id, 0.0),
               "front": r.cand.id in front_ids, "stage": r.cand.stage} for r in rows]
    images = {"Pareto front (perf vs. cost relative to the reference)": "pareto_front.png",
              "Hypervolume over evaluations": "hypervolume.png",
              "Lineage of the front's genomes": "lineage.png"}
    report.plot_pareto(points, run_dir / "pareto_front.png")
    report.plot_hypervolume([tuple(h) for h in campaign.kb.get_meta("hv_history", [])], run_dir / "hypervolume.png")
    best = sorted({g for f in front for g in f["genomes"].values()})
    report.plot_lineage(lineage_nodes(campaign), best, run_dir / "lineage.png")
    summary = campaign.write_summary()
    return report.write_report(run_dir, summary, campaign.kb.hypotheses(), campaign.kb.agenda(), front, images)
