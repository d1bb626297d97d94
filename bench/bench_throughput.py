"""Campaign throughput at tiny: evaluations and runs per hour per domain, cold and warm compile caches, and
where a worker's time went (compiling, training, the rest of an evaluation, idle).

    python bench/bench_throughput.py [--repo PATH ...] [--domains arch,rl,data] [--caches cold,warm]
                                     [--cycles 1] [--samples 0] [--label TEXT] [--write]

Before and after, back to back (what docs/BENCHMARKS.md "Campaign throughput" reports):

    git worktree add /tmp/evolve-before ad0d802
    python bench/bench_throughput.py --repo /tmp/evolve-before --repo . --label "idle" --write

Each (repo, domain) runs `python -m evolve +domain=D scale=tiny campaign.cycles=C llm=none` twice in that
checkout (its own code on PYTHONPATH): "cold" with an empty `EVOLVE_CACHE` (no compiled XLA program, no cached
data-control result; the offline corpus is linked in from the shared cache, since building it is not what
this measures) and "warm" right after with the same cache. Several `--repo` (e.g. a `git worktree add
/tmp/before <commit>` and this checkout) run interleaved, domain by domain, so before and after see the same
load. Read from each run's knowledge base: evaluations (candidates), runs ((candidate, domain, seed)
results), per worker-second: compile (`compile/seconds` of an evaluation's details: tracing, lowering, XLA;
older checkouts record only their trainers' `compile_seconds`), train (the proxies' timed runs), other
(dynamic check, curation, data, partners' corpora: the rest of an evaluation's seconds) and idle (workers x
wall - evaluation seconds: planning, analysis, start-up, waiting for a straggler), and the persistent
cache's hit rate (hits / cache requests; "-" where the checkout does not record it). Other flags passed by
bench/run_all.py are ignored; `make bench` runs this with its defaults (~15 min idle on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parent.parent


def _git_id(repo: Path) -> str:
    out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (out.stdout.strip() or repo.name) + ("+" if dirty else "")


def _cache_dir(work: Path, tag: str) -> Path:
    """An empty EVOLVE_CACHE except for the shared offline corpus (linked, not rebuilt)."""
    path = work / f"cache-{tag}"
    path.mkdir(parents=True, exist_ok=True)
    corpus = Path(os.environ.get("EVOLVE_CACHE") or Path.home() / ".cache" / "evolve") / "corpus"
    if corpus.exists() and not (path / "corpus").exists():
        (path / "corpus").symlink_to(corpus)
    return path


def _campaign(repo: Path, domain: str, cycles: int, cache: Path, run_dir: Path, python: str,
              overrides: list[str]) -> float:
    env = {**os.environ, "EVOLVE_CACHE": str(cache), "PYTHONPATH": str(repo),
           "XLA_FLAGS": "--xla_cpu_enable_concurrency_optimized_scheduler=false"}
    cmd = [python, "-m", "evolve", f"+domain={domain}", "scale=tiny", f"campaign.cycles={cycles}", "llm=none",
           "tracking.enabled=false", "progress=false", f"hydra.run.dir={run_dir}",
           # a loaded machine must not turn slow evaluations into failures (the limits guard runaways, not speed)
           "executor.time_limit_s=3600", "executor.cpu_time_limit_s=14400", *overrides]
    t0 = time.perf_counter()
    with (run_dir.parent / f"{run_dir.name}.log").open("w") as log:
        proc = subprocess.run(cmd, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}) in {repo}; log: {run_dir}.log")
    return wall


def _f(d: dict, *keys: str) -> float:
    for k in keys:
        if k in d and d[k] is not None:
            return float(d[k])
    return 0.0


def workers_of(kb: Path) -> int:
    """The worker processes a finished campaign ran (its stored executor config; "auto": one per CPU here)."""
    con = sqlite3.connect(f"file:{kb}?mode=ro", uri=True)
    row = con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
    con.close()
    ecfg = (json.loads(row[0]) if row else {}).get("executor", {})
    workers = ecfg.get("workers", 1)
    if workers == "auto":
        return max(1, min(len(os.sched_getaffinity(0)), int(ecfg.get("max_auto_workers", 4))))
    return int(workers)


def split(kb: Path, wall: float, workers: int | None = None) -> dict:
    """Evaluations, runs and the worker-time split of one finished campaign (plain sqlite: any checkout)."""
    con = sqlite3.connect(f"file:{kb}?mode=ro", uri=True)
    rows = con.execute("SELECT e.candidate, e.domain, e.status, e.seconds, e.cost, e.details, c.stage "
                       "FROM evaluations e JOIN candidates c ON c.id = e.candidate").fetchall()
    con.close()
    busy = compile_s = train = 0.0
    hits = requests = 0.0
    new_stats = False
    for _, domain, _status, seconds, cost, details, _stage in rows:
        cost, details = json.loads(cost or "{}"), json.loads(details or "{}")
        busy += float(seconds or 0.0)
        if "compile/seconds" in details:
            new_stats = True
            compile_s += float(details["compile/seconds"])
            hits += float(details.get("compile/cache_hits", 0.0))
            requests += float(details.get("compile/cache_requests", 0.0))
        else:  # older checkouts: the trainers' own compile seconds (arch, rl: details; data: cost)
            compile_s += _f(details, "compile_seconds") or _f(cost, "compile_seconds")
        train += _f(cost, "train_seconds") if domain == "data" else _f(cost, "seconds")
    capacity = (workers or workers_of(kb)) * wall
    return {"evaluations": len({r[0] for r in rows}), "runs": len(rows), "wall": wall, "busy": busy,
            "compile": compile_s, "train": train, "other": max(0.0, busy - compile_s - train),
            "idle": max(0.0, capacity - busy), "capacity": capacity,
            "hit_rate": (hits / requests if requests else 0.0) if new_stats else None}


def _row(label: str, domain: str, cache: str, s: dict) -> str:
    pct = lambda x: f"{100 * x / s['capacity']:.0f}%"  # noqa: E731
    hit = "-" if s["hit_rate"] is None else f"{100 * s['hit_rate']:.0f}%"
    return (f"| {label} | {domain} | {cache} | {s['evaluations']} | {s['runs']} | {s['wall']:.0f} "
            f"| {3600 * s['evaluations'] / s['wall']:.0f} | {3600 * s['runs'] / s['wall']:.0f} "
            f"| {pct(s['compile'])} | {pct(s['train'])} | {pct(s['other'])} | {pct(s['idle'])} | {hit} |")


HEAD = ("| code | domain | cache | evaluations | runs | wall s | evaluations/h | runs/h "
        "| compile | train | other | idle | cache hits |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", action="append", type=Path, help="checkout to measure (repeat: interleaved); default: this one")
    p.add_argument("--domains", default="arch,rl,data")
    p.add_argument("--caches", default="cold,warm", help="cold: empty compile cache; warm: the cold run's cache again")
    p.add_argument("--cycles", type=int, default=1)
    p.add_argument("--samples", type=int, default=0, help="campaign.initial_samples: 0 = the baselines only, the "
                   "same genomes for every checkout (a random sample's size would decide the figures)")
    p.add_argument("--label", default="", help="load conditions, e.g. 'under load' (goes into the title)")
    p.add_argument("--work", type=Path, default=None, help="where runs and caches go (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep --work's runs and caches")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--override", action="append", default=[], help="extra Hydra override for every campaign")
    p.add_argument("--write", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args, _ = p.parse_known_args(argv)  # run_all.py passes every bench the same flags (--scale ...)
    repos = [r.resolve() for r in (args.repo or [ROOT])]
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    rows = []
    for domain in args.domains.split(","):
        for caches_done, cache in enumerate(args.caches.split(",")):
            for i, repo in enumerate(repos):
                label = f"{_git_id(repo)}"
                tag = f"{i}-{domain}"
                cache_dir = _cache_dir(work, tag)
                if cache == "cold" and caches_done == 0 and any(cache_dir.iterdir()):
                    for child in cache_dir.iterdir():  # a reused --work: start cold again
                        if child.name != "corpus":
                            shutil.rmtree(child) if child.is_dir() else child.unlink()
                run_dir = work / f"run-{tag}-{cache}"
                shutil.rmtree(run_dir, ignore_errors=True)
                wall = _campaign(repo, domain, args.cycles, cache_dir, run_dir, args.python,
                                 [f"campaign.initial_samples={args.samples}", *args.override])
                rows.append(_row(label, domain, cache, split(run_dir / "knowledge.db", wall)))
                print(rows[-1], flush=True)
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    title = (f"`+domain=D scale=tiny campaign.cycles={args.cycles} campaign.initial_samples={args.samples} llm=none`, each checkout's default executor (workers: 1 before this round, auto = one pinned worker per CPU after); "
             f"compile/train/other/idle as shares of worker time (workers x wall){'; ' + args.label if args.label else ''}")
    table = title + "\n\n" + HEAD + "\n" + "\n".join(rows)
    print("\n" + table)
    if args.write:
        benchlib.append_section("Campaign throughput (tiny)", "bench_throughput.py", argv, benchlib.host(), table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
