"""The LDEA loop: Learn -> Design -> Experiment -> Analyze, one cycle at a time.

Every step reads and writes the knowledge base, the campaign's only state, so a run
killed at any moment resumes where it stopped: phases are planned atomically (their
candidates plus a marker), each result is committed on its own, and evaluation only
ever runs what has no result yet.

A cycle:
  Learn    read the archive: incumbents and top-k per domain, the agenda's shares.
  Design   the designer breeds new genomes for the domains the agenda favours; each
           becomes an isolated-stage candidate (its domain changed, the others at their
           incumbents). Cycle 0 seeds the archive with baselines and random samples.
  Experiment  isolated -> cross -> full: evaluate a stage, promote its best p_pass by
           Pareto order (perf up, cost down, novelty up), evaluate the next.
  Analyze  normalise, novelty, fronts and hypervolume; test hypotheses, set the agenda;
           log to MLflow; write summary.json.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from domains.base import STAGES, canonical_json, genome_id
from evolve import analyst, llm, llm_analyst, novelty, selection, stages
from evolve.designers import build_designer
from evolve.designers.context import DesignContext, build_context
from evolve.designers.gp import Proposal, Rejection
from evolve.config import ConfigError
from evolve.execution import Executor, make_executor
from evolve.executor import TaskResult
from evolve.knowledge import Candidate, Evaluation, KnowledgeBase, KnowledgeBaseError
from evolve.plugins import PluginError, build_domain, domain_config
from evolve.progress import ProgressView
from evolve.tracking import NullTracker, Tracker, default_tracking_uri
from evolve.worker import run_evaluation


class CampaignError(RuntimeError):
    """The campaign cannot go on (e.g. the reference baseline itself fails)."""


def candidate_id(stage: str, triple: Mapping[str, str]) -> str:
    return genome_id(f"candidate:{stage}", dict(triple))


@dataclass(frozen=True)
class Row:
    """One evaluated candidate as selection sees it."""

    cand: Candidate
    perf_by_domain: dict[str, float]
    perf: float
    cost_ratio: float
    seconds: float


class Campaign:
    def __init__(self, cfg: Mapping[str, Any], run_dir: Path, root: Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.root = Path(root)
        camp = cfg["campaign"]
        self.name = str(camp["name"])
        self.seed = int(cfg["seed"])
        self.cycles = int(camp["cycles"])
        scale = cfg["scale"]
        self.domain_cfgs = {n: domain_config(raw, scale["name"], scale["device"]) for n, raw in cfg["domains"].items()}
        self.names = list(self.domain_cfgs)
        self.domains = {n: self._build(n, c) for n, c in self.domain_cfgs.items()}
        self.stage_specs = stages.stage_specs(scale)
        self.stages = stages.active_stages(bool(camp.get("cross_stage", True)))
        # what workers build per stage: on a ladder each stage evaluates at its own rung's model size
        self.stage_domain_cfgs = {
            st: {n: self._rung_config(n, raw, scale, spec.rung) for n, raw in cfg["domains"].items()}
            for st, spec in self.stage_specs.items()}
        self.kb_path = self.run_dir / "knowledge.db"
        self.kb = KnowledgeBase(self.kb_path, self.name)
        self._check_same_campaign()
        self.reference = {n: d.reference for n, d in self.domains.items()}
        self.reference_triple = {n: self._baseline_gid(n, self.reference[n]) for n in self.names}
        self._genomes: dict[str, Any] = {}
        self._descriptors: dict[str, np.ndarray] = {}
        self._behaviour_len: dict[str, int] = {}
        self._rows_cache: dict[tuple[str, int], list[Row]] = {}
        self._session_start = time.time()
        self._cycle_now = 0
        self.progress = ProgressView(enabled=bool(cfg.get("progress", True)))
        self.tracker = self._tracker()
        self.llm = self._connect_llm()
        self.llm_note = self.llm.note
        self.designer = build_designer(cfg, self.llm, self._design_context)

    # ------------------------------------------------------------------------- set-up
    @staticmethod
    def _build(name: str, cfg: Mapping[str, Any]) -> Any:
        """A domain that rejects its config (say, an unreadable user corpus) stops the run before it starts."""
        try:
            domain = build_domain(name, cfg)
        except (ValueError, TypeError, OSError) as exc:
            raise ConfigError(f"domain {name!r} rejected its configuration: {exc}") from exc
        if getattr(domain, "name", None) != name:  # genomes are stored and looked up under the domain's name
            raise ConfigError(f"domains.{name} builds a domain named {getattr(domain, 'name', None)!r}; "
                              f"the config key must be the plugin's name")
        return domain

    @staticmethod
    def _rung_config(name: str, raw: Mapping[str, Any], scale: Mapping[str, Any], rung: str | None) -> dict:
        try:
            return domain_config(raw, scale["name"], scale["device"], rung)
        except PluginError as exc:
            raise ConfigError(f"scale {scale['name']!r} evaluates a stage at rung {rung!r}: {exc}") from exc

    def _check_same_campaign(self) -> None:
        """A run directory belongs to one campaign: same domains and scale, or a clear error."""
        identity = {"domains": self.names, "scale": self.cfg["scale"]["name"], "seed": self.seed}
        stored = self.kb.get_meta("identity")
        if stored is None:
            self.kb.set_meta("identity", identity)
            self.kb.set_meta("config", self.cfg)
        elif stored != identity:
            raise KnowledgeBaseError(f"{self.kb_path} holds a campaign with {stored}, but this run asks for "
                                     f"{identity}; use a new hydra.run.dir or the original settings")

    def _tracker(self) -> Tracker | NullTracker:
        tcfg = self.cfg.get("tracking") or {}
        if not tcfg.get("enabled", True):
            return NullTracker()
        uri = tcfg.get("uri") or default_tracking_uri(self.root)
        tracker = Tracker(uri, experiment=self.name, run_name=self.run_dir.name,
                          params=_flatten(self.cfg), resume_run_id=self.kb.get_meta("mlflow_run_id"))
        self.kb.set_meta("mlflow_run_id", tracker.run_id)
        self.kb.set_meta("mlflow_tracking_uri", uri)
        return tracker

    def _connect_llm(self) -> llm.Connection:
        """The LLM client the `llm` config asks for (None inside for GP-only); a bad set-up is a ConfigError."""
        try:
            conn = llm.connect(self.cfg.get("llm"), self.kb.record_llm_call)
        except (llm.LLMError, ValueError, TypeError) as exc:
            raise ConfigError(str(exc)) from exc
        if conn.client is not None:
            self.kb.set_meta("llm_model", conn.client.model)
            self.kb.set_meta("llm_mode", conn.settings.mode)
            self.tracker.set_tags({"llm.model": conn.client.model, "llm.mode": conn.settings.mode})
        return conn

    def _design_context(self, name: str) -> DesignContext:
        s = self.llm.settings
        return build_context(self, name, self._cycle_now, top_k=s.context_top_k, failures=s.context_failures,
                             hypotheses=s.context_hypotheses, text_chars=s.text_max_chars)

    def _baseline_gid(self, name: str, baseline: str) -> str:
        dom = self.domains[name]
        bases = dom.baselines()
        if baseline not in bases:
            raise CampaignError(f"domain {name!r} names reference {baseline!r} but its baselines are {sorted(bases)}")
        return genome_id(name, dom.to_json(bases[baseline]))

    # ------------------------------------------------------------------------ genomes
    def genome(self, gid: str) -> Any:
        if gid not in self._genomes:
            row = self.kb.genome(gid)
            self._genomes[gid] = self.domains[row["domain"]].from_json(row["json"])
        return self._genomes[gid]

    def _descriptor(self, name: str, gid: str) -> np.ndarray:
        if gid not in self._descriptors:
            self._descriptors[gid] = np.asarray(self.domains[name].descriptor(self.genome(gid)), float)
        return self._descriptors[gid]

    def _add_genome(self, db: Any, name: str, genome: Any, *, origin: str, parents: tuple[str, ...] = (),
                    cycle: int, provenance: Mapping[str, Any] | None = None) -> str:
        dom = self.domains[name]
        js = dom.to_json(genome)
        gid = genome_id(name, js)
        self.kb.add_genome(db, gid=gid, domain=name, genome_json=js, text=dom.to_text(genome), origin=origin,
                           parents=parents, cycle=cycle, provenance=provenance)
        return gid

    # --------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        status = "FINISHED"
        executor = make_executor(self.cfg["executor"], run_evaluation, scratch_root=self.run_dir / "scratch",
                                 scale=self.cfg["scale"], env=self._worker_env())
        try:
            with self.progress:
                self.progress.log(self.llm_note)
                self.progress.log(f"knowledge base: {self.kb_path}")
                cycle = int(self.kb.get_meta("cycles_done", 0))
                if cycle:
                    self.progress.log(f"resuming after cycle {cycle - 1} "
                                      f"({len(self.kb.done_keys())} evaluations already recorded)")
                while cycle < self.cycles and not self._budget_spent():
                    if not self._cycle(cycle, executor):
                        break  # the evaluation budget ran out mid-cycle; a larger budget resumes here
                    cycle += 1
                    self.kb.set_meta("cycles_done", cycle)
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            executor.shutdown()
            self._save_wall_time()
            summary = self.write_summary()
            self._write_report()
            self.tracker.close(status)
            self.kb.close()
        return summary

    def _worker_env(self) -> dict[str, str]:
        """Workers import plugins the way the driver does: the launch directory goes on their path."""
        paths = [str(self.root.resolve()), os.environ.get("PYTHONPATH", "")]
        return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}

    def _budget_spent(self) -> bool:
        reason = self.budget_reached()
        if reason:
            self.progress.log(f"{reason}: stopping")
        return bool(reason)

    def budget_reached(self) -> str:
        """Why the campaign's budget is spent ('' while it is not); read from the knowledge base, so resume-safe."""
        budget = self.cfg["campaign"].get("budget") or {}
        hours, evals = budget.get("device_hours"), budget.get("evaluations")
        if hours is not None and self.device_seconds() >= float(hours) * 3600.0:
            return f"device budget of {hours} h spent"
        if evals is not None and self.evaluations_recorded() >= int(evals):
            return f"evaluation budget of {evals} spent"
        return ""

    def evaluations_left(self) -> int | None:
        """Evaluations (candidate, domain, seed) the budget still allows; None without an evaluation budget."""
        evals = (self.cfg["campaign"].get("budget") or {}).get("evaluations")
        return None if evals is None else max(0, int(evals) - self.evaluations_recorded())

    def evaluations_recorded(self) -> int:
        """Every recorded (candidate, domain, seed) result, failures included: the unit of evaluation budgets."""
        return len(self.kb.done_keys())

    def _cycle(self, cycle: int, executor: Executor) -> bool:
        """One LDEA cycle; False when the budget stopped it before its end (nothing is planned on partial results)."""
        self._cycle_now = cycle
        if self.llm.client is not None:
            self.llm.client.cycle = cycle
        self._plan_design(cycle)                         # Learn + Design
        self._evaluate_stage("isolated", cycle, executor)  # Experiment
        for stage in self.stages[1:]:
            if self.budget_reached():
                return False
            self._plan_promotions(stage, cycle)
            self._evaluate_stage(stage, cycle, executor)
        if self.budget_reached() and self.kb.candidates(status="pending"):
            return False
        self._analyze(cycle)                             # Analyze
        return True

    # -------------------------------------------------------------------- design phase
    def _planned(self, cycle: int, phase: str) -> bool:
        return bool(self.kb.get_meta(f"planned:{cycle}:{phase}", False))

    def _plan_design(self, cycle: int) -> None:
        if self._planned(cycle, "design"):
            return
        rng = np.random.default_rng([self.seed, cycle, 1])
        slots = getattr(self.designer, "slots", 0)  # LLM proposal slots, for the valid-proposal rate
        with self.kb.transaction() as db:
            if cycle == 0:
                self._seed_archive(db, rng)
            else:
                incumbents = {n: self.top_genomes(n, 1)[0] for n in self.names}
                shares = self.kb.latest_agenda() or {n: 1.0 / len(self.names) for n in self.names}
                counts = analyst.split_proposals(shares, int(self.cfg["campaign"]["proposals_per_cycle"]), rng)
                for name in self.names:
                    props, rejects = self._design(name, counts.get(name, 0), rng)
                    self._store_proposals(db, name, props, rejects, incumbents, cycle)
            self.kb.set_meta(f"llm_slots:{cycle}", getattr(self.designer, "slots", 0) - slots, db)
            self.kb.set_meta(f"planned:{cycle}:design", True, db)

    def _seed_archive(self, db: Any, rng: np.random.Generator) -> None:
        """Cycle 0: the reference triple, every baseline, and a few random genomes per domain."""
        for name in self.names:
            for bname, genome in self.domains[name].baselines().items():
                self._add_genome(db, name, genome, origin=f"baseline:{bname}", cycle=0)
        self.kb.add_candidate(db, cid=candidate_id("isolated", self.reference_triple), stage="isolated",
                              triple=self.reference_triple, focus="all", cycle=0)
        for name in self.names:
            for bname, genome in self.domains[name].baselines().items():
                gid = genome_id(name, self.domains[name].to_json(genome))
                triple = {**self.reference_triple, name: gid}
                self.kb.add_candidate(db, cid=candidate_id("isolated", triple), stage="isolated", triple=triple,
                                      focus=name, cycle=0)
            known = {g["id"] for g in self.kb.genomes(name)}
            props, rejects = self.designer.propose(self.domains[name], [], np.zeros(0), np.zeros(0),
                                                   int(self.cfg["campaign"]["initial_samples"]), rng, known)
            self._store_proposals(db, name, props, rejects, self.reference_triple, 0)

    def _design(self, name: str, n: int, rng: np.random.Generator) -> tuple[list[Proposal], list[Rejection]]:
        if n <= 0:
            return [], []
        pool = self._parent_pool(name)
        if pool:
            gids, F = zip(*pool)
            F = np.array(F)
            ranks = selection.pareto_ranks(F)
            crowd = selection.crowding_distances(F, ranks)
            parents = [(g, self.genome(g)) for g in gids]
        else:
            parents, ranks, crowd = [], np.zeros(0), np.zeros(0)
        known = {g["id"] for g in self.kb.genomes(name)}
        return self.designer.propose(self.domains[name], parents, ranks, crowd, n, rng, known,
                                     F=F if pool else None)

    def _store_proposals(self, db: Any, name: str, props: list[Proposal], rejects: list[Rejection],
                         incumbents: Mapping[str, str], cycle: int) -> None:
        for p in props:
            self._add_genome(db, name, p.genome, origin=p.origin, parents=p.parents, cycle=cycle,
                             provenance=p.provenance)
            triple = {**incumbents, name: p.gid}
            self.kb.add_candidate(db, cid=candidate_id("isolated", triple), stage="isolated", triple=triple,
                                  focus=name, cycle=cycle)
        for r in rejects:
            if not r.gid:
                continue
            self._add_genome(db, name, r.genome, origin=r.origin, parents=r.parents, cycle=cycle,
                             provenance=r.provenance or {"designer": self.designer.name})
            triple = {**incumbents, name: r.gid}
            self.kb.add_candidate(db, cid=candidate_id("isolated", triple), stage="isolated", triple=triple,
                                  focus=name, cycle=cycle, status="invalid", reason=r.reason)

    def _parent_pool(self, name: str) -> list[tuple[str, tuple[float, float, float]]]:
        """Genomes of `name` measured at the isolated stage, with their objectives (-perf, cost, -novelty)."""
        rows = [r for r in self.stage_rows("isolated") if r.cand.focus in (name, "all")]
        if not rows:
            return []
        nov = self.novelty_of([r.cand.id for r in rows])
        return [(r.cand.triple[name], (-r.perf_by_domain[name], r.cost_ratio, -nov[r.cand.id])) for r in rows]

    # ---------------------------------------------------------------- promotion phases
    def _plan_promotions(self, stage: str, cycle: int) -> None:
        if self._planned(cycle, stage):
            return
        prev = self.stages[self.stages.index(stage) - 1]
        rows = self.stage_rows(prev)
        fresh = [r for r in rows if r.cand.cycle == cycle and not self._is_reference(r.cand)]
        spec = self.stage_specs[stage]
        top_k = int(self.cfg["campaign"]["cross_top_k"])
        triples_each = 1 if stage == "full" else max(1, top_k ** 2)
        n = stages.promotion_count(len(fresh), float(self.cfg["campaign"]["p_pass"]),
                                   evaluations_each=triples_each * len(self.names) * spec.seeds,
                                   max_evaluations=spec.max_evaluations)
        with self.kb.transaction() as db:
            if n:
                nov = self.novelty_of([r.cand.id for r in rows])
                F = selection.objectives(np.array([r.perf for r in rows]), np.array([r.cost_ratio for r in rows]),
                                         np.array([nov[r.cand.id] for r in rows]))
                eligible = [not r.cand.promoted and not self._is_reference(r.cand) for r in rows]
                chosen = [rows[i].cand for i in stages.choose_promotions(F, eligible, n)]
                if chosen:
                    self.kb.add_candidate(db, cid=candidate_id(stage, self.reference_triple), stage=stage,
                                          triple=self.reference_triple, focus="all", cycle=cycle)
                top = {d: self.top_genomes(d, top_k) for d in self.names}
                for cand in chosen:
                    self.kb.mark_promoted(db, cand.id)
                    triples = ([cand.triple] if stage == "full" else
                               stages.cross_triples(cand.triple, cand.focus, top, limit=triples_each))
                    focus = cand.focus if len(self.names) == 1 else "all"
                    for triple in triples:
                        self.kb.add_candidate(db, cid=candidate_id(stage, triple), stage=stage, triple=triple,
                                              focus=focus, cycle=cycle, source=cand.id)
            self.kb.set_meta(f"planned:{cycle}:{stage}", True, db)

    # --------------------------------------------------------------- experiment phase
    def _is_reference(self, cand: Candidate) -> bool:
        return cand.triple == self.reference_triple

    def _domains_of(self, cand: Candidate) -> list[str]:
        """Which domains' evaluations a candidate needs: its focus, or all of them."""
        return [cand.focus] if cand.focus in self.domains else list(self.names)

    def _evaluate_stage(self, stage: str, cycle: int, executor: Executor) -> None:
        spec = self.stage_specs[stage]
        pending = self.kb.candidates(stage=stage, status="pending")
        if not pending:
            return
        pending.sort(key=lambda c: not self._is_reference(c))  # a cut-off stage still has its reference
        done = self.kb.done_keys()
        seeds = spec.seed_list(self.seed)
        allowed = self.evaluations_left()
        tasks = 0
        for cand in pending:
            triple_json = {n: self.kb.genome(g)["json"] for n, g in cand.triple.items()}
            for name in self._domains_of(cand):
                for seed in seeds:
                    if (cand.id, name, seed) in done or (allowed is not None and tasks >= allowed):
                        continue
                    executor.submit(f"{cand.id}|{name}|{seed}", {
                        "configs": self.stage_domain_cfgs[stage], "domain": name, "triple": triple_json,
                        "stage": stage, "fraction": spec.fraction, "seed": seed})
                    tasks += 1
        by_id = {c.id: c for c in pending}
        finished = 0
        for result in executor.results():
            finished += 1
            self._record(result, stage)
            self._finish_candidate(by_id[result.task_id.split("|")[0]], seeds)
            hv = self._append_hv_curve()
            self.progress.update(cycle=cycle, cycles=self.cycles, stage=stage, done=finished, total=tasks,
                                 best=self.best_perf(), hypervolume=hv, note=self._note(result))
        for cand in pending:
            self._finish_candidate(cand, seeds)
        self._append_hv_history()

    def _record(self, result: TaskResult, stage: str) -> None:
        cid, name, seed = result.task_id.split("|")
        value = result.value if result.status == "ok" else {}
        ev = Evaluation(candidate=cid, domain=name, seed=int(seed), status=result.status,
                        score=float(value["score"]) if value else None, cost=dict(value.get("cost", {})),
                        details=dict(value.get("details", {})), behaviour=list(value.get("behaviour", [])),
                        reason=result.reason, seconds=float(result.seconds))
        if not self.kb.record_evaluation(ev, curves=value.get("curves")) or \
                not (self.cfg.get("tracking") or {}).get("log_children", True):
            return
        texts = {f"genome_{n}.txt": self.kb.genome(g)["text"] for n, g in self.kb.candidate(cid).triple.items()}
        metrics = {"score": ev.score if ev.score is not None else math.nan, "eval_seconds": ev.seconds,
                   **{f"cost.{k}": v for k, v in ev.cost.items()}, **{f"details.{k}": v for k, v in ev.details.items()}}
        self.tracker.log_evaluation(f"{stage}/{name}/{cid[:8]}/seed{seed}",
                                    params={"stage": stage, "domain": name, "seed": seed, "candidate": cid},
                                    metrics=metrics, tags={"status": ev.status, "reason": ev.reason[:4000]},
                                    texts=texts)

    def _note(self, result: TaskResult) -> str:
        cid, name, seed = result.task_id.split("|")
        what = f"{name} {cid[:8]} seed {seed}"
        return f"{what}: ok in {result.seconds:.1f}s" if result.status == "ok" else f"{what}: {result.status}: {result.reason[:160]}"

    def _finish_candidate(self, cand: Candidate, seeds: list[int]) -> None:
        """Settle a candidate once all its evaluations are in (failed as soon as one fails)."""
        evs = [e for e in self.kb.evaluations(cand.id) if e.seed in seeds]
        failed = [e for e in evs if e.status != "ok"]
        if failed:
            self.kb.finish_candidate(cand.id, "failed", "; ".join(f"{e.domain}/seed {e.seed}: {e.status}: {e.reason}"
                                                                for e in failed)[:4000])
            if self._is_reference(cand):
                raise CampaignError(f"the reference triple failed at the {cand.stage} stage: {failed[0].reason}")
        elif len(evs) == len(self._domains_of(cand)) * len(seeds):
            self.kb.finish_candidate(cand.id, "done")

    # ------------------------------------------------------------------ measurements
    def stage_rows(self, stage: str) -> list[Row]:
        """Every successfully evaluated candidate of `stage`, normalised against the reference."""
        key = (stage, self.kb.version())
        if key not in self._rows_cache:
            self._rows_cache = {k: v for k, v in self._rows_cache.items() if k[1] == key[1]}
            self._rows_cache[key] = self._stage_rows(stage)
        return self._rows_cache[key]

    def _stage_rows(self, stage: str) -> list[Row]:
        cands = self.kb.candidates(stage=stage, status="done")
        ref = next((c for c in cands if self._is_reference(c)), None)
        if ref is None:
            return []
        by_cand: dict[str, list[Evaluation]] = defaultdict(list)
        for ev in self.kb.evaluations():
            by_cand[ev.candidate].append(ev)
        ref_score = {(e.domain, e.seed): e.score for e in by_cand[ref.id]}
        ref_secs = {(e.domain, e.seed): _seconds(e) for e in by_cand[ref.id]}
        rows = []
        for cand in cands:
            evs = [e for e in by_cand[cand.id] if e.status == "ok" and (e.domain, e.seed) in ref_score]
            perf: dict[str, list[float]] = defaultdict(list)
            secs, ref_total = 0.0, 0.0
            for e in evs:
                perf[e.domain].append(self.domains[e.domain].normalise(e.score, ref_score[(e.domain, e.seed)]))
                secs += _seconds(e)
                ref_total += ref_secs[(e.domain, e.seed)]
            if not perf:
                continue
            pbd = {d: float(np.mean(v)) for d, v in perf.items()}
            rows.append(Row(cand, pbd, float(np.mean(list(pbd.values()))),
                            secs / ref_total if ref_total > 0 else 1.0, secs / max(1, len(evs))))
        return rows

    def _behaviour(self) -> dict[tuple[str, str], np.ndarray]:
        sums: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        for ev in self.kb.evaluations():
            if ev.status == "ok" and ev.behaviour:
                self._behaviour_len.setdefault(ev.domain, len(ev.behaviour))
                if len(ev.behaviour) == self._behaviour_len[ev.domain]:
                    sums[(ev.candidate, ev.domain)].append(np.asarray(ev.behaviour, float))
        return {k: np.mean(v, axis=0) for k, v in sums.items()}

    def descriptors(self, cands: list[Candidate]) -> np.ndarray:
        """Structure of every member of the triple + behaviour per domain (NaN where not measured)."""
        beh = self._behaviour()
        rows = []
        for c in cands:
            parts = [self._descriptor(n, c.triple[n]) for n in self.names]
            for n in self.names:
                size = self._behaviour_len.get(n, 0)
                parts.append(beh.get((c.id, n), np.full(size, np.nan)))
            rows.append(np.concatenate(parts) if parts else np.zeros(0))
        return np.array(rows, float)

    def novelty_of(self, cids: list[str]) -> dict[str, float]:
        """kNN novelty of the given candidates against every evaluated candidate of every stage."""
        archive = [c for s in STAGES for c in self.kb.candidates(stage=s, status="done")]
        if not archive:
            return {c: 0.0 for c in cids}
        index = {c.id: i for i, c in enumerate(archive)}
        X = self.descriptors(archive)
        queries = [index[c] for c in cids]
        values = novelty.knn_novelty(X, X[queries], int(self.cfg["campaign"]["novelty_k"]), exclude_self=True)
        return {c: float(v) for c, v in zip(cids, values)}

    def _front_points(self) -> tuple[list[Row], np.ndarray]:
        rows = [r for s in STAGES for r in self.stage_rows(s)]
        F = np.array([[-r.perf, r.cost_ratio] for r in rows], float).reshape(-1, 2)
        return rows, F

    def _hv_ref(self) -> np.ndarray:
        ref = self.cfg["campaign"]["hv_reference"]
        return np.array([-float(ref["perf"]), float(ref["cost_ratio"])])

    def hypervolume(self, stage: str | None = None) -> float:
        """Pooled over stages: perf and cost are each relative to the reference at the same budget."""
        rows, F = self._front_points()
        if stage is not None:
            F = F[[i for i, r in enumerate(rows) if r.cand.stage == stage]]
        ref = self._hv_ref()
        F = F[np.all(F < ref, axis=1)] if len(F) else F
        return float(selection.hypervolume(F, ref)) if len(F) else 0.0

    def _append_hv_history(self) -> None:
        hist = self.kb.get_meta("hv_history", [])
        n = self.evaluation_counts()["total"]
        if not hist or hist[-1][0] != n:
            hist.append([n, self.hypervolume()])
            self.kb.set_meta("hv_history", hist)

    def _append_hv_curve(self) -> float:
        """[evaluations recorded, pooled hypervolume] after each result: the x-axis ablations compare at.
        Returns the hypervolume, so the progress line reuses it instead of recomputing the fronts."""
        hv = self.hypervolume()
        curve = self.kb.get_meta("hv_curve", [])
        curve.append([self.evaluations_recorded(), hv])
        self.kb.set_meta("hv_curve", curve)
        return hv

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

    # ---------------------------------------------------------------- analysis phase
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
            records.append(analyst.GenomeRecord(gid, d, dict(self.domains[d].features(self.genome(gid))),
                                                float(np.mean(values)), int(row["cycle"])))
        return records

    def _analyze(self, cycle: int) -> None:
        acfg = self.cfg["analysis"]
        records = self.genome_records()
        kw = dict(min_group=int(acfg["min_group"]), confidence=float(acfg["confidence"]),
                  n_resamples=int(acfg["bootstrap"]))
        changes = []
        enabled = bool(acfg.get("enabled", True))  # false (the no_analysis arm): no hypotheses, no agenda
        for h in self.kb.hypotheses() if enabled else []:
            if h["status"] == "retired":
                continue
            new = analyst.evaluate_hypothesis(h, records, cycle, **kw)
            if new["status"] != h["status"]:
                changes.append({"id": h["id"], "from": h["status"], "to": new["status"], "statement": h["statement"]})
            self.kb.upsert_hypothesis(new)
        existing = {h["id"] for h in self.kb.hypotheses()}
        for name in self.names if enabled else []:
            for h in analyst.mine_hypotheses(records, name, cycle, existing,
                                             limit=int(acfg["max_new_hypotheses"]), **kw):
                self.kb.upsert_hypothesis(h)
                changes.append({"id": h["id"], "from": None, "to": "active", "statement": h["statement"]})
        llm_report = self._llm_analysis(cycle, records, int(acfg["min_group"]), changes) if enabled else None
        agenda = (analyst.agenda(self._progress(records, cycle, int(acfg["agenda_window"])), float(acfg["agenda_floor"]))
                  if enabled else [])  # no agenda: the next cycle splits its proposals evenly
        counts = self.evaluation_counts()
        cycle_cands = [c for c in self.kb.candidates(stage="isolated", cycle=cycle) if c.focus != "all"]
        valid = sum(c.status != "invalid" for c in cycle_cands)
        hv = self.hypervolume()
        report = {"evaluations": counts, "hypervolume": hv,
                  "hypervolume_by_stage": {s: self.hypervolume(s) for s in STAGES},
                  "best_perf": self.best_perf(), "hypothesis_changes": changes,
                  "valid_proposal_rate": valid / len(cycle_cands) if cycle_cands else 1.0,
                  "incumbents": {n: self.top_genomes(n, 1)[0] for n in self.names},
                  "device_seconds": self.device_seconds(), "llm_analysis": llm_report}
        self.kb.record_analysis(cycle, report, agenda)
        metrics = {"hypervolume": hv, "evaluations": counts["total"], "failed": counts["failed"],
                   "invalid": counts["invalid"], "device_seconds": report["device_seconds"],
                   "valid_proposal_rate": report["valid_proposal_rate"],
                   **{f"best_perf.{d}": p for d, p in report["best_perf"].items()},
                   **{f"hypervolume.{s}": v for s, v in report["hypervolume_by_stage"].items()},
                   **{f"agenda_share.{a['domain']}": a["share"] for a in agenda},
                   "hypotheses.active": len(self.kb.hypotheses("active")),
                   "hypotheses.supported": len(self.kb.hypotheses("supported")),
                   **self._llm_cycle_metrics(cycle)}
        self.tracker.log_cycle(cycle, metrics)
        for ch in changes:
            self.progress.log(f"hypothesis {ch['from'] or 'new'} -> {ch['to']}: {ch['statement']}")
        self.write_summary()

    def _llm_analysis(self, cycle: int, records: list[analyst.GenomeRecord], min_group: int,
                      changes: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The LLM analyst's hypotheses and retirement requests (evidence decides; see evolve/llm_analyst.py)."""
        if self.llm.client is None or not self.llm.settings.analyst or not records:
            return None
        hyps = self.kb.hypotheses()
        texts = {r.gid: self.kb.genome(r.gid)["text"][: self.llm.settings.text_max_chars] for r in records}
        answer = llm_analyst.run(self.llm.client, records, texts, hyps, self.names, cycle,
                                 max_hypotheses=self.llm.settings.analyst_max_hypotheses)
        if answer is None:
            return None
        for row in llm_analyst.apply_retirements(answer, hyps, cycle, min_group):
            self.kb.upsert_hypothesis(row)
            if row["status"] == "retired":
                changes.append({"id": row["id"], "from": "active", "to": "retired", "statement": row["statement"]})
        for h in llm_analyst.new_hypotheses(answer, cycle, {h["id"] for h in hyps}):
            self.kb.upsert_hypothesis(h)
            changes.append({"id": h["id"], "from": None, "to": "active", "statement": f"[llm] {h['statement']}"})
        return answer

    def llm_stats(self, cycle: int | None = None) -> dict[str, Any]:
        """calls, ok, tokens (from llm_calls) and valid / repaired LLM proposals (from genome provenance)."""
        calls = [c for c in self.kb.llm_calls() if cycle is None or c["cycle"] == cycle]
        made = [g for g in self.kb.genomes() if g["provenance"].get("designer") == "llm"
                and (cycle is None or g["cycle"] == cycle)]
        invalid = {c.triple[c.focus] for c in self.kb.candidates(status="invalid") if c.focus in c.triple}
        valid = [g for g in made if g["id"] not in invalid]
        return {**llm.summarise_calls(calls), "valid_proposals": len(valid),
                "repaired": sum(int(g["provenance"].get("repairs", 0)) > 0 for g in valid)}

    def _llm_cycle_metrics(self, cycle: int) -> dict[str, float]:
        if self.llm.client is None:
            return {}
        stats = self.llm_stats(cycle)
        slots = int(self.kb.get_meta(f"llm_slots:{cycle}", 0))
        return {**{f"llm.{k}": float(v) for k, v in stats.items()},
                **({"llm.valid_proposal_rate": stats["valid_proposals"] / slots} if slots else {})}

    def _progress(self, records: list[analyst.GenomeRecord], cycle: int, window: int) -> dict[str, float]:
        """Gain in best isolated perf over the last `window` cycles per device-hour spent on the domain."""
        hours: dict[str, float] = defaultdict(float)
        cyc = {c.id: c.cycle for c in self.kb.candidates()}
        for ev in self.kb.evaluations():
            if cyc.get(ev.candidate, -1) > cycle - window:
                hours[ev.domain] += ev.seconds / 3600.0
        out = {}
        for name in self.names:
            now = [r.perf for r in records if r.domain == name and r.cycle <= cycle]
            before = [r.perf for r in records if r.domain == name and r.cycle <= cycle - window]
            gain = (max(now) - max(before)) if now and before else (max(now) if now else 0.0)
            out[name] = gain / hours[name] if hours[name] > 0 else 0.0
        return out

    # ---------------------------------------------------------------------- outputs
    def _save_wall_time(self) -> None:
        before = float(self.kb.get_meta("wall_seconds_before", 0.0))
        self.kb.set_meta("wall_seconds_before", before + time.time() - self._session_start)
        self._session_start = time.time()

    def pareto_front(self) -> list[dict[str, Any]]:
        rows, F = self._front_points()
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

    def write_summary(self) -> dict[str, Any]:
        counts = self.evaluation_counts()
        wall = float(self.kb.get_meta("wall_seconds_before", 0.0)) + time.time() - self._session_start
        summary = {
            "campaign": self.name, "domains": self.names, "scale": self.cfg["scale"]["name"],
            "cycles_done": int(self.kb.get_meta("cycles_done", 0)), "cycles": self.cycles,
            "evaluations_total": counts["total"], "evaluations_by_stage": counts["by_stage"],
            "runs_total": counts["runs"], "runs_by_stage": counts["runs_by_stage"],
            "failed": counts["failed"], "invalid": counts["invalid"],
            "hypervolume": self.hypervolume(),
            "hypervolume_by_stage": {s: self.hypervolume(s) for s in STAGES},
            "hypervolume_history": self.kb.get_meta("hv_history", []),
            "pareto_front": self.pareto_front(), "best_perf": self.best_perf(),
            "incumbents": {n: self.top_genomes(n, 1)[0] for n in self.names},
            "hypotheses": {s: len(self.kb.hypotheses(s)) for s in ("active", "supported", "refuted", "retired")},
            "designer": self.designer.name,
            "llm": {"mode": self.kb.get_meta("llm_mode") or self.llm.settings.mode, "note": self.llm_note, **self.llm_stats(),
                    "model": self.kb.get_meta("llm_model")},
            "kb_path": str(self.kb_path.resolve()),
            "mlflow_tracking_uri": self.kb.get_meta("mlflow_tracking_uri"),
            "mlflow_run_id": self.kb.get_meta("mlflow_run_id"),
            "wall_seconds": wall, "device_seconds": self.device_seconds(),
            "report": str((self.run_dir / "report.md").resolve()),
            "budget": {"evaluations": (self.cfg["campaign"].get("budget") or {}).get("evaluations"),
                       "evaluations_recorded": self.evaluations_recorded(), "reached": self.budget_reached()},
            "complete": int(self.kb.get_meta("cycles_done", 0)) >= self.cycles or bool(self.budget_reached()),
        }
        tmp = self.run_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2, default=float))
        tmp.replace(self.run_dir / "summary.json")
        return summary

    def _write_report(self) -> None:
        from evolve.reporting import write_run_report  # plots are slow to import; only at the end
        try:
            path = write_run_report(self.run_dir, self)
            self.tracker.log_artifact(path.parent / "report.md")
            for png in path.parent.glob("*.png"):
                self.tracker.log_artifact(png, "plots")
        except Exception as exc:  # a report must never cost the campaign its results
            self.progress.log(f"report failed: {type(exc).__name__}: {exc}")


def _seconds(ev: Evaluation) -> float:
    return float(ev.cost.get("seconds", ev.seconds))


def _flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) or v is None else canonical_json(v)
    return out
