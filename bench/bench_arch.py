"""Benchmark the architecture baselines: compile seconds, training tokens/s, FLOPs per token.

    python bench/bench_arch.py [--scale tiny|small] [--steps N] [--only transformer,gla] [--write]

Each baseline is compiled by `domains.arch` at the scale's width/depth and trained for the scale's
full-stage LM steps (or `--steps`) with `proxies.lm.measure` on the default corpus. MFU is against the
device's dense peak for the compute dtype (`proxies.trainer.PEAK_FLOPS`), "unknown peak" when not listed. Prints a
markdown table; with `--write` appends it, with the command, machine and date, to docs/BENCHMARKS.md.
Run it on an otherwise idle machine: the numbers are wall times.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Multi-threaded Eigen inside XLA CPU programs can hang forever in the delta-rule baselines
# (triangular solve inside lax.scan; see docs/domains/arch.md, "Known issue"): off for the bench.
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()

import domains  # noqa: E402,F401  (XLA flags before JAX starts)






def run(scale: str, steps: int | None, only: list[str] | None) -> str:
    import jax

    from domains.arch import ArchDomain
    from domains.arch import compile as comp
    from domains.arch import evaluate as ev
    from proxies import lm

    cfg = benchlib.domain_config("arch", scale)
    dom = ArchDomain(cfg)
    corpus = ev.cached_default_corpus(0, cfg.get("corpus_max_bytes"))
    lcfg = ev.lm_config(dom.cfg, 1.0)
    if steps:
        lcfg = lcfg.replace(steps=steps)
    rows = []
    for name, g in dom.baselines().items():
        if only and name not in only:
            continue
        make = comp.model_fn(g, ev.width(dom.cfg), vocab_size=corpus.vocab_size, max_len=lcfg.seq_len)
        out = lm.measure(lcfg, make, corpus.train, corpus.heldout, jax.random.key(0))
        loss = sum(out["eval_loss"].values()) / len(out["eval_loss"])
        mfu = "unknown peak" if out["mfu"] is None else f"{out['mfu']:.1%}"
        rows.append(f"| {name} | {out['params']:,} | {out['compile_seconds']:.1f} | {out['tokens_per_second']:,.0f} "
                    f"| {out['flops_per_token'] / 1e6:.2f} | {out['flops_per_token_6n'] / 1e6:.2f} | {mfu} | {loss:.3f} |")
        print(rows[-1], flush=True)
    head = (f"LM proxy `{scale}`: d_model {cfg['d_model']}, {cfg['n_layers']} block repeats, seq {lcfg.seq_len}, "
            f"batch {lcfg.batch_size}, {lcfg.steps} steps, {lcfg.dtype}\n\n"
            "| baseline | params | compile s | train tokens/s | MFLOP/token (XLA) | MFLOP/token (6N) | MFU | held-out loss |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|")
    return head + "\n" + "\n".join(rows)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="tiny", choices=["tiny", "small"])
    p.add_argument("--steps", type=int, default=None, help="override the scale's full-stage LM steps")
    p.add_argument("--only", default=None, help="comma-separated baseline names")
    p.add_argument("--write", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = p.parse_args(argv)
    table = run(args.scale, args.steps, args.only.split(",") if args.only else None)
    print("\n" + table)
    if args.write:
        benchlib.append_section(f"Architecture baselines ({args.scale})", "bench_arch.py", argv, benchlib.jax_machine(), table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
