"""Promotion: the best p_pass of a stage's fresh results, by Pareto order over (a gain per domain, cost,
novelty; docs/selection.md), move on to the next stage (cross: recombined with the other domains' top
genomes, a non-reference one in each domain coupled with the candidate's so the coupling factorial
exists; full: as they are), each with the auxiliary references it is measured against."""
from __future__ import annotations

import numpy as np

from evolve import selection, stages
from evolve.archive import candidate_id
from evolve.phases.context import Context


def plan_promotions(ctx: Context, stage: str, cycle: int) -> None:
    if ctx.planned(cycle, stage):
        return
    archive = ctx.archive
    prev = ctx.stages[ctx.stages.index(stage) - 1]
    rows = archive.stage_rows(prev)
    fresh = [r for r in rows if r.cand.cycle == cycle and not archive.is_reference(r.cand)]
    spec = ctx.stage_specs[stage]
    top_k = int(ctx.cfg["campaign"]["cross_top_k"])
    triples_each = 1 if stage == "full" else max(1, top_k ** 2)
    n = stages.promotion_count(len(fresh), float(ctx.cfg["campaign"]["p_pass"]),
                               evaluations_each=triples_each * len(ctx.names) * spec.seeds,
                               max_evaluations=spec.max_evaluations)
    with ctx.kb.transaction() as db:
        if n:
            nov = archive.novelty_of([r.cand.id for r in rows])
            F = stages.promotion_objectives([r.perf_by_domain for r in rows], ctx.names,
                                            np.array([r.cost_ratio for r in rows]),
                                            np.array([nov[r.cand.id] for r in rows]))
            eligible = [not r.cand.promoted and not archive.is_reference(r.cand) for r in rows]
            # ties between a front's extremes: improvements first, then the domain promoted least, then perf
            groups = [r.cand.focus for r in rows]
            taken: dict[str, int] = {}
            for r in rows:
                taken[r.cand.focus] = taken.get(r.cand.focus, 0) + int(r.cand.promoted)
            chosen = [rows[i].cand for i in stages.choose_shared_promotions(
                F, eligible, n, [r.perf for r in rows], groups, taken)]
            if chosen:
                ctx.kb.add_candidate(db, cid=candidate_id(stage, ctx.reference_triple), stage=stage,
                                     triple=ctx.reference_triple, focus="all", cycle=cycle)
            top = {d: archive.top_genomes(d, top_k) for d in ctx.names}
            pairs = archive.settings.coupling_pairs
            challengers = {d: [g for g in archive.top_genomes(d, top_k + 1) if g != ctx.reference_triple[d]][:top_k]
                           for d in ctx.names} if pairs else {}
            for cand in chosen:
                ctx.kb.mark_promoted(db, cand.id)
                pools = stages.coupled_pools(cand.focus, top, challengers, ctx.reference_triple, pairs)
                triples = ([cand.triple] if stage == "full" else
                           stages.cross_triples(cand.triple, cand.focus, pools, limit=triples_each))
                focus = cand.focus if len(ctx.names) == 1 else "all"
                for triple in triples:
                    ctx.kb.add_candidate(db, cid=candidate_id(stage, triple), stage=stage, triple=triple,
                                         focus=focus, cycle=cycle, source=cand.id)
                    ctx.plan_references(db, stage, triple, focus, cycle)
        ctx.kb.set_meta(f"planned:{cycle}:{stage}", True, db)
