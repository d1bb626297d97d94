"""Experiment: evaluate a stage's pending candidates on the executor, one committed result at a time.

Only what has no result yet is submitted, so a resumed stage finishes without repeating anything;
a candidate is settled (done / failed) as soon as its results are in, and the reference triple
failing stops the campaign (nothing can be normalised without it).
"""
from __future__ import annotations

import math

from domains.base import batch_evaluator
from evolve import references, reuse
from evolve.execution import Executor, TaskKey, evaluations
from evolve.execution.factory import local_workers
from evolve.execution.evaluations import Batching, EvaluationTask, Outcome
from evolve.knowledge import Candidate
from evolve.phases.context import Context


class CampaignError(RuntimeError):
    """The campaign cannot go on (e.g. the reference baseline itself fails)."""


def evaluate_stage(ctx: Context, stage: str, cycle: int, executor: Executor) -> None:
    spec = ctx.stage_specs[stage]
    pending = ctx.kb.candidates(stage=stage, status="pending")
    if not pending:
        return
    # a cut-off stage still has its reference, then the auxiliary references the candidates are measured against
    pending.sort(key=lambda c: (not ctx.archive.is_reference(c), not references.is_auxiliary(c)))
    done = ctx.kb.done_keys()
    seeds = spec.seed_list(ctx.seed)
    allowed = ctx.archive.evaluations_left()
    reads = reuse.reads_of(ctx.domains)
    earlier = reuse.index(ctx.kb, {s: ctx.stage_specs[s].fraction for s in ctx.stages}, reads)
    tasks: list[EvaluationTask] = []
    copies: list[Outcome] = []  # results of identical earlier runs, recorded without running
    first: dict[reuse.InputKey, TaskKey] = {}  # this stage's identical tasks run once ...
    followers: dict[TaskKey, list[TaskKey]] = {}  # ... and the others take that run's outcome
    for cand in pending:
        triple_json = {n: ctx.kb.genome(g)["json"] for n, g in cand.triple.items()}
        for name in ctx.domains_of(cand):
            for seed in seeds:
                planned = len(tasks) + len(copies) + sum(map(len, followers.values()))
                if (cand.id, name, seed) in done or (allowed is not None and planned >= allowed):
                    continue
                key = TaskKey(cand.id, name, seed)
                inputs = reuse.input_key(name, cand.triple, stage, spec.fraction, seed, reads)
                if inputs in earlier:
                    ev = earlier[inputs]
                    copies.append(reuse.follower_outcome(
                        Outcome(key, None, ev, ctx.kb.curves(ev.candidate, ev.domain, ev.seed)), key))
                elif inputs in first:
                    followers[first[inputs]].append(key)
                else:
                    first[inputs] = key
                    followers[key] = []
                    tasks.append(EvaluationTask(key, ctx.stage_domain_cfgs[stage], triple_json, stage, spec.fraction))
    by_id = {c.id: c for c in pending}
    total = len(tasks) + len(copies) + sum(map(len, followers.values()))

    def outcomes():
        yield from copies
        for outcome in evaluations.run(executor, tasks, batching(ctx)):
            yield outcome
            for key in followers.get(outcome.key, []):
                yield reuse.follower_outcome(outcome, key)

    for finished, outcome in enumerate(outcomes(), 1):
        record(ctx, outcome, stage)
        finish_candidate(ctx, by_id[outcome.key.candidate], seeds)
        hv = append_hv_curve(ctx)
        ctx.progress.update(cycle=cycle, cycles=ctx.cycles, stage=stage, done=finished, total=total,
                            best=ctx.archive.best_perf(), hypervolume=hv, note=note(outcome))
    for cand in pending:
        finish_candidate(ctx, cand, seeds)
    append_hv_history(ctx)


def batching(ctx: Context) -> Batching:
    """Batches for the domains that offer `evaluate_batch`, `executor.batch_size` evaluations at most (1: none)."""
    ecfg = ctx.cfg.get("executor") or {}
    return Batching(domains=[n for n, d in ctx.domains.items() if batch_evaluator(d) is not None],
                    max_size=int(ecfg.get("batch_size", 1)),
                    workers=local_workers(ecfg, str(ctx.cfg["scale"].get("device", "cpu"))))


def record(ctx: Context, outcome: Outcome, stage: str) -> None:
    """Commit one result (with its perf against the stage's reference) and log it to the tracker."""
    ev, key = outcome.evaluation, outcome.key
    if not ctx.kb.record_evaluation(ev, curves=outcome.curves, reference=ctx.archive.reference_id(stage),
                                    normalise=ctx.domains[key.domain].normalise) or \
            not (ctx.cfg.get("tracking") or {}).get("log_children", True):
        return
    texts = {f"genome_{n}.txt": ctx.kb.genome(g)["text"] for n, g in ctx.kb.candidate(key.candidate).triple.items()}
    metrics = {"score": ev.score if ev.score is not None else math.nan, "eval_seconds": ev.seconds,
               **{f"cost.{k}": v for k, v in ev.cost.items()}, **{f"details.{k}": v for k, v in ev.details.items()}}
    ctx.tracker.log_evaluation(f"{stage}/{key.domain}/{key.candidate[:8]}/seed{key.seed}",
                               params={"stage": stage, "domain": key.domain, "seed": key.seed,
                                       "candidate": key.candidate},
                               metrics=metrics, tags={"status": ev.status, "reason": ev.reason[:4000]}, texts=texts)


def note(outcome: Outcome) -> str:
    result = outcome.result
    if result is None or result.task_id != outcome.key:  # a reused result (evolve/reuse.py)
        return f"{outcome.key}: {outcome.evaluation.status}, {outcome.evaluation.reason[:120]}"
    return (f"{outcome.key}: ok in {result.seconds:.1f}s" if result.status == "ok"
            else f"{outcome.key}: {result.status}: {result.reason[:160]}")


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
    """[evaluations recorded, pooled hypervolume] after each stage: the report's hypervolume curve. The x-axis
    counts (candidate, domain, seed) results as campaign.budget.evaluations does, like hv_curve's."""
    hist = ctx.kb.get_meta("hv_history", [])
    n = ctx.archive.evaluations_recorded()
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
