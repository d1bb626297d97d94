"""What every benchmark shares: the domain settings at a scale, a line naming the machine, and appending
its table, with command, machine and date, to docs/BENCHMARKS.md."""
from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"


def domain_config(name: str, scale: str) -> dict:
    """What the engine passes a domain at `scale`: conf/domain/<name>.yaml's settings merged with the scale's
    (by the engine's own evolve.plugins.domain_config)."""
    import yaml

    from evolve.plugins import domain_config as merged

    raw = yaml.safe_load((ROOT / "conf" / "domain" / f"{name}.yaml").read_text())["domains"][name]
    return merged(raw, scale, "cpu" if scale == "tiny" else "gpu")


def host() -> str:
    return f"{platform.node() or 'host'}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads"


def jax_machine() -> str:
    """The host plus JAX's first device and version (import after the XLA flags are set)."""
    import jax

    dev = jax.devices()[0]
    return f"{host()}, {dev.platform} ({getattr(dev, 'device_kind', dev.platform)}), jax {jax.__version__}"


def append_section(title: str, script: str, argv: list[str], machine: str, table: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# Benchmarks\n\nWritten by `make bench ARGS=--write` (bench/bench_*.py).\n")
    with BENCHMARKS.open("a") as f:
        f.write(f"\n## {title}\n\n`python bench/{script} {' '.join(argv)}` on {machine}, {stamp}\n\n{table}\n")
    print(f"appended to {BENCHMARKS}")
    return BENCHMARKS
