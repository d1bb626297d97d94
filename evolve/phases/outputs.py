"""Outputs: summary.json after every cycle, and at the end the report (plots + report.md), logged to MLflow."""
from __future__ import annotations

import time
from typing import Any

from evolve import summary
from evolve.phases.context import Context


def save_wall_time(ctx: Context) -> None:
    before = float(ctx.kb.get_meta("wall_seconds_before", 0.0))
    ctx.kb.set_meta("wall_seconds_before", before + time.time() - ctx.session_start)
    ctx.session_start = time.time()


def write_summary(ctx: Context) -> dict[str, Any]:
    wall = float(ctx.kb.get_meta("wall_seconds_before", 0.0)) + time.time() - ctx.session_start
    s = summary.build(ctx.kb, ctx.archive, ctx.cfg, run_dir=ctx.run_dir, designer=ctx.designer.name,
                      llm_note=ctx.llm.note, llm_mode=ctx.llm.settings.mode, wall_seconds=wall)
    summary.write(ctx.run_dir, s)
    return s


def write_report(ctx: Context) -> None:
    from evolve.report import write_run_report  # plots are slow to import; only at the end

    try:
        path = write_run_report(ctx.run_dir, ctx.kb, ctx.archive, write_summary(ctx))
        ctx.tracker.log_artifact(path.parent / "report.md")
        for png in path.parent.glob("*.png"):
            ctx.tracker.log_artifact(png, "plots")
    except Exception as exc:  # a report must never cost the campaign its results
        ctx.progress.log(f"report failed: {type(exc).__name__}: {exc}")
