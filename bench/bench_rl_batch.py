"""rl evaluations per hour, alone vs in batches (one vmapped program per env), at a scale's isolated budget.

    python bench/bench_rl_batch.py --batch 1 [--candidates 8] [--scale tiny] [--fraction 0.15] [--cache DIR]
    python bench/bench_rl_batch.py --batch 8 ...      # same command, batched: run both back to back

`--candidates` genomes (the start set, then `RLDomain.sample` with a fixed seed) are evaluated as a campaign
stage does: every one at the same seed (common random numbers), alone (`--batch 1`: `RLDomain.evaluate`) or in
batches of up to `--batch` (`RLDomain.evaluate_batch`). Two rounds in one process: *cold* (seed 0: compiles
included, a fresh persistent compile cache when `--cache` names an empty directory) and *warm* (seed 1: the
executables exist). Prints one JSON line: wall seconds and evaluations per hour per round, compile seconds, and
each candidate's scores (batched and alone scores must be equal, so the two runs' `scores` can be compared).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8, help="evaluations per batch (1 = each alone)")
    p.add_argument("--candidates", type=int, default=8)
    p.add_argument("--scale", default="tiny")
    p.add_argument("--fraction", type=float, default=0.15, help="budget fraction (tiny: isolated 0.15)")
    p.add_argument("--cache", default=None, help="EVOLVE_CACHE for this run (an empty dir = cold compile cache)")
    args = p.parse_args(argv)
    if args.cache:
        os.environ["EVOLVE_CACHE"] = str(Path(args.cache).resolve())
    import numpy as np

    import domains  # noqa: F401  (XLA flags before JAX starts)
    from domains.base import Budget
    from domains.rl import RLDomain

    dom = RLDomain({**benchlib.domain_config("rl", args.scale)})
    rng = np.random.default_rng(0)
    genomes = list(dom.baselines().values())[: args.candidates]
    while len(genomes) < args.candidates:
        genomes.append(dom.sample(rng))
    out: dict = {"batch": args.batch, "candidates": args.candidates, "scale": args.scale, "fraction": args.fraction,
                 "machine": benchlib.jax_machine(), "load_before": os.getloadavg()[0]}
    for label, seed in (("cold", 0), ("warm", 1)):
        items = [({"rl": g}, Budget("isolated", args.fraction, seed=seed)) for g in genomes]
        t0 = time.perf_counter()
        results = []
        for start in range(0, len(items), args.batch):
            chunk = items[start:start + args.batch]
            if args.batch == 1:
                try:
                    results.append(dom.evaluate(*chunk[0], {}))
                except Exception as exc:  # noqa: BLE001 - a failed candidate, as in a campaign
                    results.append(exc)
            else:
                results += dom.evaluate_batch(chunk, {})
        wall = time.perf_counter() - t0
        ok = [r for r in results if not isinstance(r, BaseException)]
        out[label] = {"seconds": round(wall, 1), "evaluations_per_hour": round(3600 * len(items) / wall, 1),
                      "compile_seconds": round(sum(r.details.get("compile_seconds", 0.0) for r in ok), 1),
                      "failed": len(results) - len(ok),
                      "scores": [None if isinstance(r, BaseException) else round(r.score, 6) for r in results]}
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
