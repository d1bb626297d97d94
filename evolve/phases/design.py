"""Learn + Design: the designer breeds new genomes for the domains the agenda favours.

Each new genome becomes an isolated-stage candidate (its domain changed, the others at their
incumbents). Cycle 0 seeds the archive with the reference triple, every baseline and a few random
samples per domain. A phase is planned in one transaction with its marker, so it happens once.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from evolve import analyst, selection
from evolve.archive import candidate_id
from evolve.designers.gp import Proposal, Rejection
from evolve.phases.context import Context


def plan_design(ctx: Context, cycle: int) -> None:
    if ctx.planned(cycle, "design"):
        return
    rng = np.random.default_rng([ctx.seed, cycle, 1])
    slots = getattr(ctx.designer, "slots", 0)  # LLM proposal slots, for the valid-proposal rate
    with ctx.kb.transaction() as db:
        if cycle == 0:
            seed_archive(ctx, db, rng)
        else:
            incumbents = ctx.archive.incumbents()
            shares = ctx.kb.latest_agenda() or {n: 1.0 / len(ctx.names) for n in ctx.names}
            counts = analyst.split_proposals(shares, int(ctx.cfg["campaign"]["proposals_per_cycle"]), rng)
            for name in ctx.names:
                props, rejects = design(ctx, name, counts.get(name, 0), rng)
                store_proposals(ctx, db, name, props, rejects, incumbents, cycle)
        ctx.kb.set_meta(f"llm_slots:{cycle}", getattr(ctx.designer, "slots", 0) - slots, db)
        ctx.kb.set_meta(f"planned:{cycle}:design", True, db)


def seed_archive(ctx: Context, db: Any, rng: np.random.Generator) -> None:
    """Cycle 0: the reference triple, every baseline, and a few random genomes per domain."""
    for name in ctx.names:
        for bname, genome in ctx.domains[name].baselines().items():
            ctx.add_genome(db, name, genome, origin=f"baseline:{bname}", cycle=0)
    ctx.kb.add_candidate(db, cid=candidate_id("isolated", ctx.reference_triple), stage="isolated",
                         triple=ctx.reference_triple, focus="all", cycle=0)
    for name in ctx.names:
        for bname, genome in ctx.domains[name].baselines().items():
            gid = ctx.add_genome(db, name, genome, origin=f"baseline:{bname}", cycle=0)
            triple = {**ctx.reference_triple, name: gid}
            ctx.kb.add_candidate(db, cid=candidate_id("isolated", triple), stage="isolated", triple=triple,
                                 focus=name, cycle=0)
        known = {g["id"] for g in ctx.kb.genomes(name)}
        props, rejects = ctx.designer.propose(ctx.domains[name], [], np.zeros(0), np.zeros(0),
                                              int(ctx.cfg["campaign"]["initial_samples"]), rng, known)
        store_proposals(ctx, db, name, props, rejects, ctx.reference_triple, 0)


def design(ctx: Context, name: str, n: int, rng: np.random.Generator) -> tuple[list[Proposal], list[Rejection]]:
    """n proposals for `name`, bred from its isolated-stage parents ranked by Pareto order and crowding."""
    if n <= 0:
        return [], []
    pool = parent_pool(ctx, name)
    if pool:
        gids, F = zip(*pool)
        F = np.array(F)
        ranks = selection.pareto_ranks(F)
        crowd = selection.crowding_distances(F, ranks)
        parents = [(g, ctx.genome(g)) for g in gids]
    else:
        parents, ranks, crowd = [], np.zeros(0), np.zeros(0)
    known = {g["id"] for g in ctx.kb.genomes(name)}
    return ctx.designer.propose(ctx.domains[name], parents, ranks, crowd, n, rng, known, F=F if pool else None)


def store_proposals(ctx: Context, db: Any, name: str, props: list[Proposal], rejects: list[Rejection],
                    incumbents: Mapping[str, str], cycle: int) -> None:
    for p in props:
        ctx.add_genome(db, name, p.genome, origin=p.origin, parents=p.parents, cycle=cycle, provenance=p.provenance)
        triple = {**incumbents, name: p.gid}
        ctx.kb.add_candidate(db, cid=candidate_id("isolated", triple), stage="isolated", triple=triple,
                             focus=name, cycle=cycle)
        ctx.plan_references(db, "isolated", triple, name, cycle)
    for r in rejects:
        if not r.gid:
            continue
        ctx.add_genome(db, name, r.genome, origin=r.origin, parents=r.parents, cycle=cycle,
                       provenance=r.provenance or {"designer": ctx.designer.name}, valid=False)
        triple = {**incumbents, name: r.gid}
        ctx.kb.add_candidate(db, cid=candidate_id("isolated", triple), stage="isolated", triple=triple,
                             focus=name, cycle=cycle, status="invalid", reason=r.reason)


def parent_pool(ctx: Context, name: str) -> list[tuple[str, tuple[float, float, float]]]:
    """Genomes of `name` measured at the isolated stage, with their objectives (-perf, cost, -novelty)."""
    rows = [r for r in ctx.archive.stage_rows("isolated") if r.cand.focus in (name, "all")]
    if not rows:
        return []
    nov = ctx.archive.novelty_of([r.cand.id for r in rows])
    return [(r.cand.triple[name], (-r.perf_by_domain[name], r.cost_ratio, -nov[r.cand.id])) for r in rows]
