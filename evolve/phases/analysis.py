"""Analyze: test and mine hypotheses over genome features, ask the LLM analyst, set the agenda,
record the cycle's figures and log them to the tracker."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from domains.base import STAGES
from evolve import analyst, llm_analyst, verdicts
from evolve.phases.context import Context
from evolve.phases.outputs import write_summary


def analyze(ctx: Context, cycle: int) -> None:
    acfg = ctx.cfg["analysis"]
    archive, kb = ctx.archive, ctx.kb
    records = archive.genome_records()
    kw = dict(min_group=int(acfg["min_group"]), confidence=float(acfg["confidence"]),
              n_resamples=int(acfg["bootstrap"]))
    changes = []
    enabled = bool(acfg.get("enabled", True))  # false (the no_analysis arm): no hypotheses, no agenda
    before = {h["id"]: h["status"] for h in kb.hypotheses()}
    # the live hypotheses at a look this cycle are one family: FDR over them, alpha spent per look
    tests = dict(looks=int(acfg.get("looks", 4)), fdr=float(acfg.get("fdr", 0.05)),
                 fdr_method=str(acfg.get("fdr_method", "bh")))
    for new in analyst.judge_cycle(kb.hypotheses() if enabled else [], records, cycle, **tests, **kw):
        if new["status"] != before[new["id"]]:
            changes.append({"id": new["id"], "from": before[new["id"]], "to": new["status"],
                            "statement": new["statement"]})
        kb.upsert_hypothesis(new)
    existing = {h["id"] for h in kb.hypotheses()}
    for name in ctx.names if enabled else []:
        for h in analyst.mine_hypotheses(records, name, cycle, existing,
                                         limit=int(acfg["max_new_hypotheses"]), **kw):
            kb.upsert_hypothesis(h)
            changes.append({"id": h["id"], "from": None, "to": "active", "statement": h["statement"]})
    llm_report = llm_analysis(ctx, cycle, records, int(acfg["min_group"]), changes) if enabled else None
    agenda = (analyst.agenda(progress(ctx, records, cycle, int(acfg["agenda_window"])), float(acfg["agenda_floor"]))
              if enabled else [])  # no agenda: the next cycle splits its proposals evenly
    counts = archive.evaluation_counts()
    cycle_cands = [c for c in kb.candidates(stage="isolated", cycle=cycle) if c.focus != "all"]
    valid = sum(c.status != "invalid" for c in cycle_cands)
    hv = archive.hypervolume()
    report = {"evaluations": counts, "hypervolume": hv,
              "hypervolume_by_stage": {s: archive.hypervolume(s) for s in STAGES},
              "best_perf": archive.best_perf(), "hypothesis_changes": changes,
              "valid_proposal_rate": valid / len(cycle_cands) if cycle_cands else 1.0,
              "incumbents": archive.incumbents(),
              "device_seconds": archive.device_seconds(), "llm_analysis": llm_report}
    kb.record_analysis(cycle, report, agenda)
    metrics = {"hypervolume": hv, "evaluations": counts["total"], "failed": counts["failed"],
               "invalid": counts["invalid"], "device_seconds": report["device_seconds"],
               "valid_proposal_rate": report["valid_proposal_rate"],
               **{f"best_perf.{d}": p for d, p in report["best_perf"].items()},
               **{f"hypervolume.{s}": v for s, v in report["hypervolume_by_stage"].items()},
               **{f"agenda_share.{a['domain']}": a["share"] for a in agenda},
               "hypotheses.active": len(kb.hypotheses("active")),
               "hypotheses.supported": len(kb.hypotheses("supported")),
               "runs_auxiliary": counts["runs_auxiliary"], "runs_reused": counts["runs_reused"],
               **{f"gain_unit.{d}": u.value for d, u in archive.gain_units().items()},
               **verdicts.fidelity_metrics(archive.fidelity(int(acfg["bootstrap"]))),
               **verdicts.coupling_metrics(archive.coupling(int(acfg["bootstrap"]))),
               **llm_cycle_metrics(ctx, cycle)}
    ctx.tracker.log_cycle(cycle, metrics)
    for ch in changes:
        ctx.progress.log(f"hypothesis {ch['from'] or 'new'} -> {ch['to']}: {ch['statement']}")
    write_summary(ctx)


def llm_analysis(ctx: Context, cycle: int, records: list[analyst.GenomeRecord], min_group: int,
                 changes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The LLM analyst's hypotheses and retirement requests (evidence decides; see evolve/llm_analyst.py)."""
    conn, kb = ctx.llm, ctx.kb
    if conn.client is None or not conn.settings.analyst or not records:
        return None
    hyps = kb.hypotheses()
    texts = {r.gid: kb.genome(r.gid)["text"][: conn.settings.text_max_chars] for r in records}
    answer = llm_analyst.run(conn.client, records, texts, hyps, ctx.names, cycle,
                             max_hypotheses=conn.settings.analyst_max_hypotheses)
    if answer is None:
        return None
    for row in llm_analyst.apply_retirements(answer, hyps, cycle, min_group):
        kb.upsert_hypothesis(row)
        if row["status"] == "retired":
            changes.append({"id": row["id"], "from": "active", "to": "retired", "statement": row["statement"]})
    for h in llm_analyst.new_hypotheses(answer, cycle, {h["id"] for h in hyps}):
        kb.upsert_hypothesis(h)
        changes.append({"id": h["id"], "from": None, "to": "active", "statement": f"[llm] {h['statement']}"})
    return answer


def llm_cycle_metrics(ctx: Context, cycle: int) -> dict[str, float]:
    if ctx.llm.client is None:
        return {}
    stats = ctx.archive.llm_stats(cycle)
    slots = int(ctx.kb.get_meta(f"llm_slots:{cycle}", 0))
    return {**{f"llm.{k}": float(v) for k, v in stats.items()},
            **({"llm.valid_proposal_rate": stats["valid_proposals"] / slots} if slots else {})}


def progress(ctx: Context, records: list[analyst.GenomeRecord], cycle: int, window: int) -> dict[str, float]:
    """Gain in best isolated perf (declared unit) over the last `window` cycles per device-hour spent on
    the domain, as the domain measures its cost (the cost objective's seconds: no scheduling noise)."""
    hours: dict[str, float] = defaultdict(float)
    cyc = {c.id: c.cycle for c in ctx.kb.candidates()}
    for ev in ctx.kb.evaluations():
        if cyc.get(ev.candidate, -1) > cycle - window:
            hours[ev.domain] += float(ev.cost.get("seconds", ev.seconds)) / 3600.0
    out = {}
    for name in ctx.names:
        now = [r.perf for r in records if r.domain == name and r.cycle <= cycle]
        before = [r.perf for r in records if r.domain == name and r.cycle <= cycle - window]
        gain = (max(now) - max(before)) if now and before else (max(now) if now else 0.0)
        out[name] = gain / hours[name] if hours[name] > 0 else 0.0
    return out
