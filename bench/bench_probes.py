"""Benchmark the arch domain's recall probe: does it tell the baselines apart, over seeds?

    python bench/bench_probes.py [--scale tiny|small] [--seeds 0,1,2] [--only transformer,linear_attention]
                                 [--steps 15,40] [--set input_conv=0 --set lr=0.01 ...] [--genome NAME=TEXT] [--positions]
                                 [--lm] [--write]

Each baseline is trained on MQAR exactly as `domains.arch` does at the scale's full stage (the probe's
embedding and token shift around the genome's stack, `conf/domain/arch.yaml` recall settings) once per
seed. Prints accuracy mean, min-max and per-seed values, and the seconds per evaluation (compile, train).
`--steps` trains for other step counts from the same program (a cascade stage's budget: at `tiny` the
isolated stage trains 15 steps, cross 40), as the domain does: one compilation at the full stage's capacity.
`--set KEY=VALUE` overrides a `proxies.recall.RecallConfig` field, `--genome` adds a design in the genome's
text form, `--positions` adds learned absolute positions in front of the stack: the diagnosis in
docs/proxies.md is written with these. `--lm` also trains the LM proxy per seed (held-out loss mean and
spread: what `recall_weight` is chosen from). With `--write` the table goes to docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Multi-threaded Eigen inside XLA CPU programs can hang in the delta-rule baselines (docs/domains/arch.md).
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()

import domains  # noqa: E402,F401  (XLA flags before JAX starts)


def _value(text: str):
    import yaml

    return yaml.safe_load(text)


def _with_positions(stack_fn, d_model: int, max_len: int):
    """Diagnosis only: learned absolute positions added in front of the genome's stack."""
    import jax.numpy as jnp
    from flax import nnx

    class Positioned(nnx.Module):
        def __init__(self, rngs):
            self.pos = nnx.Embed(max_len, d_model, rngs=rngs)
            self.stack = stack_fn(rngs)

        def __call__(self, x):
            return self.stack(x + self.pos(jnp.arange(x.shape[1]))[None])

    return Positioned


def recall_runs(g, cfg: dict, seeds: list[int], *, positions: bool = False,
                steps_list: list[int] | None = None) -> dict:
    """MQAR evaluations of genome `g` (as domains.arch.evaluate.train_recall), one per seed and step count
    (default: the full stage's), from one compilation at the full stage's capacity: {"runs": {steps:
    {"accuracy": per seed, "train_s": mean seconds per seed}}, "compile_s"}."""
    import jax

    from domains.arch import compile as comp
    from domains.arch import evaluate as ev
    import numpy as np

    from proxies import recall, trainer

    rcfg = ev.recall_config(cfg, 1.0)
    w = ev.width(cfg)
    stack_fn = comp.stack_fn(g, w)
    if positions:
        stack_fn = _with_positions(stack_fn, w.d_model, rcfg.seq_len)
    train = recall.make_train(rcfg, recall.probe_model(rcfg, stack_fn, w.d_model))
    keys = [jax.random.split(jax.random.key(s))[1] for s in seeds]  # the recall half of an evaluation's key
    steps_list = steps_list or [rcfg.steps]
    if max(steps_list) > rcfg.steps or min(steps_list) < 1:
        raise SystemExit(f"--steps must lie in [1, {rcfg.steps}] (the full stage's steps)")
    t0 = time.perf_counter()
    compiled = trainer.lower(train, keys[0], np.int32(rcfg.steps)).compile()
    compile_s = time.perf_counter() - t0
    runs = {}
    for steps in steps_list:
        accs, t0 = [], time.perf_counter()
        for key in keys:
            accs.append(float(jax.block_until_ready(compiled(key, np.int32(steps)))["metrics"]["accuracy"]))
        runs[steps] = {"accuracy": accs, "train_s": (time.perf_counter() - t0) / len(seeds)}
    return {"runs": runs, "compile_s": compile_s}


def lm_run(g, cfg: dict, seed: int) -> float:
    import jax
    import numpy as np

    from domains.arch import evaluate as ev

    corpus = ev.cached_default_corpus(seed, cfg.get("corpus_max_bytes"))
    out = ev.train_lm(g, cfg, corpus, 1.0, jax.random.split(jax.random.key(seed))[0])
    return float(np.mean(list(out["eval_loss"].values())))


def _spread(xs: list[float]) -> str:
    import numpy as np

    return f"{np.mean(xs):.3f} | {min(xs):.3f}-{max(xs):.3f}"


def _discrimination(accs: dict, names: list[str], steps_list: list[int]) -> str:
    """Per step count: does the design explain the accuracy beyond seed noise (one-way ANOVA over the designs'
    seeds), and does the designs' order agree with their order at the largest step count (Spearman of means)?"""
    import numpy as np
    from scipy import stats

    if len(names) < 3:
        return ""
    final = [np.mean(accs[n, max(steps_list)]) for n in names]
    lines = ["", "", "| steps | between-design F | p | Spearman of means with " f"{max(steps_list)} steps |",
             "|---:|---:|---:|---:|"]
    for steps in steps_list:
        f, p = stats.f_oneway(*[accs[n, steps] for n in names])
        rho = stats.spearmanr([np.mean(accs[n, steps]) for n in names], final).statistic
        lines.append(f"| {steps} | {f:.1f} | {p:.2g} | {rho:+.2f} |")
    return "\n".join(lines)


def run(args) -> str:
    from domains.arch import ArchDomain
    from domains.arch import evaluate as ev
    from domains.arch.text import parse

    cfg = benchlib.domain_config("arch", args.scale)
    cfg["recall"] = {**cfg.get("recall", {}), **{k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}}
    cfg = ArchDomain(cfg).cfg
    designs = dict(ArchDomain(cfg).baselines())
    designs.update({name: parse(text) for name, text in (s.split("=", 1) for s in args.genome)})
    only = args.only.split(",") if args.only else list(designs)
    seeds = [int(s) for s in args.seeds.split(",")]
    rcfg = ev.recall_config(cfg, 1.0)
    steps_list = [int(s) for s in args.steps.split(",")] if args.steps else [rcfg.steps]
    rows, accs = [], {}
    for name in only:
        out = recall_runs(designs[name], cfg, seeds, positions=args.positions, steps_list=steps_list)
        lm = f" | {_spread([lm_run(designs[name], cfg, s) for s in seeds])}" if args.lm else ""
        for steps, runs in out["runs"].items():
            accs[name, steps] = runs["accuracy"]
            row = (f"| {name} | {steps} | {_spread(runs['accuracy'])} | {' '.join(f'{a:.3f}' for a in runs['accuracy'])} "
                   f"| {out['compile_s']:.1f} | {runs['train_s']:.1f}")
            rows.append(row + lm + " |")
            print(rows[-1], flush=True)
    head = (f"MQAR probe `{args.scale}`: d_model {cfg['d_model']}, {cfg['n_layers']} block repeats, vocab "
            f"{rcfg.vocab_size}, seq {rcfg.seq_len}, {rcfg.num_pairs} pairs, batch {rcfg.batch_size}, "
            f"{rcfg.steps} steps at the full stage, lr {rcfg.lr}, input_conv {rcfg.input_conv}"
            f"{', learned positions' if args.positions else ''}; seeds {args.seeds}; chance {2 / rcfg.vocab_size:.3f}\n\n"
            "| design | steps | accuracy mean | min-max | per seed | compile s | train s per seed |" + (
                " LM loss mean | min-max |" if args.lm else "") + "\n"
            "|---|---:|---:|---:|---|---:|---:|" + ("---:|---:|" if args.lm else ""))
    table = head + "\n" + "\n".join(rows)
    table += _discrimination(accs, only, steps_list)
    for steps in steps_list:
        if ("transformer", steps) in accs and ("linear_attention", steps) in accs:
            gap = min(accs["transformer", steps]) - max(accs["linear_attention", steps])
            table += (f"\n\nAt {steps} steps, worst transformer seed minus best linear-attention seed: {gap:+.3f} "
                      f"({'separated' if gap > 0 else 'NOT separated'}).")
    return table


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="tiny", choices=["tiny", "small"])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--only", default=None, help="comma-separated design names")
    p.add_argument("--steps", default=None, help="comma-separated training steps (default: the full stage's)")
    p.add_argument("--set", action="append", default=[], help="RecallConfig override KEY=VALUE (repeatable)")
    p.add_argument("--genome", action="append", default=[], help="extra design NAME=TEXT (repeatable)")
    p.add_argument("--positions", action="store_true", help="diagnosis: learned positions before the stack")
    p.add_argument("--lm", action="store_true", help="also train the LM proxy per seed")
    p.add_argument("--write", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = p.parse_args(argv)
    table = run(args)
    print("\n" + table)
    if args.write:
        benchlib.append_section(f"Recall probe discrimination ({args.scale})", "bench_probes.py", argv,
                                benchlib.jax_machine(), table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
