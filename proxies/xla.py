"""The one XLA flag every process that runs JAX needs, set in one place (the lowest layer that uses JAX).

On multi-core CPUs XLA's concurrency-optimised scheduler can deadlock vmapped training loops in
block_until_ready; the flag must be in XLA_FLAGS before JAX initialises. `import proxies` (and so
`import domains` and `import evolve`) sets it in this process; the engine's sandbox passes it to workers.
"""
from __future__ import annotations

import os
from typing import MutableMapping

XLA_CPU_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def with_cpu_flag(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Add XLA_CPU_FLAG to `env["XLA_FLAGS"]` (default: this process's environment) unless present; return `env`."""
    env = os.environ if env is None else env
    flags = env.get("XLA_FLAGS", "")
    if XLA_CPU_FLAG not in flags:
        env["XLA_FLAGS"] = f"{flags} {XLA_CPU_FLAG}".strip()
    return env
