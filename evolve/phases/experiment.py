"""Experiment: evaluate a stage's pending candidates on the executor, one committed result at a time.

Only what has no result yet is submitted, so a resumed stage finishes without repeating anything;
a candidate is settled (done / failed) as soon as its results are in, and the reference triple
failing stops the campaign (nothing can be normalised without it).
"""
from __future__ import annotations

import math

from evolve.executor import TaskResult
from evolve.execution import Executor
from evolve.knowledge import Candidate, Evaluation
from evolve.phases.context import Context


class CampaignError(RuntimeError):
    """The campaign cannot go on (e.g. the reference baseline itself fails)."""


def evaluate_stage(ctx: Context, stage: str, cycle: int, executor: Executor) -> None:
    spec = ctx.stage_specs[stage]
    pending = ctx.kb.candidates(stage=stage, status="pending")
    if not pending:
        return
    pending.sort(key=lambda c: not ctx.archive.is_reference(c))  # a cut-off stage still has its reference
    done = ctx.kb.done_keys()
    seeds = spec.seed_list(ctx.seed)
    allowed = ctx.archive.evaluations_left()
    tasks = 0
    for cand in pending:
        triple_json = {n: ctx.kb.genome(g)["json"] for n, g in cand.triple.items()}
        for name in ctx.domains_of(cand):
            for seed in seeds:
                if (cand.id, name, seed) in done or (allowed is not None and tasks >= allowed):
                    continue
                executor.submit(f"{cand.id}|{name}|{seed}", {
                    "configs": ctx.stage_domain_cfgs[stage], "domain": name, "triple": triple_json,
                    "stage": stage, "fraction": spec.fraction, "seed": seed})
                tasks += 1
    by_id = {c.id: c for c in pending}
    finished = 0
    for result in executor.results():
        finished += 1
        record(ctx, result, stage)
        finish_candidate(ctx, by_id[result.task_id.split("|")[0]], seeds)
        hv = append_hv_curve(ctx)
        ctx.progress.update(cycle=cycle, cycles=ctx.cycles, stage=stage, done=finished, total=tasks,
                            best=ctx.archive.best_perf(), hypervolume=hv, note=note(result))
    for cand in pending:
        finish_candidate(ctx, cand, seeds)
    append_hv_history(ctx)


def record(ctx: Context, result: TaskResult, stage: str) -> None:
    """Commit one result (with its perf against the stage's reference) and log it to the tracker."""
    cid, name, seed = result.task_id.split("|")
    value = result.value if result.status == "ok" else {}
    ev = Evaluation(candidate=cid, domain=name, seed=int(seed), status=result.status,
                    score=float(value["score"]) if value else None, cost=dict(value.get("cost", {})),
                    details=dict(value.get("details", {})), behaviour=list(value.get("behaviour", [])),
                    reason=result.reason, seconds=float(result.seconds))
    if not ctx.kb.record_evaluation(ev, curves=value.get("curves"), reference=ctx.archive.reference_id(stage),
                                    normalise=ctx.domains[name].normalise) or \
            not (ctx.cfg.get("tracking") or {}).get("log_children", True):
        return
    texts = {f"genome_{n}.txt": ctx.kb.genome(g)["text"] for n, g in ctx.kb.candidate(cid).triple.items()}
    metrics = {"score": ev.score if ev.score is not None else math.nan, "eval_seconds": ev.seconds,
               **{f"cost.{k}": v for k, v in ev.cost.items()}, **{f"details.{k}": v for k, v in ev.details.items()}}
    ctx.tracker.log_evaluation(f"{stage}/{name}/{cid[:8]}/seed{seed}",
                               params={"stage": stage, "domain": name, "seed": seed, "candidate": cid},
                               metrics=metrics, tags={"status": ev.status, "reason": ev.reason[:4000]}, texts=texts)


def note(result: TaskResult) -> str:
    cid, name, seed = result.task_id.split("|")
    what = f"{name} {cid[:8]} seed {seed}"
    return f"{what}: ok in {result.seconds:.1f}s" if result.status == "ok" else f"{what}: {result.status}: {result.reason[:160]}"


def finish_candidate(ctx: Context, cand: Candidate, seeds: list[int]) -> None:
    """Settle a candidate once all its evaluations are in (failed as soon as one fails)."""
    evs = [e for e in ctx.kb.evaluations(cand.id) if e.seed in seeds]
    failed = [e for e in evs if e.status != "ok"]
    if failed:
        ctx.kb.finish_candidate(cand.id, "failed", "; ".join(f"{e.domain}/seed {e.seed}: {e.status}: {e.reason}"
                                                           for e in failed)[:4000])
        if ctx.archive.is_reference(cand):
            raise CampaignError(f"the reference triple failed at the {cand.stage} stage: {failed[0].reason}")
    elif len(evs) == len(ctx.domains_of(cand)) * len(seeds):
        ctx.kb.finish_candidate(cand.id, "done")


def append_hv_history(ctx: Context) -> None:
    """[evaluated candidates, pooled hypervolume] after each stage: the report's hypervolume curve."""
    hist = ctx.kb.get_meta("hv_history", [])
    n = ctx.archive.evaluation_counts()["total"]
    if not hist or hist[-1][0] != n:
        hist.append([n, ctx.archive.hypervolume()])
        ctx.kb.set_meta("hv_history", hist)


def append_hv_curve(ctx: Context) -> float:
    """[evaluations recorded, pooled hypervolume] after each result: the x-axis ablations compare at.
    Returns the hypervolume, so the progress line reuses it instead of recomputing the fronts."""
    hv = ctx.archive.hypervolume()
    curve = ctx.kb.get_meta("hv_curve", [])
    curve.append([ctx.archive.evaluations_recorded(), hv])
    ctx.kb.set_meta("hv_curve", curve)
    return hv
