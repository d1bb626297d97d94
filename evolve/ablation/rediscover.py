"""Rediscovery: does the engine find a withheld known-good design (or one as good), and how much sooner
than random search? (docs/ablation.md, "Rediscovery benchmarks")

A task (`conf/rediscover/<task>.yaml`) withholds designs from one domain's start set
(`campaign.start_set`, evolve/start_set.py) and names the withheld baselines whose perf is the target.
For every campaign seed and stage in `rediscover.stages`, the withheld genomes themselves are evaluated
once at that stage's budget and seeds (common random numbers: the seeds every candidate of that
campaign's stage used), by the same executor and worker as a campaign, into `<dir>/targets/knowledge.db`
(one result per transaction: resumable, never evaluated twice). Their perf is normalised against each
run's own reference scores at the same stage and seeds, so it is on exactly the scale of the run's
candidates; the target is the best withheld design's perf.

A *hit* is a designed genome (not a start-set baseline) whose perf at the stage is at least the target
minus `rediscover.tolerance`. Perf here is the domain's raw gain (`normalise`) over the run's reference,
averaged over the stage's seeds: the domain's own units (nats, normalised return), read from the
scores, so it does not move when the engine changes how it scales perf for selection. Its time is the number of evaluations recorded when the hit's last
evaluation was recorded (the unit of `campaign.budget.evaluations`). A run that never hits is censored at
the evaluations it recorded; the report gives hit rates, the Kaplan-Meier median evaluations to a first
hit with a bootstrap interval, the best perf reached minus the target, and the genomes that hit.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from evolve.ablation import stats
from evolve.ablation.runs import AblationError, run_dirs
from evolve.config import CONF_DIR
from evolve.formatting import number

TASK_DIR = CONF_DIR / "rediscover"


# ------------------------------------------------------------------------------------------- tasks
def task_names() -> list[str]:
    return sorted(p.stem for p in TASK_DIR.glob("*.yaml"))


def task_domain(task: str) -> str:
    """The domain a task runs on, read from its preset (the runner's --domain)."""
    import yaml

    if task not in task_names():
        raise ValueError(f"unknown rediscovery task {task!r}; choose from: {', '.join(task_names())}")
    return str(yaml.safe_load((TASK_DIR / f"{task}.yaml").read_text())["rediscover"]["domain"])


def task_of(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run config's `rediscover` section with defaults, or None for a run that is not a rediscovery."""
    spec = cfg.get("rediscover")
    if not spec:
        return None
    targets = list(spec.get("targets") or [])
    if not targets:
        raise AblationError("rediscover.targets names no withheld design")
    return {"task": str(spec.get("task", spec["domain"])), "domain": str(spec["domain"]), "targets": targets,
            "stages": list(spec.get("stages") or ["full"]), "tolerance": float(spec.get("tolerance", 0.0))}


# ---------------------------------------------------------------------------- target evaluations

@dataclass
class RunView:
    """What the benchmark reads of one run: its knowledge base and read-model, and its domains under the
    run's start set (withheld genomes, normalise, text), built from the run's stored config."""

    kb: Any
    cfg: dict[str, Any]
    archive: Any
    domains: dict[str, Any]
    stage_specs: dict[str, Any]
    stage_domain_cfgs: dict[str, dict[str, Any]]

    @property
    def seed(self) -> int:
        return int(self.cfg["seed"])

    @property
    def reference_triple(self) -> dict[str, str]:
        return self.archive.reference_triple


def open_view(run_dir: Path) -> RunView:
    from evolve import stages, start_set
    from evolve.archive import open_run
    from evolve.plugins import build_domain, domain_config

    kb, cfg, archive = open_run(run_dir)
    try:
        scale = cfg["scale"]
        specs = stages.stage_specs(scale)
        domains = start_set.apply_all(
            {n: build_domain(n, domain_config(raw, scale["name"], scale["device"])) for n, raw in cfg["domains"].items()},
            (cfg["campaign"].get("start_set") or {}))
        stage_cfgs = {st: {n: domain_config(raw, scale["name"], scale["device"], spec.rung)
                           for n, raw in cfg["domains"].items()} for st, spec in specs.items()}
        return RunView(kb, cfg, archive, domains, specs, stage_cfgs)
    except BaseException:
        kb.close()
        raise


def _campaigns_by_seed(root: Path) -> dict[int, Path]:
    """One run directory per campaign seed: every arm of a seed shares the stage seeds and the reference."""
    out: dict[int, Path] = {}
    for d in run_dirs(root):
        cfg = _stored_config(d)
        out.setdefault(int(cfg["seed"]), d)
    return out


def _stored_config(run_dir: Path) -> dict[str, Any]:
    import sqlite3

    con = sqlite3.connect(f"file:{Path(run_dir) / 'knowledge.db'}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
    finally:
        con.close()
    if row is None:
        raise AblationError(f"{run_dir} holds no campaign config")
    return json.loads(row[0])


def _target_triple(camp: Any, task: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The reference triple with the task domain's genome replaced by the withheld design `name`."""
    dom = camp.domains[task["domain"]]
    if name not in dom.withheld:
        raise AblationError(f"rediscover.targets names {name!r}, but the run withholds only {sorted(dom.withheld)} "
                            f"(campaign.start_set.{task['domain']}.withhold)")
    triple = {n: camp.kb.genome(g)["json"] for n, g in camp.reference_triple.items()}
    triple[task["domain"]] = dom.to_json(dom.withheld[name])
    return triple


def target_key(stage: str, triple_json: Mapping[str, Any]) -> str:
    return "target:" + stage + ":" + json.dumps(triple_json, sort_keys=True)


def run_targets(root: Path, progress: Callable[[str], None] = print) -> Path:
    """Evaluate each withheld target at each (campaign seed, stage) not yet measured; returns the KB path."""
    from domains.base import genome_id
    from evolve.execution import TaskKey
    from evolve.execution.evaluations import EvaluationTask
    from evolve.knowledge import KnowledgeBase

    root = Path(root)
    kb = KnowledgeBase(root / "targets" / "knowledge.db", "targets").open()
    tasks: list[Any] = []
    executor_cfg, scale = None, None
    try:
        with kb.transaction() as db:
            for seed, run_dir in sorted(_campaigns_by_seed(root).items()):
                camp = open_view(run_dir)
                try:
                    task = task_of(camp.cfg)
                    if task is None:
                        raise AblationError(f"{run_dir} is not a rediscovery run (its config has no rediscover section)")
                    executor_cfg, scale = camp.cfg["executor"], camp.cfg["scale"]
                    identity = json.loads(json.dumps({"task": task, "configs": camp.stage_domain_cfgs}, sort_keys=True))
                    stored = kb.get_meta("identity")
                    if stored is not None and stored != identity:
                        raise AblationError(f"{kb.path} holds targets measured under other settings than {run_dir}'s "
                                            "(task or domain configs differ): use a fresh --dir for new settings")
                    kb.set_meta("identity", identity, db)
                    done = kb.done_keys()
                    for stage in task["stages"]:
                        spec = camp.stage_specs[stage]
                        for name in task["targets"]:
                            triple = _target_triple(camp, task, name)
                            cid = genome_id("candidate:target", {"key": target_key(stage, triple)})
                            gids = {}
                            for d, js in triple.items():
                                gids[d] = genome_id(d, js)
                                kb.add_genome(db, gid=gids[d], domain=d, genome_json=js,
                                              text=camp.domains[d].to_text(camp.domains[d].from_json(js)),
                                              origin=f"target:{name}", parents=(), cycle=0)
                            kb.add_candidate(db, cid=cid, stage=stage, triple=gids, focus=task["domain"], cycle=0,
                                             source=name)
                            tasks += [EvaluationTask(TaskKey(cid, task["domain"], s), camp.stage_domain_cfgs[stage],
                                                     triple, stage, spec.fraction)
                                      for s in spec.seed_list(seed) if (cid, task["domain"], s) not in done]
                finally:
                    camp.kb.close()
        if tasks:
            _evaluate(kb, tasks, executor_cfg, scale, root / "targets" / "scratch", progress)
    finally:
        kb.close()
    return root / "targets" / "knowledge.db"


def _evaluate(kb: Any, tasks: Sequence[Any], executor_cfg: Mapping[str, Any], scale: Mapping[str, Any],
              scratch: Path, progress: Callable[[str], None]) -> None:
    """Run the target tasks through the campaign's executor and worker; each result is committed on its own."""
    from evolve.execution import evaluations, make_executor
    from evolve.execution.worker import run_evaluation

    repo = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)}
    with make_executor(executor_cfg, run_evaluation, scratch_root=scratch, scale=scale, env=env) as pool:
        for i, outcome in enumerate(evaluations.run(pool, tasks), 1):
            kb.record_evaluation(outcome.evaluation)
            res = outcome.result
            progress(f"rediscovery target {i}/{len(tasks)}: {outcome.key.domain} seed {outcome.key.seed} "
                     f"{res.status} in {res.seconds:.1f}s")


def _target_scores(kb_path: Path) -> dict[tuple[str, str], dict[int, float]]:
    """(stage, target JSON key) -> seed -> raw score, from the targets knowledge base."""
    import sqlite3

    out: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    if not Path(kb_path).exists():
        return out
    con = sqlite3.connect(f"file:{kb_path}?mode=ro", uri=True)
    try:
        cands = {cid: (stage, source, json.loads(triple)) for cid, stage, source, triple in
                 con.execute("SELECT id, stage, source, triple FROM candidates")}
        genomes = {gid: json.loads(js) for gid, js in con.execute("SELECT id, json FROM genomes")}
        for cid, seed, status, score in con.execute("SELECT candidate, seed, status, score FROM evaluations"):
            stage, _, triple = cands[cid]
            if status == "ok" and score is not None:
                key = target_key(stage, {d: genomes[g] for d, g in triple.items()})
                out[(stage, key)][int(seed)] = float(score)
    finally:
        con.close()
    return out


# ------------------------------------------------------------------------------------- one run
def analyse_run(run_dir: Path, targets: Mapping[tuple[str, str], Mapping[int, float]]) -> dict[str, Any]:
    """Per stage: the target perf, every designed genome's perf and when it was settled, first hit, best."""
    camp = open_view(run_dir)
    try:
        cfg = camp.cfg
        task = task_of(cfg)
        if task is None:
            raise AblationError(f"{run_dir} is not a rediscovery run (its config has no rediscover section)")
        d = task["domain"]
        dom = camp.domains[d]
        by_cand: dict[str, list[Any]] = defaultdict(list)
        settled: dict[str, int] = {}  # candidate -> evaluations recorded when its last result came in
        for i, e in enumerate(camp.kb.evaluations(), 1):
            by_cand[e.candidate].append(e)
            settled[e.candidate] = i
        total = camp.archive.evaluations_recorded()
        out: dict[str, Any] = {"arm": str((cfg.get("ablation") or {}).get("arm", "?")), "seed": int(cfg["seed"]),
                               "run_dir": str(run_dir), "evaluations": total, "task": task, "stages": {}}
        for stage in task["stages"]:
            seeds = camp.stage_specs[stage].seed_list(camp.seed)
            done = camp.kb.candidates(stage=stage, status="done")
            ref = next((c for c in done if camp.archive.is_reference(c)), None)
            ref_score = _scores(by_cand[ref.id], d) if ref else {}

            def gain(scores: Mapping[int, float]) -> float | None:
                """Mean over the stage's seeds of the domain's raw gain over the run's reference."""
                if not ref_score or not all(s in scores and s in ref_score for s in seeds):
                    return None
                return float(np.mean([dom.normalise(scores[s], ref_score[s]) for s in seeds]))

            per_target = {}
            for name in task["targets"]:
                g = gain(targets.get((stage, target_key(stage, _target_triple(camp, task, name))), {}))
                if g is not None:
                    per_target[name] = g
            target_name = max(per_target, key=per_target.get) if per_target else None
            target = per_target.get(target_name) if target_name else None
            designed, start = [], []
            for cand in done:
                if d not in cand.triple:
                    continue
                perf = gain(_scores(by_cand[cand.id], d))
                if perf is None:
                    continue
                g = camp.kb.genome(cand.triple[d])
                if camp.archive.is_reference(cand) or g["origin"].startswith("baseline:"):  # the start set (the reference is in it)
                    start.append(perf)
                    continue
                designed.append({"perf": perf, "at": settled[cand.id], "gid": g["id"], "text": g["text"],
                                 "origin": g["origin"], "cycle": cand.cycle})
            hits = sorted((x for x in designed if target is not None and x["perf"] >= target - task["tolerance"]),
                          key=lambda x: x["at"])
            best = max((x["perf"] for x in designed), default=None)
            out["stages"][stage] = {
                "target": target, "target_name": target_name, "targets": per_target,
                "evaluated": target is not None, "hit": bool(hits), "first_hit": hits[0]["at"] if hits else None,
                "time": hits[0]["at"] if hits else total, "designed": len(designed),
                "best_perf": best, "best_minus_target": None if best is None or target is None else best - target,
                "start_best_minus_target": None if not start or target is None else max(start) - target,
                "hits": [{k: x[k] for k in ("gid", "text", "perf", "at", "origin", "cycle")} for x in hits],
            }
        return out
    finally:
        camp.kb.close()


def _scores(evaluations: Sequence[Any], domain: str) -> dict[int, float]:
    return {e.seed: float(e.score) for e in evaluations if e.domain == domain and e.status == "ok" and e.score is not None}


# ---------------------------------------------------------------------------------- the summary
def build(root: Path, confidence: float = 0.95, n_resamples: int = 2000) -> dict[str, Any] | None:
    """The rediscovery section of an ablation (None when its runs are not a rediscovery task)."""
    root = Path(root)
    dirs = run_dirs(root)
    if not dirs or task_of(_stored_config(dirs[0])) is None:
        return None
    targets = _target_scores(root / "targets" / "knowledge.db")
    runs = [analyse_run(d, targets) for d in dirs]
    task = runs[0]["task"]
    arms = list(dict.fromkeys(r["arm"] for r in sorted(runs, key=lambda r: (r["arm"], r["seed"]))))
    per_stage: dict[str, Any] = {}
    for stage in task["stages"]:
        per_arm: dict[str, Any] = {}
        for arm in arms:
            mine = sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
            rows = [r["stages"][stage] for r in mine]
            measured = [x for x in rows if x["evaluated"]]
            times = [x["time"] for x in measured]
            hit = [x["hit"] for x in measured]
            rate, lo, hi = stats.hit_rate(sum(hit), len(measured), confidence)
            med = stats.km_median(times, hit) if measured else None
            mlo, mhi = stats.km_median_ci(times, hit, confidence, n_resamples) if measured else (None, None)
            gaps = [x["best_minus_target"] for x in measured if x["best_minus_target"] is not None]
            if gaps:
                mean, glo, ghi = (float(v[0]) for v in stats.mean_band(np.array(gaps)[:, None], confidence, n_resamples))
            else:
                mean = glo = ghi = None
            found: dict[str, dict[str, Any]] = {}
            for r, x in zip(mine, rows):
                for h in x["hits"]:
                    f = found.setdefault(h["gid"], {"text": h["text"], "perf": [], "runs": []})
                    f["perf"].append(h["perf"] - x["target"])
                    f["runs"].append(f"seed {r['seed']} @ {h['at']}")
            per_arm[arm] = {
                "seeds": [r["seed"] for r in mine], "runs": len(mine), "measured": len(measured),
                "hits": int(sum(hit)), "hit_rate": rate, "hit_rate_ci": [lo, hi],
                "first_hit": [x["first_hit"] for x in rows], "evaluations": [r["evaluations"] for r in mine],
                "km_median": med, "km_median_ci": [mlo, mhi],
                "best_minus_target": [x["best_minus_target"] for x in rows], "best_minus_target_mean": mean,
                "best_minus_target_ci": [glo, ghi],
                "start_best_minus_target": [x["start_best_minus_target"] for x in rows],
                "best_share": [x["best_perf"] / x["target"] if x["best_perf"] is not None and x["target"] else None
                               for x in rows],  # share of the target's gain over the reference reached
                "targets": [x["target"] for x in rows], "target_names": [x["target_name"] for x in rows],
                "designed": [x["designed"] for x in rows],
                "hit_genomes": sorted(({"gid": g, **f} for g, f in found.items()), key=lambda f: -len(f["runs"])),
            }
        pairs = []
        for i, a in enumerate(arms):
            for b in arms[i + 1:]:
                ta, tb = (per_arm[x] for x in (a, b))
                ra = [r["stages"][stage] for r in runs if r["arm"] == a and r["stages"][stage]["evaluated"]]
                rb = [r["stages"][stage] for r in runs if r["arm"] == b and r["stages"][stage]["evaluated"]]
                p = stats.logrank_p([x["time"] for x in ra], [x["hit"] for x in ra],
                                    [x["time"] for x in rb], [x["hit"] for x in rb])
                pairs.append({"a": a, "b": b, "hits_a": ta["hits"], "hits_b": tb["hits"], "logrank_p": p})
        gaps_by_arm = {a: [g for g in per_arm[a]["best_minus_target"] if g is not None] for a in arms}
        gap_pairs = stats.pairwise(gaps_by_arm, confidence, n_resamples) if len(arms) > 1 else []
        per_stage[stage] = {"arms": per_arm, "pairwise": pairs, "best_minus_target_pairwise": gap_pairs}
    return {"task": task, "confidence": confidence, "stages": per_stage,
            "runs": [{k: v for k, v in r.items() if k != "task"} for r in runs],
            "recompute": f"python -m evolve.ablation rediscover {root}"}


def _f(x: Any, digits: int = 3) -> str:
    return "not reached" if isinstance(x, float) and np.isinf(x) else number(x, digits, missing="–")


def markdown(data: Mapping[str, Any], budget: Any = None) -> list[str]:
    """The rediscovery section of ablation.md."""
    task, conf = data["task"], f"{data['confidence']:.0%}"
    L = [f"## Rediscovery — task `{task['task']}`", "",
         f"Domain **{task['domain']}**; withheld target(s) {', '.join(f'`{t}`' for t in task['targets'])} "
         f"(campaign.start_set); a hit is a designed genome whose perf at the stage is at least the best target's "
         f"perf − {task['tolerance']:g}. Perf here is the domain's raw gain over the run's own reference (domain "
         "units), averaged over the stage's seeds; each target is evaluated at the same stage and seeds as the "
         "run's candidates. Evaluations to first hit count every recorded "
         "(candidate, domain, seed) result, as `campaign.budget.evaluations` does; runs that never hit are "
         f"censored at their evaluations (Kaplan-Meier). Intervals are {conf}: hit rate exact (Clopper-Pearson), "
         "median percentile bootstrap over runs, best − target bootstrap of the mean.", ""]
    for stage, s in data["stages"].items():
        L += [f"### Stage `{stage}`", "",
              "| arm | runs | hit rate | CI | median evals to first hit (KM) | CI | first hit per seed | "
              "target (mean gain over reference) | best − target (mean) | CI | start set best − target |",
              "|---|---:|---:|---|---:|---|---|---:|---:|---|---|"]
        for arm, a in s["arms"].items():
            per = ", ".join(f"{seed}: {h if h is not None else f'>{n}'}" for seed, h, n in
                            zip(a["seeds"], a["first_hit"], a["evaluations"]))
            start = ", ".join(_f(x) for x in a["start_best_minus_target"])
            L.append(f"| {arm} | {a['measured']}/{a['runs']} | {a['hits']}/{a['measured']} = {_f(a['hit_rate'], 2)} | "
                     f"[{_f(a['hit_rate_ci'][0], 2)}, {_f(a['hit_rate_ci'][1], 2)}] | {_f(a['km_median'])} | "
                     f"[{_f(a['km_median_ci'][0])}, {_f(a['km_median_ci'][1])}] | {per} | "
                     f"{_f(float(np.mean([t for t in a['targets'] if t is not None])) if any(t is not None for t in a['targets']) else None)} | "
                     f"{_f(a['best_minus_target_mean'])} | [{_f(a['best_minus_target_ci'][0])}, "
                     f"{_f(a['best_minus_target_ci'][1])}] | {start} |")
        for arm, a in s["arms"].items():
            shares = [x for x in a["best_share"] if x is not None]
            if shares:
                L.append(f"\n{arm}: best perf as a share of the target's gain over the reference, per seed: "
                         + ", ".join(f"{x:.0%}" for x in shares) + f" (mean {np.mean(shares):.0%}).")
        for p in s["pairwise"]:
            L.append(f"\nLog-rank test {p['a']} vs {p['b']} (equal time-to-hit curves): p = {_f(p['logrank_p'])}.")
        for r in s.get("best_minus_target_pairwise", []):
            L.append(f"\nBest − target, {r['a']} − {r['b']}: {_f(r['diff'])} [{_f(r['ci_low'])}, {_f(r['ci_high'])}] "
                     f"(bootstrap {conf} CI), Hedges' g {_f(r['hedges_g'])}, Mann-Whitney p {_f(r['p_value'])} "
                     f"(smallest attainable {_f(r['smallest_p'])}): {r['verdict']}.")
        L.append("")
        for arm, a in s["arms"].items():
            if not a["hit_genomes"]:
                continue
            L += [f"Genomes that hit ({arm}, stage {stage}):", ""]
            for g in a["hit_genomes"][:5]:
                L += [f"- `{g['gid'][:10]}` in {len(g['runs'])} run(s) ({'; '.join(g['runs'])}), perf − target "
                      f"{', '.join(_f(p) for p in g['perf'])}:", "", "```", g["text"].strip()[:1200], "```", ""]
    L += ["![runs without a hit vs evaluations (Kaplan-Meier)](rediscovery_km.png)", "",
          "Recompute: `" + data["recompute"] + "`.", ""]
    return L


def plot_km(data: Mapping[str, Any], path: Path) -> Path:
    """Share of runs still without a hit against evaluations (Kaplan-Meier), one panel per stage."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    stages_ = list(data["stages"])
    fig = Figure(figsize=(4.5 * len(stages_), 3.6), dpi=120)
    FigureCanvasAgg(fig)
    for k, stage in enumerate(stages_):
        ax = fig.add_subplot(1, len(stages_), k + 1)
        for i, (arm, a) in enumerate(data["stages"][stage]["arms"].items()):
            times = [h if h is not None else n for h, n in zip(a["first_hit"], a["evaluations"])]
            hit = [h is not None for h in a["first_hit"]]
            t, sv = stats.km_survival(times, hit)
            ax.step([0, *t.tolist()], [1.0, *sv.tolist()], where="post", color=f"C{i}", label=f"{arm} (n={len(times)})")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("evaluations recorded")
        ax.set_ylabel("share of runs without a hit")
        ax.set_title(f"{data['task']['task']}: stage {stage}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, bbox_inches="tight")
    return path


def write(root: Path, data: Mapping[str, Any]) -> Path:
    plot_km(data, Path(root) / "rediscovery_km.png")
    path = Path(root) / "rediscovery.json"
    path.write_text(json.dumps(data, indent=2, default=lambda x: x.item() if hasattr(x, "item") else str(x)))
    (Path(root) / "rediscovery.md").write_text("\n".join(["# " + markdown(data)[0][3:], *markdown(data)[1:]]) + "\n")
    return path
