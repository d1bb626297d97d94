"""Curation pipelines: throughput on the CPU, and what their gains are worth against the control.

    python bench/bench_data.py [--scale tiny|small] [--seeds 3] [--only throughput|gains] [--write]

Throughput: MB of raw text per second for every baseline pipeline, each run cold (the per-process caches of
statistics, MinHash signatures and features are emptied first), so the figure is what a fresh worker pays.
The offline corpus is built once beforehand into a temporary cache; its cold build time is reported too.

Gains: held-out loss at the scale's full stage over `--seeds` seeds for no curation, single filters, dedup +
quality, and each pipeline's equal-fraction random filter (domains/data/control.py), with the gain over no
curation and over the control per seed. `--write` appends the tables to docs/BENCHMARKS.md with the
command, machine and date.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import benchlib  # noqa: E402
import domains  # noqa: E402,F401  (sets XLA flags before anything imports jax)
from domains.data import dedup, quality, stats  # noqa: E402
from domains.data.baselines import BASELINE_TEXT as BASELINES_TEXT, baselines  # noqa: E402
from domains.data.pipeline import Context, Docs, run_steps  # noqa: E402
from proxies import corpus  # noqa: E402
from proxies.corpus import KINDS  # noqa: E402


def _clear_caches() -> None:
    stats._CACHE.clear()
    dedup._SIG_CACHE.clear()
    for rows in quality._ROWS.values():
        rows.clear()
    quality._BIGRAM_MODELS.clear()


GAIN_PIPELINES = {  # no curation, single filters, the combination
    "none": BASELINES_TEXT["none"],
    "dedup": BASELINES_TEXT["dedup"],
    "quality": "quality(keep=0.5, features=ngram, per_source=true, on=all) | mix(natural) | order=shuffle",
    "dedup_quality": BASELINES_TEXT["dedup_quality"],
}


def gains(scale: str, seeds: int) -> dict[str, list[dict[str, float]]]:
    """Per pipeline, per seed: score, kept fraction, control loss, gains over none and over the control."""
    from domains.base import Budget
    from domains.data import DataDomain

    domain = DataDomain(benchlib.domain_config("data", scale))
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in GAIN_PIPELINES}
    for seed in range(seeds):
        for name, text in GAIN_PIPELINES.items():
            m = domain.evaluate({"data": domain.parse(text)}, Budget("full", 1.0, seed=seed), {})
            rows[name].append({"loss": -m.score, "kept": m.details["kept_tokens"],
                               "control": m.details["control/eval_loss"], "vs_control": m.details["gain_vs_control"],
                               **{k: v for k, v in m.details.items() if k.startswith("kept_kind/")}})
            print(f"seed {seed} {name:14s} loss {-m.score:.4f} kept {m.details['kept_tokens']:.3f} "
                  f"control {m.details['control/eval_loss']:.4f}", flush=True)
    for name in rows:
        for seed, row in enumerate(rows[name]):
            row["vs_none"] = rows["none"][seed]["loss"] - row["loss"]
    return rows


def gains_table(rows: dict[str, list[dict[str, float]]]) -> str:
    import numpy as np

    def cell(values: list[float], signed: bool = False) -> str:
        fmt = "{:+.3f}" if signed else "{:.3f}"
        return f"{fmt.format(np.mean(values))} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f} " \
               f"({', '.join(fmt.format(v) for v in values)})"

    lines = ["Held-out loss (nats, macro average over the clean sources) at the full stage; mean ± sd (per seed).",
             "control = a random filter keeping the same fraction of tokens (bucketed), evaluated identically.", "",
             "| pipeline | kept tokens | loss | control loss | gain vs none | gain vs control |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, per_seed in rows.items():
        lines.append(f"| {name} | {np.mean([r['kept'] for r in per_seed]):.0%} | {cell([r['loss'] for r in per_seed])} | "
                     f"{cell([r['control'] for r in per_seed])} | {cell([r['vs_none'] for r in per_seed], True)} | "
                     f"{cell([r['vs_control'] for r in per_seed], True)} |")
    kinds = sorted({k for per_seed in rows.values() for r in per_seed for k in r if k.startswith("kept_kind/")},
                   key=lambda k: KINDS.index(k.split("/", 1)[1]))
    lines += ["", "Kept share of bytes per provenance kind (seed 0):", "",
              "| pipeline | " + " | ".join(k.split("/", 1)[1] for k in kinds) + " |",
              "|---|" + "---:|" * len(kinds)]
    for name, per_seed in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{per_seed[0].get(k, float('nan')):.2f}" for k in kinds) + " |")
    return "\n".join(lines)


def run(scale: str) -> tuple[list[tuple[str, float, float, float]], float, float]:
    cfg = corpus.CorpusConfig.preset(scale)
    previous = os.environ.get("EVOLVE_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EVOLVE_CACHE"] = tmp
        t0 = time.perf_counter()
        raw = corpus._build(cfg)
        build_seconds = time.perf_counter() - t0
    if previous is None:
        os.environ.pop("EVOLVE_CACHE")
    else:
        os.environ["EVOLVE_CACHE"] = previous
    raw = corpus.raw_corpus(cfg)
    mb = raw.nbytes().sum() / 1e6
    ctx = Context(raw.sources, tuple(t for s in raw.sources for t in raw.reference[s]), seed=0)
    rows = []
    for name, genome in baselines().items():
        _clear_caches()
        docs = Docs(raw.texts, raw.source.astype(int), raw.kind.astype(int))
        t0 = time.perf_counter()
        kept = run_steps(genome.steps, docs, ctx)
        seconds = time.perf_counter() - t0
        rows.append((name, seconds, mb / seconds if seconds > 0 else float("inf"), kept.nbytes().sum() / 1e6 / mb))
    return rows, build_seconds, mb


def table(rows, build_seconds: float, mb: float, scale: str) -> str:
    lines = [f"Raw offline corpus ({scale}): {mb:.1f} MB, {build_seconds:.1f} s to build cold.", "",
             "| pipeline | seconds | MB/s | kept (bytes) |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {s:.2f} | {'-' if name == 'none' else f'{r:.1f}'} | {k:.0%} |" for name, s, r, k in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="tiny", choices=("tiny", "small"))
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the gains table")
    parser.add_argument("--only", choices=("throughput", "gains"), help="run one of the two benchmarks")
    parser.add_argument("--write", action="store_true", help="append to docs/BENCHMARKS.md")
    args, _ = parser.parse_known_args(argv)  # run_all passes every bench the same arguments
    if args.only != "gains":
        rows, build_seconds, mb = run(args.scale)
        text = table(rows, build_seconds, mb, args.scale)
        print(text)
        if args.write:
            benchlib.append_section("Data curation pipeline throughput (CPU)", "bench_data.py", argv,
                                    f"{benchlib.host()}, Python {platform.python_version()}", text)
    if args.only != "throughput":
        text = gains_table(gains(args.scale, args.seeds))
        print(text)
        if args.write:
            benchlib.append_section(f"Data curation gains against the equal-fraction random filter ({args.scale})",
                                    "bench_data.py", argv, benchlib.jax_machine(), text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
