"""Reading an ablation's runs back from their knowledge bases (the only source of its numbers).

Each run directory holds one campaign's `knowledge.db`; its stored config names the arm
(`ablation.arm`) and the seed. The final hypervolume is recomputed from the evaluations
(as `python -m evolve.report RUN_DIR` does), the curve is the campaign's `hv_curve`
(hypervolume after every recorded evaluation), costs and proposal validity are counted
from the tables.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from domains.base import STAGES
from evolve.archive import Archive, open_run
from evolve.plugins import domain_config


class AblationError(RuntimeError):
    """An ablation directory that cannot be compared (no runs, mixed domains, scales or budgets)."""


def run_dirs(root: Path) -> list[Path]:
    """Every run directory under an ablation directory (any depth; not the gallery's or the rediscovery targets'), in a stable order."""
    return sorted(p.parent for p in Path(root).rglob("knowledge.db") if p.parent.name not in ("gallery", "targets"))


def load_run(run_dir: Path) -> dict[str, Any]:
    """One run as plain data: arm, seed, final and curve hypervolume, costs, proposal validity, full-stage rows."""
    kb, cfg, archive = open_run(run_dir)
    try:
        arm = (cfg.get("ablation") or {}).get("arm")
        if not arm:
            raise AblationError(f"{run_dir} is a campaign but not an ablation arm (its config has no ablation.arm)")
        valid, invalid = _designed(archive)
        base = str((cfg.get("campaign") or {}).get("designer", "gp"))
        llm_used = kb.get_meta("llm_mode")  # set only when an LLM client was connected (not for GP-only runs)
        calls = kb.llm_calls()
        outcomes: dict[str, int] = {}
        for c in calls:
            outcomes[c["outcome"]] = outcomes.get(c["outcome"], 0) + 1
        full = [{"candidate": r.cand.id, "triple": r.cand.triple, "perf": r.perf, "perf_by_domain": r.perf_by_domain,
                 "baseline_only": all(kb.genome(g)["origin"].startswith("baseline:") for g in r.cand.triple.values()),
                 "reference": archive.is_reference(r.cand)} for r in archive.stage_rows("full")]
        scale = cfg["scale"]
        return {
            "arm": str(arm), "seed": int(cfg["seed"]), "run_dir": str(Path(run_dir)),
            "domains": list(archive.names), "scale": scale["name"],
            "budget": (cfg["campaign"].get("budget") or {}).get("evaluations"),
            "evaluations": archive.evaluations_recorded(), "complete": archive.complete(),
            "cycles_done": archive.cycles_done(),
            "final_hv": archive.hypervolume(), "hv_by_stage": {s: archive.hypervolume(s) for s in STAGES},
            "curve": [list(map(float, p)) for p in kb.get_meta("hv_curve", [])],
            "designer": f"llm+{base}" if llm_used else base, "llm_mode": llm_used or "none",
            "llm_model": kb.get_meta("llm_model"),
            "proposals_valid": valid, "proposals_invalid": invalid,
            "valid_proposal_rate": valid / (valid + invalid) if valid + invalid else None,
            "llm_calls": len(calls), "llm_outcomes": outcomes,
            "llm_valid_response_rate": outcomes.get("ok", 0) / len(calls) if calls else None,
            "llm_tokens": int(sum((c["prompt_tokens"] or 0) + (c["completion_tokens"] or 0) for c in calls)),
            "device_seconds": archive.device_seconds(), "wall_seconds": float(kb.get_meta("wall_seconds_before", 0.0)),
            "mlflow_run_id": kb.get_meta("mlflow_run_id"), "mlflow_tracking_uri": kb.get_meta("mlflow_tracking_uri"),
            "domain_configs": {n: domain_config(raw, scale["name"], scale["device"]) for n, raw in cfg["domains"].items()},
            "executor": cfg["executor"], "campaign": str(cfg["campaign"]["name"]),
            "full_fraction": float(scale["stages"]["full"]["fraction"]),
            "full_stage": full,
        }
    finally:
        kb.close()


def _designed(archive: Archive) -> tuple[int, int]:
    """Designer output that reached the archive: isolated candidates of a non-baseline genome, valid or
    `invalid` (failed check). Duplicates are retried for free and never stored, so they do not count."""
    valid = invalid = 0
    for c in archive.kb.candidates(stage="isolated"):
        if c.focus not in c.triple or archive.kb.genome(c.triple[c.focus])["origin"].startswith("baseline:"):
            continue
        if c.status == "invalid":
            invalid += 1
        else:
            valid += 1
    return valid, invalid


def load_runs(root: Path) -> list[dict[str, Any]]:
    """All runs of an ablation directory, checked to be comparable (same domains, scale, budget)."""
    dirs = run_dirs(root)
    if not dirs:
        raise AblationError(f"no runs under {root}: run `python -m evolve.ablation run --dir {root}` first")
    runs = [load_run(d) for d in dirs]
    over = [r["run_dir"] for r in runs if r["budget"] and r["evaluations"] > r["budget"]]
    if over:
        raise AblationError(f"{', '.join(over)} recorded more evaluations than the budget of {runs[0]['budget']} "
                            "(a run continued under a lower budget?); arms compare only at equal cost: use a fresh --dir")
    for key in ("domains", "scale", "budget", "campaign"):
        values = {repr(r[key]) for r in runs}
        if len(values) > 1:
            raise AblationError(f"runs under {root} differ in {key} ({', '.join(sorted(values))}): arms compare "
                                "only at equal settings; use a fresh --dir for a new setting")
    return runs


def hv_summary(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, float)
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "min": float(arr.min()), "max": float(arr.max())}
