"""Where evolve keeps what it can rebuild, and JAX's persistent compilation cache inside it.

Everything lives under `$EVOLVE_CACHE` (default `~/.cache/evolve`): `corpus/` (the built offline
corpus) and `jax/` (compiled XLA programs). Worker processes are fresh Python processes, so without
the persistent cache every evaluation would compile its trainer again; with it, the same program
(the same genome at another seed, another stage or in another run) is loaded instead.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator


def cache_root() -> str:
    return os.environ.get("EVOLVE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "evolve")


def enable_compile_cache() -> None:
    """Turn on JAX's persistent compilation cache under `$EVOLVE_CACHE/jax` for programs that took
    at least a second to compile. Leaves an already configured cache alone, so a caller (a test, a
    user's script) can point it elsewhere first."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return
    path = os.path.join(cache_root(), "jax")
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


# ----------------------------------------------------------------------------- what compiling cost

_EVENTS = {  # jax.monitoring event -> the counter it adds to (durations in seconds, events counted)
    "/jax/core/compile/jaxpr_trace_duration": "compile/trace_seconds",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "compile/lower_seconds",
    "/jax/core/compile/backend_compile_duration": "compile/xla_seconds",  # includes loading a cache hit
    "/jax/compilation_cache/compile_requests_use_cache": "compile/cache_requests",
    "/jax/compilation_cache/cache_hits": "compile/cache_hits",
    "/jax/compilation_cache/cache_misses": "compile/cache_writes",  # a miss whose program was kept (>= 1 s)
}
_TOTALS: dict[str, float] = {}


def _listen() -> None:
    """Count JAX's compile events in this process (once): every program, not only the proxies' trainers."""
    if _TOTALS:
        return
    from jax import monitoring

    _TOTALS.update({name: 0.0 for name in _EVENTS.values()})

    def on_event(event: str, **_: Any) -> None:
        if event in _EVENTS:
            _TOTALS[_EVENTS[event]] += 1.0

    def on_duration(event: str, seconds: float, **_: Any) -> None:
        if event in _EVENTS:
            _TOTALS[_EVENTS[event]] += float(seconds)

    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)


@contextlib.contextmanager
def compile_stats() -> Iterator[dict[str, float]]:
    """Measure what compiling cost inside the block: yields a dict filled on exit with trace, lower and
    XLA seconds, `compile/seconds` (their sum), and the persistent cache's requests, hits and writes.
    Cheap (a listener per event); an evaluation adds it to its details so a benchmark can split its time
    into compiling and training (bench/bench_throughput.py)."""
    _listen()
    before = dict(_TOTALS)
    out: dict[str, float] = {}
    try:
        yield out
    finally:
        out.update({k: _TOTALS[k] - before[k] for k in _TOTALS})
        out["compile/seconds"] = out["compile/trace_seconds"] + out["compile/lower_seconds"] + out["compile/xla_seconds"]
