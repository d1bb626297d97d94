"""The archive read-model: what a campaign's knowledge base says about the search, measured.

Rows per stage (perf relative to the reference at the same budget), kNN novelty, Pareto fronts,
hypervolume, top genomes, budget status. Everything is read from the knowledge base: a domain's
descriptor and features are stored with each genome and perf with each evaluation, so the campaign,
reports, the ablation reader and the LLM design context all read the same numbers, and reading a
finished run needs no domain code (no JAX, no gymnax). Measurements are cached per knowledge-base
version: one novelty index and one set of rows per state of the archive, never refitted per query.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import numpy as np

from domains.base import STAGES, genome_id
from evolve import analyst, llm, novelty, selection
from evolve.knowledge import Candidate, Evaluation, KnowledgeBase

T = TypeVar("T")


def candidate_id(stage: str, triple: Mapping[str, str]) -> str:
    """A candidate is a triple at a stage: its id is their content hash."""
    return genome_id(f"candidate:{stage}", dict(triple))


@dataclass(frozen=True)
class Row:
    """One evaluated candidate as selection sees it."""

    cand: Candidate
    perf_by_domain: dict[str, float]
    perf: float
    cost_ratio: float
    seconds: float


@dataclass(frozen=True)
class ArchiveSettings:
    """The campaign settings the measurements depend on (from the campaign's config)."""

    names: tuple[str, ...]
    reference_triple: dict[str, str]
    cycles: int
    novelty_k: int
    hv_reference: tuple[float, float]  # (perf, cost_ratio): worse points add no hypervolume
    budget_evaluations: int | None = None
    budget_device_hours: Any = None  # as the config wrote it (the stop message quotes it)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], reference_triple: Mapping[str, str]) -> "ArchiveSettings":
        camp = cfg["campaign"]
        budget = camp.get("budget") or {}
        evals, hours = budget.get("evaluations"), budget.get("device_hours")
        return cls(names=tuple(cfg["domains"]), reference_triple=dict(reference_triple), cycles=int(camp["cycles"]),
                   novelty_k=int(camp["novelty_k"]),
                   hv_reference=(float(camp["hv_reference"]["perf"]), float(camp["hv_reference"]["cost_ratio"])),
                   budget_evaluations=None if evals is None else int(evals),
                   budget_device_hours=hours)


def _seconds(ev: Evaluation) -> float:
    return float(ev.cost.get("seconds", ev.seconds))


class Archive:
    """Read-only measurements over one campaign's knowledge base (see the module docstring)."""

    def __init__(self, kb: KnowledgeBase, settings: ArchiveSettings) -> None:
        self.kb = kb
        self.settings = settings
        self.names = list(settings.names)
        self.reference_triple = settings.reference_triple
        self._version: int | None = None
        self._cache: dict[Any, Any] = {}
        self._descriptors: dict[str, np.ndarray] = {}

    def _cached(self, key: Any, compute: Callable[[], T]) -> T:
        """One value per knowledge-base version: anything committed since drops every cached measurement."""
        version = self.kb.version()
        if version != self._version:
            self._version, self._cache = version, {}
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # ---------------------------------------------------------------------------- rows
    def is_reference(self, cand: Candidate) -> bool:
        return cand.triple == self.reference_triple

    def reference_id(self, stage: str) -> str:
        return candidate_id(stage, self.reference_triple)

    def stage_rows(self, stage: str) -> list[Row]:
        """Every successfully evaluated candidate of `stage`, normalised against the reference."""
        return self._cached(("rows", stage), lambda: self._stage_rows(stage))

    def _stage_rows(self, stage: str) -> list[Row]:
        cands = self.kb.candidates(stage=stage, status="done")
        ref = next((c for c in cands if self.is_reference(c)), None)
        if ref is None:
            return []
        by_cand: dict[str, list[Evaluation]] = defaultdict(list)
        for ev in self.kb.evaluations():
            by_cand[ev.candidate].append(ev)
        ref_secs = {(e.domain, e.seed): _seconds(e) for e in by_cand[ref.id]}
        rows = []
        for cand in cands:
            evs = [e for e in by_cand[cand.id] if e.status == "ok" and (e.domain, e.seed) in ref_secs]
            perf: dict[str, list[float]] = defaultdict(list)
            secs, ref_total = 0.0, 0.0
            for e in evs:
                perf[e.domain].append(float(e.perf))
                secs += _seconds(e)
                ref_total += ref_secs[(e.domain, e.seed)]
            if not perf:
                continue
            pbd = {d: float(np.mean(v)) for d, v in perf.items()}
            rows.append(Row(cand, pbd, float(np.mean(list(pbd.values()))),
                            secs / ref_total if ref_total > 0 else 1.0, secs / max(1, len(evs))))
        return rows

    # ------------------------------------------------------------------------- novelty
    def _descriptor(self, gid: str) -> np.ndarray:
        if gid not in self._descriptors:
            stored = self.kb.genome(gid)["descriptor"]
            if stored is None:
                raise ValueError(f"genome {gid} was stored without its descriptor")
            self._descriptors[gid] = np.asarray(stored, float)
        return self._descriptors[gid]

    def _behaviour(self) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, int]]:
        """Mean behaviour per (candidate, domain); a domain's length is that of its first result."""
        sizes: dict[str, int] = {}
        sums: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        for ev in self.kb.evaluations():
            if ev.status == "ok" and ev.behaviour:
                sizes.setdefault(ev.domain, len(ev.behaviour))
                if len(ev.behaviour) == sizes[ev.domain]:
                    sums[(ev.candidate, ev.domain)].append(np.asarray(ev.behaviour, float))
        return {k: np.mean(v, axis=0) for k, v in sums.items()}, sizes

    def descriptors(self, cands: list[Candidate]) -> np.ndarray:
        """Structure of every member of the triple + behaviour per domain (NaN where not measured)."""
        beh, sizes = self._behaviour()
        rows = []
        for c in cands:
            parts = [self._descriptor(c.triple[n]) for n in self.names]
            for n in self.names:
                parts.append(beh.get((c.id, n), np.full(sizes.get(n, 0), np.nan)))
            rows.append(np.concatenate(parts) if parts else np.zeros(0))
        return np.array(rows, float)

    def _novelty_index(self) -> tuple[dict[str, int], np.ndarray, novelty.NoveltyIndex] | None:
        """The archive (every evaluated candidate of every stage) fitted once per knowledge-base version."""
        def fit():
            archive = [c for s in STAGES for c in self.kb.candidates(stage=s, status="done")]
            if not archive:
                return None
            X = self.descriptors(archive)
            return {c.id: i for i, c in enumerate(archive)}, X, novelty.NoveltyIndex.fit(X)
        return self._cached("novelty", fit)

    def novelty_of(self, cids: list[str]) -> dict[str, float]:
        """kNN novelty of the given candidates against every evaluated candidate of every stage."""
        fitted = self._novelty_index()
        if fitted is None:
            return {c: 0.0 for c in cids}
        index, X, nn = fitted
        values = nn.query(X[[index[c] for c in cids]], self.settings.novelty_k, exclude_self=True)
        return {c: float(v) for c, v in zip(cids, values)}

    # -------------------------------------------------------------- fronts and volume
    def front_points(self) -> tuple[list[Row], np.ndarray]:
        """Every row of every stage with its minimised objectives (-perf, cost ratio)."""
        rows = [r for s in STAGES for r in self.stage_rows(s)]
        F = np.array([[-r.perf, r.cost_ratio] for r in rows], float).reshape(-1, 2)
        return rows, F

    def hypervolume(self, stage: str | None = None) -> float:
        """Pooled over stages: perf and cost are each relative to the reference at the same budget."""
        rows, F = self.front_points()
        if stage is not None:
            F = F[[i for i, r in enumerate(rows) if r.cand.stage == stage]]
        perf, cost = self.settings.hv_reference
        ref = np.array([-perf, cost])
        F = F[np.all(F < ref, axis=1)] if len(F) else F
        return float(selection.hypervolume(F, ref)) if len(F) else 0.0

    def pareto_front(self) -> list[dict[str, Any]]:
        rows, F = self.front_points()
        if not rows:
            return []
        nov = self.novelty_of([r.cand.id for r in rows])
        out = []
        for i in selection.pareto_front_indices(F):
            r = rows[int(i)]
            out.append({"candidate": r.cand.id, "stage": r.cand.stage, "genomes": r.cand.triple,
                        "perf": r.perf, "perf_by_domain": r.perf_by_domain, "cost_ratio": r.cost_ratio,
                        "novelty": nov[r.cand.id],
                        "texts": {n: self.kb.genome(g)["text"] for n, g in r.cand.triple.items()}})
        return out

    def best_perf(self) -> dict[str, float]:
        best: dict[str, float] = {}
        for s in STAGES:
            for r in self.stage_rows(s):
                for d, p in r.perf_by_domain.items():
                    best[d] = max(best.get(d, -math.inf), p)
        return best

    def top_genomes(self, name: str, k: int) -> list[str]:
        """Genomes of `name` ordered by the highest stage they reached, then by perf there."""
        score: dict[str, tuple[int, list[float]]] = {}
        for level, s in enumerate(STAGES):
            for r in self.stage_rows(s):
                if name in r.perf_by_domain:
                    gid = r.cand.triple[name]
                    if gid not in score or score[gid][0] < level:
                        score[gid] = (level, [])
                    if score[gid][0] == level:
                        score[gid][1].append(r.perf_by_domain[name])
        ranked = sorted(score, key=lambda g: (-score[g][0], -float(np.mean(score[g][1])), g))
        return ranked[:k] or [self.reference_triple[name]]

    def incumbents(self) -> dict[str, str]:
        return {n: self.top_genomes(n, 1)[0] for n in self.names}

    def genome_records(self) -> list[analyst.GenomeRecord]:
        """Each genome's isolated-stage perf (its own domain changed, the rest held fixed)."""
        perf: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in self.stage_rows("isolated"):
            for d, p in r.perf_by_domain.items():
                if r.cand.focus in (d, "all"):
                    perf[(d, r.cand.triple[d])].append(p)
        records = []
        for (d, gid), values in perf.items():
            row = self.kb.genome(gid)
            records.append(analyst.GenomeRecord(gid, d, dict(row["features"] or {}), float(np.mean(values)),
                                                int(row["cycle"])))
        return records

    # ---------------------------------------------------------------------- counts
    def evaluation_counts(self) -> dict[str, Any]:
        """Evaluated candidates (a triple at a stage, however many domains and seeds score it) and runs
        (one domain's training of it at one seed: a row of the `evaluations` table)."""
        cands = self.kb.candidates()
        evaluated = [c for c in cands if c.status in ("done", "failed")]
        stage_of = {c.id: c.stage for c in cands}
        runs = [stage_of.get(e.candidate) for e in self.kb.evaluations()]
        return {"total": len(evaluated),
                "by_stage": {s: sum(c.stage == s for c in evaluated) for s in STAGES},
                "runs": len(runs), "runs_by_stage": {s: runs.count(s) for s in STAGES},
                "failed": sum(c.status == "failed" for c in cands),
                "invalid": sum(c.status == "invalid" for c in cands)}

    def device_seconds(self) -> float:
        return float(sum(e.seconds for e in self.kb.evaluations()))

    def evaluations_recorded(self) -> int:
        """Every recorded (candidate, domain, seed) result, failures included: the unit of evaluation budgets."""
        return len(self.kb.done_keys())

    def evaluations_left(self) -> int | None:
        """Evaluations (candidate, domain, seed) the budget still allows; None without an evaluation budget."""
        evals = self.settings.budget_evaluations
        return None if evals is None else max(0, evals - self.evaluations_recorded())

    def budget_reached(self) -> str:
        """Why the campaign's budget is spent ('' while it is not); read from the knowledge base, so resume-safe."""
        hours, evals = self.settings.budget_device_hours, self.settings.budget_evaluations
        if hours is not None and self.device_seconds() >= float(hours) * 3600.0:
            return f"device budget of {hours} h spent"
        if evals is not None and self.evaluations_recorded() >= evals:
            return f"evaluation budget of {evals} spent"
        return ""

    def cycles_done(self) -> int:
        return int(self.kb.get_meta("cycles_done", 0))

    def complete(self) -> bool:
        return self.cycles_done() >= self.settings.cycles or bool(self.budget_reached())

    def llm_stats(self, cycle: int | None = None) -> dict[str, Any]:
        """calls, ok, tokens (from llm_calls) and valid / repaired LLM proposals (from genome provenance)."""
        calls = [c for c in self.kb.llm_calls() if cycle is None or c["cycle"] == cycle]
        made = [g for g in self.kb.genomes() if g["provenance"].get("designer") == "llm"
                and (cycle is None or g["cycle"] == cycle)]
        invalid = {c.triple[c.focus] for c in self.kb.candidates(status="invalid") if c.focus in c.triple}
        valid = [g for g in made if g["id"] not in invalid]
        return {**llm.summarise_calls(calls), "valid_proposals": len(valid),
                "repaired": sum(int(g["provenance"].get("repairs", 0)) > 0 for g in valid)}


def open_run(run_dir: str | Path) -> tuple[KnowledgeBase, dict[str, Any], Archive]:
    """A finished (or running) run's knowledge base, stored config and read-model; close the kb when done."""
    kb = KnowledgeBase.existing(Path(run_dir) / "knowledge.db")
    try:
        cfg = kb.get_meta("config")
        reference = kb.get_meta("reference_triple")
        if cfg is None or reference is None:
            raise ValueError(f"{kb.path} holds no campaign config: the campaign never started")
        return kb, cfg, Archive(kb, ArchiveSettings.from_config(cfg, reference))
    except BaseException:
        kb.close()
        raise
