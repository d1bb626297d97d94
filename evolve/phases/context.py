"""What every phase of a cycle reads and writes: settings, domains, the knowledge base and its read-model."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from domains.base import genome_id
from evolve import references
from evolve.archive import Archive
from evolve.knowledge import KnowledgeBase
from evolve.llm import Connection
from evolve.progress import ProgressView
from evolve.stages import StageSpec
from evolve.tracking import NullTracker, Tracker


@dataclass
class Context:
    """One campaign, set up (see evolve/campaign.py); the phases are functions of it."""

    cfg: Mapping[str, Any]
    run_dir: Path
    seed: int
    cycles: int
    names: list[str]
    domains: dict[str, Any]
    stage_specs: dict[str, StageSpec]
    stages: tuple[str, ...]
    stage_domain_cfgs: dict[str, dict[str, Any]]  # what workers build per stage (a ladder's rungs)
    reference_triple: dict[str, str]
    kb: KnowledgeBase
    archive: Archive
    llm: Connection
    tracker: Tracker | NullTracker
    progress: ProgressView
    designer: Any = None
    cycle: int = 0  # the cycle under way (the LLM design context reads it)
    session_start: float = field(default_factory=time.time)
    _genomes: dict[str, Any] = field(default_factory=dict)

    def genome(self, gid: str) -> Any:
        """The decoded genome of a stored id (cached: genomes are immutable)."""
        if gid not in self._genomes:
            row = self.kb.genome(gid)
            self._genomes[gid] = self.domains[row["domain"]].from_json(row["json"])
        return self._genomes[gid]

    def add_genome(self, db: Any, name: str, genome: Any, *, origin: str, parents: tuple[str, ...] = (),
                   cycle: int, provenance: Mapping[str, Any] | None = None, valid: bool = True) -> str:
        """Store a genome with everything its domain computes about it (descriptor, features); a genome
        that failed the domain's check (`valid=False`) is never evaluated and stored without them."""
        dom = self.domains[name]
        js = dom.to_json(genome)
        gid = genome_id(name, js)
        if not self.kb.has_genome(gid):
            described = valid and {"descriptor": np.asarray(dom.descriptor(genome), float).tolist(),
                                   "features": dict(dom.features(genome))}
            self.kb.add_genome(db, gid=gid, domain=name, genome_json=js, text=dom.to_text(genome), origin=origin,
                               parents=parents, cycle=cycle, provenance=provenance, **(described or {}))
        return gid

    def planned(self, cycle: int, phase: str) -> bool:
        """Phases are planned atomically with this marker, so a resumed run never plans one twice."""
        return bool(self.kb.get_meta(f"planned:{cycle}:{phase}", False))

    def domains_of(self, cand: Any) -> list[str]:
        """Which domains' evaluations a candidate needs: its focus (an auxiliary reference's one domain),
        or all of them."""
        if references.is_auxiliary(cand):
            return [references.aux_domain(cand)]
        return [cand.focus] if cand.focus in self.domains else list(self.names)

    def plan_references(self, db: Any, stage: str, triple: Mapping[str, str], focus: str, cycle: int) -> None:
        """Plan the auxiliary results a new candidate is measured against (evolve/references.py): its
        partner-matched references and, at the cross and full stages where the scale asks for them
        (`scale.stages.<stage>.coupling`), its coupling cells. Each is planned once per (stage, triple, domain)
        and shared by every candidate that needs it."""
        doms = [focus] if focus in self.domains else list(self.names)
        pairs = self.archive.settings.coupling_pairs if self.stage_specs[stage].coupling else ()
        for cid, t, d in references.needs(stage, triple, doms, self.reference_triple, pairs):
            self.kb.add_candidate(db, cid=cid, stage=stage, triple=t, focus=references.aux_focus(d), cycle=cycle)
