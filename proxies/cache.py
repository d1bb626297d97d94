"""Where evolve keeps what it can rebuild, and JAX's persistent compilation cache inside it.

Everything lives under `$EVOLVE_CACHE` (default `~/.cache/evolve`): `corpus/` (the built offline
corpus) and `jax/` (compiled XLA programs). Worker processes are fresh Python processes, so without
the persistent cache every evaluation would compile its trainer again; with it, the same program
(the same genome at another seed, another stage or in another run) is loaded instead.
"""
from __future__ import annotations

import os


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
