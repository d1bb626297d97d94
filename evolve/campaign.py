"""The LDEA loop: Learn -> Design -> Experiment -> Analyze, one cycle at a time.

Every step reads and writes the knowledge base, the campaign's only state, so a run
killed at any moment resumes where it stopped: phases are planned atomically (their
candidates plus a marker), each result is committed on its own, and evaluation only
ever runs what has no result yet.

A cycle (each phase is a function in evolve/phases/, measurements come from the archive
read-model in evolve/archive.py):
  Learn + Design  phases/design.py: the designer breeds new genomes for the domains the
           agenda favours; each becomes an isolated-stage candidate (its domain changed, the
           others at their incumbents). Cycle 0 seeds the archive with baselines and samples.
  Experiment  isolated -> cross -> full (phases/experiment.py, phases/promotion.py): evaluate a
           stage, promote its best p_pass by Pareto order (perf up, cost down, novelty up), repeat.
  Analyze  phases/analysis.py: test hypotheses, set the agenda, log to MLflow; write summary.json.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping

from domains.base import genome_id
from evolve import identity, llm, stages, start_set
from evolve.archive import Archive, ArchiveSettings
from evolve.config import ConfigError
from evolve.designers import build_designer
from evolve.designers.context import DesignContext, build_context
from evolve.execution import Executor, make_executor
from evolve.knowledge import KnowledgeBase, KnowledgeBaseError
from evolve.phases import analysis, design, experiment, outputs, promotion
from evolve.phases.context import Context
from evolve.phases.experiment import CampaignError
from evolve.plugins import PluginError, build_domain, domain_config
from evolve.progress import ProgressView
from evolve.tracking import NullTracker, Tracker, campaign_run_name, campaign_run_tags, default_tracking_uri
from evolve.execution.worker import run_evaluation

__all__ = ["Campaign", "CampaignError"]


class Campaign:
    """A campaign set up from its resolved config in `run_dir`; `run()` runs its cycles."""

    def __init__(self, cfg: Mapping[str, Any], run_dir: Path, root: Path) -> None:
        """Store the settings and build the domains (a domain that rejects its config stops here); nothing is
        created, opened or connected until `open()`."""
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.root = Path(root)
        camp, scale = cfg["campaign"], cfg["scale"]
        self.name = str(camp["name"])
        domain_cfgs = {n: domain_config(raw, scale["name"], scale["device"]) for n, raw in cfg["domains"].items()}
        self.domains = start_set.apply_all({n: _build(n, c) for n, c in domain_cfgs.items()},
                                           camp.get("start_set"))  # rediscovery: withheld designs (evolve/start_set.py)
        self.stage_specs = stages.stage_specs(scale)
        # what workers build per stage: on a ladder each stage evaluates at its own rung's model size
        self.stage_domain_cfgs = {st: {n: _rung_config(n, raw, scale, spec.rung) for n, raw in cfg["domains"].items()}
                                  for st, spec in self.stage_specs.items()}
        self.reference_triple = {n: _baseline_gid(d) for n, d in self.domains.items()}
        self.kb_path = self.run_dir / "knowledge.db"
        self.ctx: Context | None = None  # set by open(), kept after close() for reading
        self._open = False

    def open(self) -> "Campaign":
        """Create the run directory, open its knowledge base (refusing another campaign's), start the MLflow run
        and connect the LLM; whatever was started is closed again if a later step refuses."""
        if self._open:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        kb = KnowledgeBase(self.kb_path, self.name).open()
        tracker: Tracker | NullTracker = NullTracker()
        try:
            self._check_same_campaign(kb, list(self.domains), self.reference_triple)
            archive = Archive(kb, ArchiveSettings.from_config(self.cfg, self.reference_triple))
            tracker = self._tracker(kb)
            conn = _connect_llm(self.cfg, kb, tracker)
            camp = self.cfg["campaign"]
            ctx = Context(cfg=self.cfg, run_dir=self.run_dir, seed=int(self.cfg["seed"]), cycles=int(camp["cycles"]),
                          names=list(self.domains), domains=self.domains, stage_specs=self.stage_specs,
                          stages=stages.active_stages(bool(camp.get("cross_stage", True))),
                          stage_domain_cfgs=self.stage_domain_cfgs, reference_triple=self.reference_triple, kb=kb,
                          archive=archive, llm=conn, tracker=tracker,
                          progress=ProgressView(enabled=bool(self.cfg.get("progress", True))))
            self.ctx = ctx
            ctx.designer = build_designer(self.cfg, conn, self._design_context)
        except BaseException:
            tracker.close("FAILED")
            kb.close()
            raise
        self._open = True
        return self

    def close(self, status: str = "FINISHED") -> None:
        """End the MLflow run with `status` and close the knowledge base; closing twice does nothing."""
        if not self._open or self.ctx is None:
            return
        self._open = False
        try:
            self.ctx.tracker.close(status)
        finally:
            self.ctx.kb.close()

    def __enter__(self) -> "Campaign":
        return self.open()

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.close("FINISHED" if exc_type is None else "KILLED" if exc_type is KeyboardInterrupt else "FAILED")

    # ------------------------------------------------------------------------- set-up
    def _check_same_campaign(self, kb: KnowledgeBase, names: list[str], reference: dict[str, str]) -> None:
        """A run directory belongs to one campaign (the same set of domains, scale and seed) measured under one
        result-affecting configuration (evolve/identity.py): anything else is refused with the differences,
        unless campaign.allow_config_change=true (then the change is recorded and the new config kept)."""
        current = identity.identity(names, self.cfg["scale"]["name"], int(self.cfg["seed"]))
        stored = kb.get_meta("identity")
        if stored is None:
            with kb.transaction() as db:
                kb.set_meta("identity", current, db)
                kb.set_meta("config", self.cfg, db)
                kb.set_meta("reference_triple", reference, db)
            return
        if not identity.same_identity(stored, current):
            raise KnowledgeBaseError(f"{self.kb_path} holds a campaign with {stored}, but this run asks for "
                                     f"{current}; use a new hydra.run.dir or the original settings")
        changes = identity.config_changes(kb.get_meta("config") or {}, self.cfg)
        if not changes:
            return
        if not self.cfg["campaign"].get("allow_config_change", False):
            raise KnowledgeBaseError(
                f"{self.kb_path} was run with other result-affecting settings; resuming would mix results measured "
                "under two configurations:\n  " + "\n  ".join(changes) + "\nuse the original settings, a new "
                "hydra.run.dir, or campaign.allow_config_change=true to continue anyway")
        with kb.transaction() as db:
            history = list(kb.get_meta("config_changes") or [])
            kb.set_meta("config_changes", history + [{"at": time.time(), "changes": changes}], db)
            kb.set_meta("config", self.cfg, db)

    def _tracker(self, kb: KnowledgeBase) -> Tracker | NullTracker:
        tcfg = self.cfg.get("tracking") or {}
        if not tcfg.get("enabled", True):
            return NullTracker()
        uri = tcfg.get("uri") or default_tracking_uri(self.root)
        who = (list(self.cfg["domains"]), self.cfg["scale"]["name"], int(self.cfg["seed"]), self.run_dir)
        tracker = Tracker(uri, experiment=self.name, run_name=campaign_run_name(*who), params=self.cfg,
                          resume_run_id=kb.get_meta("mlflow_run_id"), tags=campaign_run_tags(*who)).start()
        kb.set_meta("mlflow_run_id", tracker.run_id)
        kb.set_meta("mlflow_tracking_uri", uri)
        return tracker

    def _design_context(self, name: str) -> DesignContext:
        s, ctx = self.ctx.llm.settings, self.ctx
        return build_context(ctx.kb, ctx.archive, name, ctx.domains[name].grammar(), ctx.cycle,
                             top_k=s.context_top_k, failures=s.context_failures, hypotheses=s.context_hypotheses,
                             text_chars=s.text_max_chars)

    # --------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        """Cycles until `campaign.cycles` are done or the budget is spent; always leaves a summary and report.
        Opens the campaign if the caller has not, and closes it at the end."""
        ctx, status = self.open().ctx, "FINISHED"
        executor = make_executor(self.cfg["executor"], run_evaluation, scratch_root=self.run_dir / "scratch",
                                 scale=self.cfg["scale"], env=self._worker_env())
        try:
            executor.start()
            with ctx.progress:
                ctx.progress.log(ctx.llm.note)
                ctx.progress.log(f"knowledge base: {self.kb_path}")
                cycle = ctx.archive.cycles_done()
                if cycle:
                    ctx.progress.log(f"resuming after cycle {cycle - 1} "
                                     f"({ctx.archive.evaluations_recorded()} evaluations already recorded)")
                while cycle < ctx.cycles and not self._budget_spent():
                    if not self._cycle(cycle, executor):
                        break  # the evaluation budget ran out mid-cycle; a larger budget resumes here
                    cycle += 1
                    ctx.kb.set_meta("cycles_done", cycle)
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            executor.shutdown()
            outputs.save_wall_time(ctx)
            summary = outputs.write_summary(ctx)
            outputs.write_report(ctx)
            self.close(status)
        return summary

    def _cycle(self, cycle: int, executor: Executor) -> bool:
        """One LDEA cycle; False when the budget stopped it before its end (nothing is planned on partial results)."""
        ctx = self.ctx
        ctx.cycle = cycle
        if ctx.llm.client is not None:
            ctx.llm.client.cycle = cycle
        design.plan_design(ctx, cycle)                              # Learn + Design
        experiment.evaluate_stage(ctx, "isolated", cycle, executor)  # Experiment
        for stage in ctx.stages[1:]:
            if ctx.archive.budget_reached():
                return False
            promotion.plan_promotions(ctx, stage, cycle)
            experiment.evaluate_stage(ctx, stage, cycle, executor)
        if ctx.archive.budget_reached() and ctx.kb.candidates(status="pending"):
            return False
        analysis.analyze(ctx, cycle)                                # Analyze
        return True

    def _budget_spent(self) -> bool:
        reason = self.ctx.archive.budget_reached()
        if reason:
            self.ctx.progress.log(f"{reason}: stopping")
        return bool(reason)

    def _worker_env(self) -> dict[str, str]:
        """Workers import plugins the way the driver does: the launch directory goes on their path."""
        paths = [str(self.root.resolve()), os.environ.get("PYTHONPATH", "")]
        return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


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


def _rung_config(name: str, raw: Mapping[str, Any], scale: Mapping[str, Any], rung: str | None) -> dict:
    try:
        return domain_config(raw, scale["name"], scale["device"], rung)
    except PluginError as exc:
        raise ConfigError(f"scale {scale['name']!r} evaluates a stage at rung {rung!r}: {exc}") from exc


def _baseline_gid(domain: Any) -> str:
    """The id of the domain's reference baseline: perf 0 of every stage is measured against it."""
    bases = domain.baselines()
    if domain.reference not in bases:
        raise CampaignError(f"domain {domain.name!r} names reference {domain.reference!r} "
                            f"but its baselines are {sorted(bases)}")
    return genome_id(domain.name, domain.to_json(bases[domain.reference]))


def _connect_llm(cfg: Mapping[str, Any], kb: KnowledgeBase, tracker: Tracker | NullTracker) -> llm.Connection:
    """The LLM client the `llm` config asks for (None inside for GP-only); a bad set-up is a ConfigError."""
    try:
        conn = llm.connect(cfg.get("llm"), kb.record_llm_call)
    except (llm.LLMError, ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from exc
    if conn.client is not None:
        kb.set_meta("llm_model", conn.client.model)
        kb.set_meta("llm_mode", conn.settings.mode)
        tracker.set_tags({"llm.model": conn.client.model, "llm.mode": conn.settings.mode})
    return conn
