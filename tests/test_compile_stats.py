"""compile_stats: what compiling cost inside a block, from JAX's own compile events (bench/bench_throughput.py
splits an evaluation's time with it)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax._src import compilation_cache  # reset_cache: JAX decides once per process whether a cache is used

from proxies.cache import compile_stats


def test_counts_a_compilation_then_a_persistent_cache_hit(tmp_path):
    old_dir = jax.config.jax_compilation_cache_dir
    old_min = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    compilation_cache.reset_cache()
    try:
        f = lambda x: jnp.tanh(x) * 3.0 + 1.0  # noqa: E731
        with compile_stats() as first:
            jax.jit(f)(jnp.ones(7)).block_until_ready()
        jax.clear_caches()  # forget the in-memory executable: the next call must come from the disk cache
        with compile_stats() as again:
            jax.jit(f)(jnp.ones(7)).block_until_ready()
        with compile_stats() as nothing:
            pass
    finally:
        jax.config.update("jax_compilation_cache_dir", old_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", old_min)
        compilation_cache.reset_cache()
    assert first["compile/cache_writes"] >= 1 and first["compile/cache_hits"] == 0
    assert first["compile/seconds"] > 0 and first["compile/xla_seconds"] > 0
    assert again["compile/cache_hits"] >= 1  # the jitted function came from the disk cache
    assert nothing["compile/seconds"] == 0 and nothing["compile/cache_requests"] == 0
