"""Curation-pipeline throughput on the CPU: MB of raw text per second for every baseline pipeline.

    python bench/bench_data.py [--scale tiny|small] [--write]

Each pipeline runs cold (the per-process caches of statistics, MinHash signatures and features are
emptied first), so the figure is what a fresh worker pays. The offline corpus is built once beforehand
into a temporary cache; its cold build time is reported too. `--write` appends the table to
docs/BENCHMARKS.md with the command, machine and date.
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
from domains.data.baselines import baselines  # noqa: E402
from domains.data.pipeline import Context, Docs, run_steps  # noqa: E402
from proxies import corpus  # noqa: E402


def _clear_caches() -> None:
    stats._CACHE.clear()
    dedup._SIG_CACHE.clear()
    for rows in quality._ROWS.values():
        rows.clear()
    quality._BIGRAM_MODELS.clear()


def run(scale: str) -> tuple[list[tuple[str, float, float, float]], float, float]:
    cfg = corpus.CorpusConfig.preset(scale)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EVOLVE_CACHE"] = tmp
        t0 = time.perf_counter()
        raw = corpus.raw_corpus(cfg)
        build_seconds = time.perf_counter() - t0
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
    parser.add_argument("--write", action="store_true", help="append to docs/BENCHMARKS.md")
    args, _ = parser.parse_known_args(argv)  # run_all passes every bench the same arguments
    rows, build_seconds, mb = run(args.scale)
    text = table(rows, build_seconds, mb, args.scale)
    print(text)
    if args.write:
        benchlib.append_section("Data curation pipeline throughput (CPU)", "bench_data.py", argv,
                                f"{benchlib.host()}, Python {platform.python_version()}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
