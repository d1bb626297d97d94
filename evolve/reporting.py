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


def campaign_from_run_dir(run_dir: Path) -> Any:
    """Rebuild a (read-mostly) Campaign from the config stored in a run's knowledge base."""
    import json
    import sqlite3

    from evolve.campaign import Campaign

    db = Path(run_dir) / "knowledge.db"
    if not db.exists():
        raise FileNotFoundError(f"{db} does not exist: is {run_dir} a run directory?")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
    finally:
        con.close()
    if row is None:
        raise ValueError(f"{db} holds no campaign config")
    cfg = json.loads(row[0])
    cfg = {**cfg, "tracking": {**cfg.get("tracking", {}), "enabled": False}, "progress": False,
           "llm": {**(cfg.get("llm") or {}), "mode": "none"}}
    return Campaign(cfg, Path(run_dir), Path(__file__).resolve().parent.parent)


def main(argv: list[str] | None = None) -> int:
    """`python -m evolve.report RUN_DIR`: recompute summary.json, plots and report.md from the knowledge base."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m evolve.report RUN_DIR", file=sys.stderr)
        return 2
    campaign = campaign_from_run_dir(Path(args[0]))
    try:
        path = write_run_report(Path(args[0]), campaign)
    finally:
        campaign.kb.close()
    print(path)
    return 0
