"""GPU benchmark: the LM proxy against a plain hand-written JAX GPT of the same size, and vmapped PPO.

    python bench/bench_gpu.py [--scale small|tiny|ladder] [--steps N] [--agents 256] [--write]
    python bench/bench_gpu.py --device cpu --scale tiny     # check that it runs, on a machine without a GPU

Two tables, measured in one process:
1. Training tokens/s of the arch domain's Transformer baseline genome (compiled by domains.arch and
   trained by proxies.lm, exactly as an evaluation does) side by side with `plain_gpt` below: the same
   model (pre-RMSNorm, 4-head causal attention with RoPE, 4x GELU MLP, final RMSNorm, tied embeddings,
   no biases, float32 parameters, `dtype` compute) written as bare JAX functions over a parameter dict,
   trained with the same optimiser, batch shape and on-device batch sampling. Target: proxy >= 90%.
2. PPO env steps/s with `--agents` seeds vmapped in one jitted call (bench/bench_ppo.py), default 256.

Without a GPU (and without `--device cpu`) it prints why it skipped and exits 0, so `make bench` runs
anywhere. `--write` appends the tables, with the command, machine and date, to docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _configure_device(device: str) -> None:
    """Must run before JAX is imported: `cpu` hides any accelerator."""
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"


# --------------------------------------------------------------------------------------
# A plain JAX GPT (the yardstick): parameters in a dict, the model a few pure functions
# --------------------------------------------------------------------------------------
def init_gpt(key, vocab: int, d: int, n_layers: int, hidden: int) -> dict:
    import jax
    import jax.numpy as jnp

    def dense(k, n_in, n_out):
        return jax.random.normal(k, (n_in, n_out), jnp.float32) * (1.0 / n_in) ** 0.5

    keys = jax.random.split(key, 1 + 4 * n_layers)
    layers = []
    for i in range(n_layers):
        k = keys[1 + 4 * i: 5 + 4 * i]
        layers.append({"norm1": jnp.ones((d,)), "qkv": dense(k[0], d, 3 * d), "out": dense(k[1], d, d),
                       "norm2": jnp.ones((d,)), "up": dense(k[2], d, hidden), "down": dense(k[3], hidden, d)})
    return {"embed": jax.random.normal(keys[0], (vocab, d), jnp.float32) * 0.02, "layers": layers,
            "norm_f": jnp.ones((d,))}


def plain_gpt(params: dict, tokens, *, n_heads: int, dtype):
    """tokens (B, T) int32 -> logits (B, T, vocab) float32."""
    import jax
    import jax.numpy as jnp

    def rms(x, scale):
        x = x.astype(jnp.float32)
        return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * scale

    def rope(x):  # (B, T, H, hd)
        T, hd = x.shape[1], x.shape[-1]
        half = hd // 2
        freqs = 10000.0 ** (-jnp.arange(half, dtype=jnp.float32) / half)
        ang = jnp.arange(T, dtype=jnp.float32)[:, None] * freqs[None, :]
        cos, sin = jnp.cos(ang)[None, :, None, :], jnp.sin(ang)[None, :, None, :]
        x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
        return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).astype(x.dtype)

    def attention(q, k, v):
        if jax.default_backend() == "gpu" and q.dtype in (jnp.bfloat16, jnp.float16):
            try:
                return jax.nn.dot_product_attention(q, k, v, is_causal=True, implementation="cudnn")
            except (NotImplementedError, ValueError, RuntimeError, TypeError):
                pass
        return jax.nn.dot_product_attention(q, k, v, is_causal=True)

    B, T = tokens.shape
    x = params["embed"][tokens]  # (B, T, D) float32 residual stream
    D = x.shape[-1]
    for p in params["layers"]:
        h = rms(x, p["norm1"]).astype(dtype)
        qkv = (h @ p["qkv"].astype(dtype)).reshape(B, T, 3, n_heads, D // n_heads)
        y = attention(rope(qkv[:, :, 0]), rope(qkv[:, :, 1]), qkv[:, :, 2]).reshape(B, T, D)
        x = x + (y @ p["out"].astype(dtype)).astype(jnp.float32)
        h = rms(x, p["norm2"]).astype(dtype)
        x = x + (jax.nn.gelu(h @ p["up"].astype(dtype)) @ p["down"].astype(dtype)).astype(jnp.float32)
    return rms(x, params["norm_f"]) @ params["embed"].T  # tied embeddings, float32 logits


def measure_plain_gpt(lcfg, tokens, *, vocab: int, d: int, n_layers: int, n_heads: int, key) -> dict:
    """Compile and time `lcfg.steps` optimiser steps of the plain GPT (one jitted lax.scan)."""
    import jax
    import jax.numpy as jnp
    import optax

    from proxies.lm import make_optimizer, sample_windows

    dtype = jnp.dtype(lcfg.dtype)
    tx = make_optimizer(lr=lcfg.lr, steps=lcfg.steps, warmup_frac=lcfg.warmup_frac, min_lr_frac=lcfg.min_lr_frac,
                        weight_decay=lcfg.weight_decay, grad_clip=lcfg.grad_clip)
    span = lcfg.seq_len + 1

    def loss_fn(params, windows):
        logits = plain_gpt(params, windows[:, :-1], n_heads=n_heads, dtype=dtype)
        return optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()

    @jax.jit
    def run(key, data):
        k_init, k_steps = jax.random.split(key)
        params = init_gpt(k_init, vocab, d, n_layers, 4 * d)
        carry = (params, tx.init(params))

        def step(carry, k):
            params, opt = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, sample_windows(k, data, lcfg.batch_size, span))
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), loss

        (params, _), losses = jax.lax.scan(step, carry, jax.random.split(k_steps, lcfg.steps))
        return losses

    data = jnp.asarray(tokens, jnp.int32)
    t0 = time.perf_counter()
    exe = run.lower(key, data).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    losses = jax.block_until_ready(exe(key, data))
    train_s = time.perf_counter() - t0
    n_params = sum(x.size for x in jax.tree.leaves(jax.eval_shape(lambda: init_gpt(key, vocab, d, n_layers, 4 * d))))
    return {"params": int(n_params), "compile_seconds": compile_s, "train_seconds": train_s,
            "tokens_per_second": lcfg.steps * lcfg.tokens_per_step / train_s, "final_loss": float(losses[-1])}


# --------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------
def _arch_cfg(scale: str) -> dict:
    import yaml

    from evolve.plugins import domain_config

    raw = yaml.safe_load((ROOT / "conf" / "domain" / "arch.yaml").read_text())["domains"]["arch"]
    rungs = raw["scales"][scale].get("rungs") or {}
    rung = sorted(rungs)[-1] if rungs else None  # a ladder: its top rung
    return domain_config(raw, scale, "gpu" if scale != "tiny" else "cpu", rung)


def lm_side_by_side(scale: str, steps: int | None) -> str:
    import jax

    from domains.arch import ArchDomain
    from domains.arch import compile as comp
    from domains.arch import evaluate as ev
    from proxies import lm

    cfg = _arch_cfg(scale)
    dom = ArchDomain(cfg)
    genome = dom.baselines()["transformer"]
    heads = next(s.mixer.heads for s in genome.layers if hasattr(s.mixer, "heads"))
    corpus = ev.cached_default_corpus(0, cfg.get("corpus_max_bytes"))
    lcfg = ev.lm_config(dom.cfg, 1.0)
    if steps:
        lcfg = lcfg.replace(steps=steps)
    key = jax.random.key(0)
    make = comp.model_fn(genome, ev.width(dom.cfg), vocab_size=corpus.vocab_size, max_len=lcfg.seq_len)
    proxy = lm.measure(lcfg, make, corpus.train, corpus.heldout, key)
    plain = measure_plain_gpt(lcfg, corpus.train, vocab=corpus.vocab_size, d=int(cfg["d_model"]),
                              n_layers=int(cfg["n_layers"]), n_heads=heads, key=key)
    ratio = proxy["tokens_per_second"] / plain["tokens_per_second"]
    verdict = "meets" if ratio >= 0.9 else "misses"
    head = (f"LM proxy vs plain JAX GPT `{scale}`: d_model {cfg['d_model']}, {cfg['n_layers']} layers, {heads} heads, "
            f"seq {lcfg.seq_len}, batch {lcfg.batch_size}, {lcfg.steps} steps, {lcfg.dtype}; the proxy runs at "
            f"**{ratio:.0%}** of the plain GPT ({verdict} the >= 90% target)\n\n"
            "| model | params | compile s | train s | tokens/s | relative |\n|---|---:|---:|---:|---:|---:|")
    rows = [f"| Transformer baseline genome (domains.arch + proxies.lm) | {proxy['params']:,} | "
            f"{proxy['compile_seconds']:.1f} | {proxy['train_seconds']:.2f} | {proxy['tokens_per_second']:,.0f} | "
            f"{ratio:.2f} |",
            f"| plain JAX GPT (bench/bench_gpu.py) | {plain['params']:,} | {plain['compile_seconds']:.1f} | "
            f"{plain['train_seconds']:.2f} | {plain['tokens_per_second']:,.0f} | 1.00 |"]
    return head + "\n" + "\n".join(rows)


def ppo_vmapped(scale: str, agents: int) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_ppo

    ppo_scale = "small" if scale == "ladder" else scale
    return bench_ppo.run(ppo_scale, [agents], ["CartPole-v1"])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="gpu", choices=["gpu", "cpu"], help="cpu: run here to check the script")
    p.add_argument("--scale", default=None, choices=["tiny", "small", "ladder"],
                   help="default: small on a GPU, tiny with --device cpu")
    p.add_argument("--steps", type=int, default=None, help="LM steps (default: the scale's full-stage steps)")
    p.add_argument("--agents", default=None, help="vmapped PPO seeds (default 256 on a GPU, 8 on CPU)")
    p.add_argument("--write", action="store_true", help="append the tables to docs/BENCHMARKS.md")
    args, ignored = p.parse_known_args(argv)  # make bench passes every bench the same arguments
    _configure_device(args.device)
    import jax

    platform = jax.devices()[0].platform
    if args.device == "gpu" and platform != "gpu":
        print(f"bench_gpu: skipped, no GPU visible to JAX (devices: {platform}). Run it on a GPU machine, "
              "or `python bench/bench_gpu.py --device cpu --scale tiny` to check that it works.")
        return 0
    scale = args.scale or ("small" if args.device == "gpu" else "tiny")
    agents = int(str(args.agents or (256 if args.device == "gpu" else 8)).split(",")[-1])
    tables = [lm_side_by_side(scale, args.steps)]
    print("\n" + tables[0], flush=True)
    tables.append(ppo_vmapped(scale, agents))
    print("\n" + tables[1], flush=True)
    if args.write:
        import benchlib

        benchlib.append_section(f"GPU proxies ({scale}, {platform})", "bench_gpu.py", argv, benchlib.jax_machine(),
                                "\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
