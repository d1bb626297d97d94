"""Benchmark the RL score's discrimination: each baseline's score per env over seeds, against the score's top.

    python bench/bench_rl_score.py [--scale tiny|small] [--seeds 3] [--baselines ppo_clip,a2c,...] [--fraction 1.0] [--write]

Each baseline genome is evaluated by the rl domain exactly as the campaign does at the full stage
(`Budget("full", fraction, seed)`; `seeds` agents vmapped per evaluation, IQM over them; `--fraction`
0.15 or 0.4 gives tiny's isolated or cross stage budget) for seeds
0..N-1. The table gives, per baseline and env, the mean and [min, max] over those evaluation seeds
of the normalised learning-curve area (`norm/<env>`, the part of the score; an agent perfect from
its first update scores 1) and of the final policy's normalised return, then the score itself.
What to watch: PPO-clip well below 1 on every env (headroom), PPO-clip above A2C by more than the
spread. The last column is the wall time of an evaluation (the first includes compiles and the
random-policy runs; the machine's load shows in it).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import domains  # noqa: E402,F401  (XLA flags before JAX starts)


def _span(values: list[float]) -> str:
    return f"{sum(values) / len(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def run(scale: str, seeds: int, names: list[str] | None, fraction: float = 1.0) -> str:
    from domains.base import Budget
    from domains.rl import RLDomain

    dom = RLDomain({**benchlib.domain_config("rl", scale), "compile_cache": False})
    envs = dom.settings.envs
    rows = []
    for name, genome in dom.baselines().items():
        if names and name not in names:
            continue
        results, walls = [], []
        for seed in range(seeds):
            t0 = time.perf_counter()
            results.append(dom.evaluate({"rl": genome}, Budget("full", fraction, seed=seed), {}))
            walls.append(time.perf_counter() - t0)
        for env in envs:
            auc = [m.details[f"norm/{env}"] for m in results]
            final = [m.details[f"final_norm/{env}"] for m in results]
            rows.append(f"| {name} | {env} | {_span(auc)} | {_span(final)} | |")
        wall = f"{walls[0]:.0f} / {sum(walls[1:]) / max(len(walls) - 1, 1):.1f}"
        rows.append(f"| {name} | **score** | {_span([m.score for m in results])} | | {wall} |")
        print("\n".join(rows[-len(envs) - 1 :]), flush=True)
    s = dom.settings
    head = (f"RL score `{scale}` (budget fraction {fraction}, {s.seeds} agents per evaluation, evaluation seeds 0-{seeds - 1}): "
            "mean [min, max] over evaluation seeds; 1.0 is the top of the scale\n\n"
            "| baseline | env | learning-curve area (score part) | final return | s per evaluation (first / later) |\n"
            "|---|---|---|---|---:|")
    return head + "\n" + "\n".join(rows)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="tiny", choices=["tiny", "small"])
    p.add_argument("--seeds", type=int, default=3, help="evaluation seeds per baseline")
    p.add_argument("--baselines", default=None, help="comma-separated baseline names (default: all)")
    p.add_argument("--fraction", type=float, default=1.0, help="the stage's budget fraction (1.0: full stage)")
    p.add_argument("--write", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = p.parse_args(argv)
    table = run(args.scale, args.seeds, args.baselines.split(",") if args.baselines else None, args.fraction)
    print("\n" + table)
    if args.write:
        benchlib.append_section(f"RL score discrimination ({args.scale})", "bench_rl_score.py", argv, benchlib.jax_machine(), table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
