"""Benchmark the engine's per-cycle selection and novelty overhead on synthetic archives.

    python bench/bench_engine.py [--sizes 1000,10000,100000] [--queries 64] [--survivors 100] [--write]

For each archive size: 3 minimised objectives and 32-dim descriptors (24 structural + 8 behaviour
columns, a fifth of the behaviour missing as for not-yet-evaluated candidates). Times, median of
repeats: `pareto_ranks`, `crowding_distances`, `survive` (the campaign ranks the whole archive each
cycle), `tournament` (F-based), and `knn_novelty` of `--queries` new candidates against the archive
(fit + query; fitting dominates, so `NoveltyIndex` is fitted once per cycle). Two objective
layouts: `random` (uniform: ~100 fronts at 100k) and `one front` (every point non-dominated, the
worst case for crowding). Prints a markdown table; with `--write` appends it, with the command,
machine and date, to docs/BENCHMARKS.md. Other flags passed by bench/run_all.py are ignored.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import benchlib
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from evolve import novelty, selection  # noqa: E402

N_OBJ, N_STRUCT, N_BEHAVIOUR = 3, 24, 8


def _machine() -> str:
    import pymoo
    import sklearn

    return f"{benchlib.host()}, numpy {np.__version__}, pymoo {pymoo.__version__}, scikit-learn {sklearn.__version__}"


def _time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of `repeats` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _archive(n: int, layout: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if layout == "random":
        F = rng.random((n, N_OBJ))
    else:  # points on the simplex sum(f) = 1: no point dominates another
        F = rng.dirichlet(np.ones(N_OBJ), size=n)
    X = np.hstack([rng.normal(size=(n, N_STRUCT)), rng.normal(size=(n, N_BEHAVIOUR))])
    X[rng.random(n) < 0.2, N_STRUCT:] = np.nan
    return F, X


def run(sizes: list[int], n_queries: int, n_survivors: int, k: int) -> str:
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        repeats = 5 if n <= 10_000 else 3
        for layout in ("random", "one front"):
            F, X = _archive(n, layout, rng)
            Q = np.hstack([rng.normal(size=(n_queries, N_STRUCT)), np.full((n_queries, N_BEHAVIOUR), np.nan)])
            ranks = selection.pareto_ranks(F)
            crowd = selection.crowding_distances(F, ranks)
            t_rank = _time(lambda: selection.pareto_ranks(F), repeats)
            t_crowd = _time(lambda: selection.crowding_distances(F, ranks), repeats)
            t_surv = _time(lambda: selection.survive(F, n_survivors, np.random.default_rng(0)), repeats)
            t_tour = _time(lambda: selection.tournament(ranks, crowd, 2 * n_survivors, np.random.default_rng(0), F=F),
                           repeats)
            t_fit = _time(lambda: novelty.NoveltyIndex.fit(X), repeats)
            index = novelty.NoveltyIndex.fit(X)
            t_query = _time(lambda: index.query(Q, k), repeats)
            total = t_rank + t_crowd + t_surv + t_tour + t_fit + t_query
            rows.append(f"| {n:,} | {layout} | {ranks.max() + 1} | {1e3 * t_rank:.1f} | {1e3 * t_crowd:.1f} "
                        f"| {1e3 * t_surv:.1f} | {1e3 * t_tour:.1f} | {1e3 * t_fit:.1f} | {1e3 * t_query:.1f} "
                        f"| {1e3 * total:.0f} |")
            print(rows[-1], flush=True)
    head = (f"Engine selection + novelty per cycle: {N_OBJ} objectives, {N_STRUCT + N_BEHAVIOUR}-dim descriptors "
            f"(20% of behaviour missing), survive {n_survivors}, {2 * n_survivors} tournaments, "
            f"kNN novelty (k={k}) of {n_queries} candidates; milliseconds, median of 3-5 repeats\n\n"
            "| archive | objectives | fronts | pareto_ranks | crowding | survive | tournament "
            "| novelty fit | novelty query | total |\n"
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    return head + "\n" + "\n".join(rows)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="comma-separated archive sizes")
    p.add_argument("--queries", type=int, default=64, help="new candidates scored for novelty")
    p.add_argument("--survivors", type=int, default=100, help="n for survive (the population size)")
    p.add_argument("--k", type=int, default=15, help="neighbours for kNN novelty")
    p.add_argument("--write", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args, _ = p.parse_known_args(argv)  # run_all.py passes every bench the same flags (--scale ...)
    table = run([int(s) for s in args.sizes.split(",")], args.queries, args.survivors, args.k)
    print("\n" + table)
    if args.write:
        benchlib.append_section("Engine: selection and novelty overhead", "bench_engine.py", argv,
                                _machine(), table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
