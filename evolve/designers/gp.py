"""The GP designer: Genesys-style variation through the domain's own typed operators.

Why through the domain: only the domain knows its grammar, so mutation and crossover
stay well-typed by construction. The designer only picks parents (NSGA-II binary
tournament), decides crossover vs mutation, and rejects duplicates (by genome hash)
and statically invalid offspring, returning them separately so the campaign can
record why they were rejected.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from domains.base import GenomeError, genome_id
from evolve import selection


@dataclass(frozen=True)
class Proposal:
    genome: Any
    gid: str
    parents: tuple[str, ...]
    origin: str                       # "sample" | "mutation" | "crossover+mutation" | "baseline:<name>"
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    genome: Any
    gid: str
    parents: tuple[str, ...]
    origin: str
    reason: str
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GPDesigner:
    crossover_rate: float = 0.5
    max_attempts: int = 50
    name: str = "gp"

    def propose(self, domain: Any, parents: Sequence[tuple[str, Any]], ranks: np.ndarray, crowding: np.ndarray,
                n: int, rng: np.random.Generator, known: set[str],
                F: np.ndarray | None = None) -> tuple[list[Proposal], list[Rejection]]:
        """n new, distinct, statically valid genomes of `domain` bred from `parents` (gid, genome).

        Tournaments compare by Pareto dominance on `F` when given (pymoo NSGA-II's default, which
        keeps populations from collapsing onto one end of the front), else by rank. Falls back to
        random samples when no parent exists yet. `known` (genome ids already in
        the archive) is extended in place so later calls stay duplicate-free.
        """
        proposals: list[Proposal] = []
        rejected: list[Rejection] = []
        attempts = 0
        while len(proposals) < n and attempts < n * self.max_attempts:
            attempts += 1
            child, parent_ids, origin = self._offspring(domain, parents, ranks, crowding, rng, F)
            try:
                gid = genome_id(domain.name, domain.to_json(child))
            except (GenomeError, ValueError) as exc:
                rejected.append(Rejection(child, "", parent_ids, origin, f"unserialisable genome: {exc}"))
                continue
            if gid in known:
                continue  # duplicates are silently retried: they cost nothing and teach nothing
            known.add(gid)
            check = domain.check(child)
            if not check.ok:
                rejected.append(Rejection(child, gid, parent_ids, origin, check.reason))
                continue
            proposals.append(Proposal(child, gid, parent_ids, origin, {"designer": self.name}))
        return proposals, rejected

    def _offspring(self, domain: Any, parents: Sequence[tuple[str, Any]], ranks: np.ndarray,
                   crowding: np.ndarray, rng: np.random.Generator,
                   F: np.ndarray | None) -> tuple[Any, tuple[str, ...], str]:
        if not parents:
            return domain.sample(rng), (), "sample"
        if len(parents) >= 2 and rng.random() < self.crossover_rate:
            i, j = selection.tournament(ranks, crowding, 2, rng, F=F)
            if i != j:
                child = domain.crossover(parents[i][1], parents[j][1], rng)
                return domain.mutate(child, rng), (parents[i][0], parents[j][0]), "crossover+mutation"
        (i,) = selection.tournament(ranks, crowding, 1, rng, F=F)
        return domain.mutate(parents[i][1], rng), (parents[i][0],), "mutation"
