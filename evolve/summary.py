"""summary.json: a run's headline figures, read from its knowledge base through the archive read-model."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from domains.base import STAGES
from evolve.archive import Archive
from evolve.knowledge import KnowledgeBase


def build(kb: KnowledgeBase, archive: Archive, cfg: Mapping[str, Any], *, run_dir: Path, designer: str,
          llm_note: str, llm_mode: str, wall_seconds: float) -> dict[str, Any]:
    counts = archive.evaluation_counts()
    return {
        "campaign": str(cfg["campaign"]["name"]), "domains": list(archive.names), "scale": cfg["scale"]["name"],
        "cycles_done": archive.cycles_done(), "cycles": archive.settings.cycles,
        "evaluations_total": counts["total"], "evaluations_by_stage": counts["by_stage"],
        "runs_total": counts["runs"], "runs_by_stage": counts["runs_by_stage"],
        # runs of partner-matched references and coupling cells: included in runs_total and in the budget
        "runs_auxiliary": counts["runs_auxiliary"], "runs_auxiliary_by_stage": counts["runs_auxiliary_by_stage"],
        "runs_auxiliary_are": "partner-matched references and coupling cells (evolve/references.py): one run per "
                              "(stage, triple, domain, seed), planned once and shared by every candidate that needs "
                              "it; counted in runs_total, device_seconds and the evaluation budget, never as "
                              "evaluated candidates",
        "runs_reused": counts["runs_reused"],
        "runs_reused_are": "runs recorded from an identical earlier run (same genomes read, stage budget and seed: "
                           "evolve/reuse.py): included in runs_total and the evaluation budget, 0 device seconds",
        "failed": counts["failed"], "invalid": counts["invalid"],
        "hypervolume": archive.hypervolume(),
        "hypervolume_by_stage": {s: archive.hypervolume(s) for s in STAGES},
        "hypervolume_history": kb.get_meta("hv_history", []),
        "hypervolume_x": "evaluations: (candidate, domain, seed) results recorded, as campaign.budget.evaluations "
                         "counts them (auxiliary reference runs included)",
        "gain_units": {d: {"value": u.value, "source": u.source} for d, u in archive.gain_units().items()},
        "fidelity": archive.fidelity(int(cfg["analysis"]["bootstrap"])),
        "coupling": archive.coupling(int(cfg["analysis"]["bootstrap"])),
        "pareto_front": archive.pareto_front(), "best_perf": archive.best_perf(),
        "incumbents": archive.incumbents(),
        "hypotheses": {s: len(kb.hypotheses(s)) for s in ("active", "supported", "refuted", "retired")},
        "designer": designer,
        "llm": {"mode": kb.get_meta("llm_mode") or llm_mode, "note": llm_note, **archive.llm_stats(),
                "model": kb.get_meta("llm_model")},
        "kb_path": str(kb.path.resolve()),
        "mlflow_tracking_uri": kb.get_meta("mlflow_tracking_uri"),
        "mlflow_run_id": kb.get_meta("mlflow_run_id"),
        "wall_seconds": wall_seconds, "device_seconds": archive.device_seconds(),
        "report": str((Path(run_dir) / "report.md").resolve()),
        "budget": {"evaluations": archive.settings.budget_evaluations,
                   "evaluations_recorded": archive.evaluations_recorded(), "reached": archive.budget_reached()},
        "complete": archive.complete(),
    }


def write(run_dir: Path, summary: Mapping[str, Any]) -> None:
    """Atomically: a reader never sees half a summary."""
    tmp = Path(run_dir) / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=float))
    tmp.replace(Path(run_dir) / "summary.json")
