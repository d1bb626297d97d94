"""What the MQAR probe costs a new architecture at the isolated stage: one isolated evaluation (seed 0) of each
baseline from an empty compilation cache in a fresh process, as a campaign's worker meets a new genome, with the
probe forced on (`recall_skip_below_steps=0`) and with the scale's setting (at `tiny` the probe is skipped there).

    python bench/bench_recall_cost.py [--scale tiny] [--only gla,transformer] [--write]

Prints wall and CPU seconds (all threads: far less inflated by a loaded machine than wall time), compile seconds
(trace + lower + XLA, proxies.cache.compile_stats) and training seconds per evaluation, and the probe's share.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parent.parent

ONE = """
import json, sys, time
import domains, jax
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
sys.path.insert(0, sys.argv[5])
import benchlib
from domains.arch import ArchDomain
from domains.arch import evaluate as ev
from domains.base import Budget
from proxies.cache import compile_stats
cfg = benchlib.domain_config("arch", sys.argv[2])
if sys.argv[4] != "scale":
    cfg["recall_skip_below_steps"] = int(sys.argv[4])
dom = ArchDomain(cfg)
fraction = float(sys.argv[6])
w, c = time.perf_counter(), time.process_time()
with compile_stats() as cs:
    m = dom.evaluate({"arch": dom.baselines()[sys.argv[3]]}, Budget("isolated", fraction, seed=0), {})
print(json.dumps({"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "compile": cs["compile/seconds"],
                  "train": m.cost["seconds"], "recall_steps": m.details["recall_steps"],
                  "lm_compile": m.details["lm_compile_seconds"], "score": m.score}))
"""


def isolated_fraction(scale: str) -> float:
    import yaml

    return float(yaml.safe_load((ROOT / "conf" / "scale" / f"{scale}.yaml").read_text())["stages"]["isolated"]["fraction"])


def one(scale: str, name: str, skip: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="recall-cost-jax-") as cache:
        out = subprocess.run([sys.executable, "-c", ONE, cache, scale, name, skip, str(Path(__file__).parent),
                              str(isolated_fraction(scale))],
                             capture_output=True, text=True, check=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args) -> str:
    from domains.arch import ArchDomain

    dom = ArchDomain(benchlib.domain_config("arch", args.scale))
    names = args.only.split(",") if args.only else list(dom.baselines())
    rows, sums = [], {"on": [0.0, 0.0], "off": [0.0, 0.0]}
    for name in names:
        on, off = one(args.scale, name, "0"), one(args.scale, name, "scale")
        for k, r in (("on", on), ("off", off)):
            sums[k][0] += r["cpu"]
            sums[k][1] += r["wall"]
        rows.append(f"| {name} | {on['recall_steps']:.0f} | {on['wall']:.1f} | {on['cpu']:.1f} | {on['compile']:.1f} "
                    f"| {on['train']:.1f} | {off['recall_steps']:.0f} | {off['wall']:.1f} | {off['cpu']:.1f} "
                    f"| {off['compile']:.1f} | {off['train']:.1f} | {1 - off['cpu'] / on['cpu']:.0%} |")
        print(rows[-1], flush=True)
    head = ("| design | probe steps | wall s | CPU s | compile s | train s | probe steps | wall s | CPU s | compile s "
            "| train s | CPU saved |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    total = (f"\n\nAll {len(names)}: CPU {sums['on'][0]:.0f} s with the probe, {sums['off'][0]:.0f} s with the "
             f"scale's setting ({1 - sums['off'][0] / sums['on'][0]:.0%} saved); wall {sums['on'][1]:.0f} s, "
             f"{sums['off'][1]:.0f} s.")
    return (f"Isolated stage (`{args.scale}`), seed 0, empty compilation cache, fresh process per evaluation: "
            "left with the probe (`recall_skip_below_steps=0`), right with the scale's setting.\n\n"
            + head + "\n" + "\n".join(rows) + total)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="tiny", choices=["tiny", "small"])
    p.add_argument("--only", default=None, help="comma-separated baseline names")
    p.add_argument("--write", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = p.parse_args(argv)
    table = run(args)
    print("\n" + table)
    if args.write:
        benchlib.append_section(f"Recall probe cost at the isolated stage ({args.scale})", "bench_recall_cost.py",
                                argv, benchlib.host(), table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
