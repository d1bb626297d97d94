"""The gallery: only candidates that beat a baseline on fresh seeds are called improvements.

Why re-evaluate: a full-stage result was *selected* for being good on the campaign's seeds,
so its own numbers are optimistic (winner's curse). The best full-stage candidates of every
run are therefore measured again at the full budget on seeds no campaign used, beside every
domain baseline on the same seeds (common random numbers), by the same executor and worker
as a campaign. Perf is relative to the reference baseline on the same seed, differences are
paired by seed, and the interval is Student's t over the seeds (a bootstrap of 3 points has
only 10 distinct resamples and would understate the uncertainty).

Results live in their own knowledge base (`<ablation dir>/gallery/knowledge.db`, one result
per transaction), so an interrupted gallery resumes without re-running anything.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from domains.base import genome_id
from evolve.ablation.runs import AblationError, load_runs
from evolve.archive import candidate_id
from evolve.execution import TaskKey, evaluations, make_executor
from evolve.execution.evaluations import EvaluationTask
from evolve.execution.worker import run_evaluation
from evolve.knowledge import KnowledgeBase
from evolve.plugins import build_domain

STAGE = "full"


def pick_candidates(runs: Sequence[Mapping[str, Any]], top: int) -> list[dict[str, Any]]:
    """The `top` distinct triples with the best full-stage perf over all runs (baselines-only triples excluded)."""
    rows = [{**row, "arm": r["arm"], "seed": r["seed"], "run_dir": r["run_dir"]}
            for r in runs for row in r["full_stage"] if not row["reference"] and not row["baseline_only"]]
    rows.sort(key=lambda x: -x["perf"])
    chosen, seen = [], set()
    for row in rows:
        key = json.dumps(row["triple"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            chosen.append(row)
        if len(chosen) >= top:
            break
    return chosen


def paired_interval(diffs: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """Mean of paired differences and its Student-t interval (zero width when every seed agrees)."""
    d = np.asarray(diffs, float)
    mean = float(d.mean())
    if len(d) < 2 or np.ptp(d) == 0.0:
        return mean, mean, mean
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(confidence_level=confidence)
    return mean, float(ci.low), float(ci.high)


def verdicts(perf: Mapping[str, Mapping[int, float]], candidates: Sequence[str], baselines: Sequence[str],
             confidence: float) -> dict[str, list[dict[str, Any]]]:
    """Per candidate, per baseline: the paired difference of perf over common seeds, its CI, and whether it
    is an improvement (CI entirely above 0)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for c in candidates:
        rows = []
        for b in baselines:
            seeds = sorted(set(perf.get(c, {})) & set(perf.get(b, {})))
            if len(seeds) < 2:
                rows.append({"baseline": b, "seeds": seeds, "diff": None, "ci_low": None, "ci_high": None,
                             "baseline_perf": None, "improvement": False})
                continue
            diff, lo, hi = paired_interval([perf[c][s] - perf[b][s] for s in seeds], confidence)
            rows.append({"baseline": b, "seeds": seeds, "diff": diff, "ci_low": lo, "ci_high": hi,
                         "baseline_perf": float(np.mean([perf[b][s] for s in seeds])), "improvement": lo > 0})
        out[c] = rows
    return out


def run_gallery(root: Path, top: int = 2, n_seeds: int = 3, seed_base: int = 1_000_000,
                confidence: float = 0.95, progress: Any = print) -> dict[str, Any]:
    """Re-evaluate the best full-stage candidates and the baselines; write gallery/gallery.json."""
    if n_seeds < 2:
        raise AblationError("the gallery needs at least 2 seeds for an interval (3 or more recommended)")
    root = Path(root)
    runs = load_runs(root)
    picks = pick_candidates(runs, top)
    path = root / "gallery" / "gallery.json"
    if not picks:  # nothing but baselines reached the full stage: there is no claim to test
        path.parent.mkdir(parents=True, exist_ok=True)
        result = {"seeds": [], "confidence": confidence, "stage": STAGE, "candidates": [], "baselines": {},
                  "failures": [], "note": "no candidate other than a baseline reached the full stage"}
        path.write_text(json.dumps(result, indent=2))
        return result
    cfgs = runs[0]["domain_configs"]
    domains = {n: build_domain(n, c) for n, c in cfgs.items()}
    names = list(cfgs)
    seeds = [seed_base + i for i in range(n_seeds)]
    kb = KnowledgeBase(root / "gallery" / "knowledge.db", "gallery").open()
    try:
        identity = {"domains": names, "scale": runs[0]["scale"], "seeds": seeds}
        stored = kb.get_meta("identity")
        if stored is not None and stored != identity:
            raise AblationError(f"{kb.path} holds a gallery for {stored}, not {identity}; delete the gallery folder "
                                "to start it again")
        kb.set_meta("identity", identity)
        triples, labels = _register(kb, domains, runs, picks)
        _evaluate(kb, cfgs, triples, seeds, runs[0]["full_fraction"], runs[0]["executor"], root / "gallery" / "scratch",
                  progress)
        result = _analyse(kb, domains, triples, labels, picks, seeds, confidence)
    finally:
        kb.close()
    path.write_text(json.dumps(result, indent=2))
    return result


def _register(kb: KnowledgeBase, domains: Mapping[str, Any], runs: Sequence[Mapping[str, Any]],
              picks: Sequence[Mapping[str, Any]]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Genomes and candidates of the reference, every baseline triple and the picks, in one transaction."""
    names = list(domains)
    triples: dict[str, dict[str, str]] = {}
    labels: dict[str, str] = {}
    with kb.transaction() as db:
        def add(name: str, genome: Any, origin: str) -> str:
            js = domains[name].to_json(genome)
            gid = genome_id(name, js)
            kb.add_genome(db, gid=gid, domain=name, genome_json=js, text=domains[name].to_text(genome),
                          origin=origin, parents=(), cycle=0)
            return gid

        reference = {n: add(n, domains[n].baselines()[domains[n].reference], f"baseline:{domains[n].reference}")
                     for n in names}
        triples["reference"], labels["reference"] = reference, f"baseline {'/'.join(domains[n].reference for n in names)} (reference)"
        for n in names:
            for bname, genome in domains[n].baselines().items():
                if bname != domains[n].reference:
                    key = f"baseline:{n}:{bname}"
                    triples[key] = {**reference, n: add(n, genome, f"baseline:{bname}")}
                    labels[key] = f"baseline {n}={bname}"
        run_genomes = _genome_sources(runs)
        for i, p in enumerate(picks):
            triple = {}
            for n, gid in p["triple"].items():
                js = run_genomes[gid]
                triple[n] = add(n, domains[n].from_json(js), "gallery")
            key = f"candidate:{i}"
            triples[key] = triple
            labels[key] = f"#{i + 1} from {p['arm']} seed {p['seed']} ({p['candidate'][:8]})"
        for key, triple in triples.items():
            kb.add_candidate(db, cid=candidate_id("gallery", triple), stage=STAGE, triple=triple, focus="all",
                             cycle=0, source=key)
    return triples, labels


def _genome_sources(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Genome id -> genome JSON over every run's knowledge base (read only)."""
    out: dict[str, Any] = {}
    for r in runs:
        kb = KnowledgeBase.existing(Path(r["run_dir"]) / "knowledge.db", read_only=True)
        try:
            out.update({g["id"]: g["json"] for g in kb.genomes()})
        finally:
            kb.close()
    return out


def _evaluate(kb: KnowledgeBase, cfgs: Mapping[str, Any], triples: Mapping[str, Mapping[str, str]],
              seeds: Sequence[int], fraction: float, executor_cfg: Mapping[str, Any], scratch: Path,
              progress: Any) -> None:
    """Run every (triple, domain, seed) without a result yet; each result is committed on its own."""
    done = kb.done_keys()
    tasks = []
    for triple in triples.values():
        cid = candidate_id("gallery", triple)
        payload_triple = {d: kb.genome(g)["json"] for d, g in triple.items()}
        tasks += [EvaluationTask(TaskKey(cid, d, s), cfgs, payload_triple, STAGE, fraction)
                  for d in cfgs for s in seeds if (cid, d, s) not in done]
    if not tasks:
        return  # resumed after everything was measured: no worker to start
    device = next((str(c.get("device", "cpu")) for c in cfgs.values()), "cpu")  # no RLIMIT_AS on GPUs
    with make_executor(executor_cfg, run_evaluation, scratch_root=scratch, scale={"device": device}) as pool:
        for i, outcome in enumerate(evaluations.run(pool, tasks), 1):
            kb.record_evaluation(outcome.evaluation)
            res = outcome.result
            progress(f"gallery {i}/{len(tasks)}: {outcome.key.domain} seed {outcome.key.seed} {res.status} "
                     f"in {res.seconds:.1f}s")


def _analyse(kb: KnowledgeBase, domains: Mapping[str, Any], triples: Mapping[str, Mapping[str, str]],
             labels: Mapping[str, str], picks: Sequence[Mapping[str, Any]], seeds: Sequence[int],
             confidence: float) -> dict[str, Any]:
    """Perf per (triple, seed) relative to the reference on that seed, then the verdicts."""
    scores: dict[str, dict[tuple[str, int], float]] = defaultdict(dict)
    failures = []
    for key, triple in triples.items():
        for ev in kb.evaluations(candidate_id("gallery", triple)):
            if ev.status == "ok" and ev.seed in seeds:
                scores[key][(ev.domain, ev.seed)] = float(ev.score)
            elif ev.status != "ok":
                failures.append(f"{labels[key]} {ev.domain} seed {ev.seed}: {ev.status}: {ev.reason[:200]}")
    ref = scores["reference"]
    perf: dict[str, dict[int, float]] = {}
    for key in triples:
        perf[key] = {}
        for s in seeds:
            if all((d, s) in scores[key] and (d, s) in ref for d in domains):
                perf[key][s] = float(np.mean([domains[d].normalise(scores[key][(d, s)], ref[(d, s)]) for d in domains]))
    cands = [k for k in triples if k.startswith("candidate:")]
    bases = [k for k in triples if not k.startswith("candidate:")]
    table = verdicts(perf, cands, bases, confidence)
    out = []
    for i, key in enumerate(cands):
        rows = [{**r, "baseline": labels[r["baseline"]]} for r in table[key]]
        beaten = [r["baseline"] for r in rows if r["improvement"]]
        if not beaten:
            verdict = "no improvement shown"
        elif len(beaten) == len(rows):
            verdict = "improvement over every baseline"
        else:
            verdict = f"improvement over {len(beaten)} of {len(rows)} baselines ({', '.join(beaten)})"
        out.append({"label": labels[key], "arm": picks[i]["arm"], "run_seed": picks[i]["seed"],
                    "candidate": picks[i]["candidate"], "campaign_perf": picks[i]["perf"],
                    "perf_by_seed": [perf[key].get(s, math.nan) for s in seeds],
                    "perf_mean": float(np.mean(list(perf[key].values()))) if perf[key] else None,
                    "versus": rows, "improvement": bool(beaten), "verdict": verdict,
                    "texts": {d: kb.genome(g)["text"] for d, g in triples[key].items()}})
    return {"seeds": list(seeds), "confidence": confidence, "stage": STAGE, "candidates": out,
            "baselines": {labels[k]: {str(s): v for s, v in perf[k].items()} for k in bases},
            "failures": failures, "knowledge_base": str(kb.path)}
