"""bench/bench_gpu.py: its yardstick GPT matches the proxy's Transformer, and it skips cleanly without a GPU;
proxies/ imports on a machine that has none of the engine's dependencies."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_gpu  # noqa: E402


def test_plain_gpt_has_the_transformer_baselines_size_and_shapes():
    from flax import nnx

    from domains.arch import ArchDomain
    from domains.arch import compile as comp
    from domains.arch import evaluate as ev
    from proxies.blocks import count_params

    cfg = bench_gpu._arch_cfg("tiny")
    dom = ArchDomain(cfg)
    make = comp.model_fn(dom.baselines()["transformer"], ev.width(dom.cfg), vocab_size=256, max_len=32)
    proxy_params = count_params(nnx.eval_shape(lambda: make(nnx.Rngs(0))))
    params = bench_gpu.init_gpt(jax.random.key(0), 256, cfg["d_model"], cfg["n_layers"], 4 * cfg["d_model"])
    assert sum(x.size for x in jax.tree.leaves(params)) == proxy_params
    logits = bench_gpu.plain_gpt(params, jnp.zeros((2, 32), jnp.int32), n_heads=4, dtype=jnp.float32)
    assert logits.shape == (2, 32, 256) and bool(jnp.all(jnp.isfinite(logits)))
    # causal: changing the last token leaves every earlier position's logits unchanged
    other = bench_gpu.plain_gpt(params, jnp.zeros((2, 32), jnp.int32).at[:, -1].set(7), n_heads=4, dtype=jnp.float32)
    assert bool(jnp.allclose(logits[:, :-1], other[:, :-1], atol=1e-5))


def test_without_a_gpu_it_says_why_it_skipped():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--write"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "skipped, no GPU visible to JAX" in out.stdout
    assert "--device cpu --scale tiny" in out.stdout


def test_proxies_import_without_the_engines_dependencies():
    blocked = ["evolve", "domains", "hydra", "omegaconf", "mlflow", "sklearn", "pymoo", "ray"]  # (rich comes with flax)
    code = ("import sys\n"
            f"for name in {blocked!r}:\n    sys.modules[name] = None\n"
            "import proxies.lm, proxies.blocks, proxies.recall, proxies.corpus, proxies.ppo, proxies.envs\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
