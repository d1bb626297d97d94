"""Gathering a run's figures: from the archive read-model and the knowledge base to plain data that
evolve/plots.py draws and evolve/report.py tabulates. No matplotlib here, no domain code, no JAX.

Shapes (extra keys are ignored):
  points     {"id", "perf", "cost", "novelty", "front": bool, "stage", "label"}
  history    [(evaluations, hypervolume), ...]
  nodes      {id: {"parents": [...], "label": str, "perf": float | None, "stage", "origin": str}}
  front      {"candidate" | "id", "stage", "stages", "genomes": {domain: genome id}, "perf",
              "perf_by_domain": {domain: perf}, "cost_ratio" | "cost", "novelty", "texts": {domain: text}}
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

MAX_LINEAGE_NODES = 60  # ancestry beyond this (nearest-first) is summarised, not drawn
STAGE_ORDER = ("isolated", "cross", "full")


def finite(x: Any) -> bool:
    try:
        return x is not None and not isinstance(x, bool) and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def stage_rank(stage: Any) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else -1


def front_line(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Front points ordered for drawing its staircase: by cost up, then perf down."""
    return sorted(points, key=lambda p: (p[0], -p[1]))


def genome_key(genomes: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What a front entry *is*, whatever stage measured it: its domain -> genome id mapping."""
    return tuple(sorted(dict(genomes or {}).items()))


def front_by_genome(front: Sequence[Mapping[str, Any]],
                    stages_of: Mapping[tuple, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """One entry per genome (triple) of the front: the one measured at its latest stage, with `stages`, the
    stages that genome passed (`stages_of[genome_key]`, else the stages it appears at on the front). The same
    Transformer at isolated, cross and full is one row, not three."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for f in front:
        groups.setdefault(genome_key(f.get("genomes") or {"": f.get("candidate", f.get("id"))}), []).append(f)
    out = []
    for key, entries in groups.items():
        latest = max(entries, key=lambda f: stage_rank(f.get("stage")))
        passed = set((stages_of or {}).get(key, ())) | {str(f.get("stage")) for f in entries}
        out.append({**latest, "stages": sorted(passed, key=stage_rank)})
    return out


def ancestry(nodes: Mapping[str, Mapping], best: Iterable[str], limit: int = MAX_LINEAGE_NODES) -> tuple[list[str], int]:
    """Ids of `best` and their ancestors, nearest first, at most `limit`; also how many
    ancestors were left out. Parents missing from `nodes` are kept (drawn as unknown)."""
    seen: dict[str, None] = {}
    queue = deque(dict.fromkeys(best))
    total: set[str] = set()
    while queue:
        nid = queue.popleft()
        if nid in total:
            continue
        total.add(nid)
        if len(seen) < limit:
            seen[nid] = None
        queue.extend(p for p in (nodes.get(nid, {}).get("parents") or []) if p not in total)
    return list(seen), len(total) - len(seen)


def generations(nodes: Mapping[str, Mapping], ids: Sequence[str]) -> dict[str, int]:
    """Layer of each id: 0 without (drawn) parents, else one below its deepest parent.
    Robust to cycles and unknown parents."""
    drawn = set(ids)
    parents = {i: [p for p in (nodes.get(i, {}).get("parents") or []) if p in drawn and p != i] for i in ids}
    gen: dict[str, int] = {}
    remaining = list(ids)
    while remaining:
        progressed = False
        for nid in list(remaining):
            if all(p in gen for p in parents[nid]):
                gen[nid] = 1 + max((gen[p] for p in parents[nid]), default=-1)
                remaining.remove(nid)
                progressed = True
        if not progressed:  # a cycle (should not happen): break it at the first node
            nid = remaining.pop(0)
            gen[nid] = 1 + max((gen[p] for p in parents[nid] if p in gen), default=-1)
    return gen


def layout(nodes: Mapping[str, Mapping], ids: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(x, y) per id: y = -generation; within a layer, order by the mean x of the parents
    (one barycentre sweep keeps most edges short), centred on 0."""
    gen = generations(nodes, ids)
    pos: dict[str, tuple[float, float]] = {}
    for layer in range(max(gen.values(), default=-1) + 1):
        members = [i for i in ids if gen[i] == layer]

        def key(nid: str) -> tuple[float, str]:
            xs = [pos[p][0] for p in (nodes.get(nid, {}).get("parents") or []) if p in pos]
            return (sum(xs) / len(xs) if xs else 0.0, nid)

        members.sort(key=key)
        for k, nid in enumerate(members):
            pos[nid] = (k - (len(members) - 1) / 2, -float(layer))
    return pos


def genome_perf_at_stages(rows: Sequence[Any]) -> dict[str, dict[str, float]]:
    """{genome id: {stage: mean perf of its domain over the rows of that stage that contain it}} from archive
    rows (`cand.stage`, `cand.triple`, `perf_by_domain`)."""
    values: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        for domain, p in (r.perf_by_domain or {}).items():
            gid = r.cand.triple.get(domain)
            if gid is not None and finite(p):
                values.setdefault(gid, {}).setdefault(r.cand.stage, []).append(float(p))
    return {g: {st: sum(v) / len(v) for st, v in by.items()} for g, by in values.items()}


def lineage_nodes(kb: Any, rows: Sequence[Any], front: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Lineage nodes whose perf says at which stage it was measured: for a genome of the front table, its
    domain's perf in that row (the table's stage); for any other genome, at the latest stage it reached."""
    at = genome_perf_at_stages(rows)
    chosen: dict[str, tuple[float, str]] = {}
    for gid, by in at.items():
        stage = max(by, key=stage_rank)
        chosen[gid] = (by[stage], stage)
    for f in front:
        for domain, gid in (f.get("genomes") or {}).items():
            p = (f.get("perf_by_domain") or {}).get(domain)
            if finite(p):
                chosen[gid] = (float(p), str(f.get("stage")))
    return {g["id"]: {"parents": g["parents"], "label": f"{g['domain']}:{g['id'][:6]}",
                      "perf": chosen.get(g["id"], (None, None))[0], "stage": chosen.get(g["id"], (None, None))[1],
                      "origin": g["origin"]} for g in kb.genomes()}


@dataclass(frozen=True)
class RunFigures:
    """What a run's report shows, as plain data."""

    front: list[dict[str, Any]]  # one entry per genome of the front, at the latest stage it reached
    points: list[dict[str, Any]]  # every candidate of the pooled front computation, for the Pareto plot
    history: list[tuple[float, float]]  # (evaluations, hypervolume)
    nodes: dict[str, dict[str, Any]]  # lineage nodes
    best: list[str]  # genome ids of the front (the lineage's leaves)


def gather(kb: Any, archive: Any, summary: Mapping[str, Any]) -> RunFigures:
    """The figures' data of a run: `kb` its KnowledgeBase, `archive` its read-model (evolve.archive.Archive),
    `summary` what evolve.summary.build returned. The front, the plot's labels and the lineage show each genome
    of the front once, at the latest stage it reached."""
    rows, _ = archive.front_points()
    stages_of: dict[tuple, set[str]] = {}
    for r in rows:
        stages_of.setdefault(genome_key(r.cand.triple), set()).add(r.cand.stage)
    front = front_by_genome(summary["pareto_front"], stages_of)
    front_ids = {f["candidate"] for f in summary["pareto_front"]}
    shown = {f["candidate"] for f in front}
    nov = archive.novelty_of([r.cand.id for r in rows]) if rows else {}
    points = [{"id": r.cand.id, "perf": r.perf, "cost": r.cost_ratio, "novelty": nov.get(r.cand.id, 0.0),
               "front": r.cand.id in front_ids, "stage": r.cand.stage,
               "label": r.cand.id if r.cand.id in shown else ""} for r in rows]
    history = [tuple(h) for h in kb.get_meta("hv_history", [])]
    best = sorted({g for f in front for g in f["genomes"].values()})
    return RunFigures(front=front, points=points, history=history, nodes=lineage_nodes(kb, rows, front), best=best)
