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
from evolve import analyst, gain, llm, novelty, references, selection, verdicts
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
    coupling_pairs: tuple[tuple[str, str], ...] = ()  # measured by a 2x2 factorial at the cross and full stages
    stage_rungs: tuple[tuple[str, str | None], ...] = ()  # (stage, rung) on a ladder of scales

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], reference_triple: Mapping[str, str]) -> "ArchiveSettings":
        camp = cfg["campaign"]
        budget = camp.get("budget") or {}
        evals, hours = budget.get("evaluations"), budget.get("device_hours")
        return cls(names=tuple(cfg["domains"]), reference_triple=dict(reference_triple), cycles=int(camp["cycles"]),
                   novelty_k=int(camp["novelty_k"]),
                   hv_reference=(float(camp["hv_reference"]["perf"]), float(camp["hv_reference"]["cost_ratio"])),
                   budget_evaluations=None if evals is None else int(evals),
                   budget_device_hours=hours,
                   coupling_pairs=tuple(references.coupling_pairs(cfg, list(cfg["domains"]))),
                   stage_rungs=tuple((s, (cfg["scale"]["stages"].get(s) or {}).get("rung")) for s in STAGES
                                     if s in (cfg.get("scale") or {}).get("stages", {})))


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
        """Every successfully evaluated candidate of `stage` (auxiliary references aside): perf per domain is
        its gain over the partner-matched reference (evolve/references.py) in the declared unit
        (evolve/gain.py); pooled perf is their mean; cost is relative to the stage's all-reference triple."""
        def scaled() -> list[Row]:
            units = self.gain_units()
            rows = []
            for r in self._raw_rows(stage):
                pbd = {d: units[d].perf(g) for d, g in r.perf_by_domain.items()}
                rows.append(Row(r.cand, pbd, float(np.mean(list(pbd.values()))), r.cost_ratio, r.seconds))
            return rows
        return self._cached(("rows", stage), scaled)

    def _stage_perf(self, stage: str) -> tuple[list[Candidate], dict[tuple[str, str, int], float], dict]:
        """The stage's settled candidates, stored perfs (vs the stage's all-reference triple) and results."""
        cands = self.kb.candidates(stage=stage, status="done")
        by_cand: dict[str, list[Evaluation]] = defaultdict(list)
        for ev in self.kb.evaluations():
            by_cand[ev.candidate].append(ev)
        perf = {(c.id, e.domain, e.seed): float(e.perf) for c in cands for e in by_cand[c.id]
                if e.status == "ok" and e.perf is not None}
        return cands, perf, by_cand

    def _raw_rows(self, stage: str) -> list[Row]:
        """Rows with raw gains (the domains' own units) over the partner-matched references."""
        def compute() -> list[Row]:
            cands, perf, by_cand = self._stage_perf(stage)
            ref = next((c for c in cands if self.is_reference(c)), None)
            if ref is None:
                return []
            ref_secs = {(e.domain, e.seed): _seconds(e) for e in by_cand[ref.id]}
            gains = references.matched_gains(stage, cands, perf, self.reference_triple)
            rows = []
            for cand in cands:
                if references.is_auxiliary(cand) or not gains.get(cand.id):
                    continue
                g = gains[cand.id]
                evs = [e for e in by_cand[cand.id] if e.status == "ok" and e.seed in g.get(e.domain, {})
                       and (e.domain, e.seed) in ref_secs]
                secs = sum(_seconds(e) for e in evs)
                ref_total = sum(ref_secs[(e.domain, e.seed)] for e in evs)
                pbd = {d: float(np.mean(list(v.values()))) for d, v in g.items() if v}
                if not pbd:
                    continue
                rows.append(Row(cand, pbd, float(np.mean(list(pbd.values()))),
                                secs / ref_total if ref_total > 0 else 1.0, secs / max(1, len(evs))))
            return rows
        return self._cached(("raw_rows", stage), compute)

    def gain_units(self) -> dict[str, gain.Unit]:
        """Each domain's unit of perf: the design spread of its cycle-0 isolated raw gains (evolve/gain.py)."""
        def compute() -> dict[str, gain.Unit]:
            rows = [r for r in self._raw_rows("isolated") if r.cand.cycle == 0]
            _, perf, by_cand = self._stage_perf("isolated")
            ref_id = self.reference_id("isolated")
            out = {}
            for d in self.names:
                raw = [r.perf_by_domain[d] for r in rows if d in r.perf_by_domain and r.cand.focus in (d, "all")]
                ref_scores = [e.score for e in by_cand.get(ref_id, []) if e.domain == d and e.status == "ok"]
                out[d] = gain.unit_of(raw, ref_scores)
            return out
        return self._cached("gain_units", compute)

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
            archive = [c for s in STAGES for c in self.kb.candidates(stage=s, status="done")
                       if not references.is_auxiliary(c)]
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
        (one domain's training of it at one seed: a row of the `evaluations` table, the unit of
        campaign.budget.evaluations). Auxiliary runs (partner-matched references and coupling cells,
        evolve/references.py) are runs, counted apart, never candidates."""
        cands = self.kb.candidates()
        aux = {c.id for c in cands if references.is_auxiliary(c)}
        cands = [c for c in cands if c.id not in aux]
        evaluated = [c for c in cands if c.status in ("done", "failed")]
        stage_of = {c.id: c.stage for c in self.kb.candidates()}
        evs = self.kb.evaluations()
        runs = [stage_of.get(e.candidate) for e in evs]
        aux_runs = [stage_of.get(e.candidate) for e in evs if e.candidate in aux]
        return {"total": len(evaluated),
                "by_stage": {s: sum(c.stage == s for c in evaluated) for s in STAGES},
                "runs": len(runs), "runs_by_stage": {s: runs.count(s) for s in STAGES},
                "runs_auxiliary": len(aux_runs), "runs_auxiliary_by_stage": {s: aux_runs.count(s) for s in STAGES},
                "runs_reused": sum(bool(e.details.get("reused")) for e in evs),
                "failed": sum(c.status == "failed" for c in cands),
                "invalid": sum(c.status == "invalid" for c in cands)}

    # --------------------------------------------------------------------- verdicts
    def fidelity(self, n_resamples: int = 2000) -> dict[str, Any]:
        """Spearman of the same genomes' perf between stages, per domain (evolve/verdicts.py)."""
        return self._cached(("fidelity", n_resamples), lambda: verdicts.fidelity_block(
            {s: self.stage_rows(s) for s in STAGES}, self.names, dict(self.settings.stage_rungs),
            n_resamples=n_resamples))

    def coupling(self, n_resamples: int = 2000) -> list[dict[str, Any]]:
        """The 2x2 factorial of every coupled pair at the cross and full stages, in the declared unit."""
        def compute() -> list[dict[str, Any]]:
            units = {d: u.value for d, u in self.gain_units().items()}
            out = []
            for stage in ("cross", "full"):
                cands, _, by_cand = self._stage_perf(stage)
                scores = {(c.id, e.domain, e.seed): float(e.score) for c in cands for e in by_cand[c.id]
                          if e.status == "ok" and e.score is not None}
                seeds = sorted({k[2] for k in scores})
                out += verdicts.coupling_block(stage, cands, scores, self.settings.coupling_pairs,
                                               self.reference_triple, seeds, units, n_resamples=n_resamples)
            return out
        return self._cached(("coupling", n_resamples), compute)

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
