"""What every benchmark shares: appending its table, with command, machine and date, to docs/BENCHMARKS.md."""
from __future__ import annotations

import datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"


def append_section(title: str, script: str, argv: list[str], machine: str, table: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# Benchmarks\n\nWritten by `make bench ARGS=--write` (bench/bench_*.py).\n")
    with BENCHMARKS.open("a") as f:
        f.write(f"\n## {title}\n\n`python bench/{script} {' '.join(argv)}` on {machine}, {stamp}\n\n{table}\n")
    print(f"appended to {BENCHMARKS}")
    return BENCHMARKS
