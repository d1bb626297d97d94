"""Benchmark the arch domain's recall probe: does it tell the baselines apart, over seeds?

    python bench/bench_probes.py [--scale tiny|small] [--seeds 0,1,2] [--only transformer,linear_attention]
                                 [--set input_conv=0 --set lr=0.01 ...] [--genome NAME=TEXT] [--positions]
                                 [--lm] [--write]

Each baseline is trained on MQAR exactly as `domains.arch` does at the scale's full stage (the probe's
embedding and token shift around the genome's stack, `conf/domain/arch.yaml` recall settings) once per
seed. Prints accuracy mean, min-max and per-seed values, and the seconds per evaluation (compile, train).
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


def recall_runs(g, cfg: dict, seeds: list[int], *, positions: bool = False) -> dict:
    """Full-stage MQAR evaluations of genome `g` (as domains.arch.evaluate.train_recall), one per seed,
    from one compilation: accuracies, compile seconds, mean train seconds per seed."""
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
    steps = np.int32(rcfg.steps)
    t0 = time.perf_counter()
    compiled = trainer.lower(train, keys[0], steps).compile()
    compile_s = time.perf_counter() - t0
    accs, t0 = [], time.perf_counter()
    for key in keys:
        accs.append(float(jax.block_until_ready(compiled(key, steps))["metrics"]["accuracy"]))
    return {"accuracy": accs, "compile_s": compile_s, "train_s": (time.perf_counter() - t0) / len(seeds)}


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
    rows, accs = [], {}
    for name in only:
        runs = recall_runs(designs[name], cfg, seeds, positions=args.positions)
        accs[name] = runs["accuracy"]
        row = (f"| {name} | {_spread(accs[name])} | {' '.join(f'{a:.3f}' for a in accs[name])} "
               f"| {runs['compile_s']:.1f} | {runs['train_s']:.1f}")
        if args.lm:
            row += f" | {_spread([lm_run(designs[name], cfg, s) for s in seeds])}"
        rows.append(row + " |")
        print(rows[-1], flush=True)
    head = (f"MQAR probe `{args.scale}`: d_model {cfg['d_model']}, {cfg['n_layers']} block repeats, vocab "
            f"{rcfg.vocab_size}, seq {rcfg.seq_len}, {rcfg.num_pairs} pairs, batch {rcfg.batch_size}, "
            f"{rcfg.steps} steps, lr {rcfg.lr}, input_conv {rcfg.input_conv}{', learned positions' if args.positions else ''}; "
            f"seeds {args.seeds}; chance {2 / rcfg.vocab_size:.3f}\n\n"
            "| design | accuracy mean | min-max | per seed | compile s | train s per seed |" + (
                " LM loss mean | min-max |" if args.lm else "") + "\n"
            "|---|---:|---:|---|---:|---:|" + ("---:|---:|" if args.lm else ""))
    table = head + "\n" + "\n".join(rows)
    if "transformer" in accs and "linear_attention" in accs:
        gap = min(accs["transformer"]) - max(accs["linear_attention"])
        table += (f"\n\nWorst transformer seed minus best linear-attention seed: {gap:+.3f} "
                  f"({'separated' if gap > 0 else 'NOT separated'}).")
    return table


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="tiny", choices=["tiny", "small"])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--only", default=None, help="comma-separated design names")
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
