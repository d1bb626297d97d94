"""Causal language-model proxy: train any NNX model on a token array, report held-out loss.

Shape of the trainer (PureJaxRL style): `make_train(cfg, model_fn, train_tokens, eval_sets)`
returns `train(key, steps) -> {"state", "metrics"}`; the whole run (init, the optimiser steps as a
`fori_loop` whose length is the runtime argument `steps`, evaluation) is one jitted program, and
batches are random windows sliced on device, so nothing crosses the host boundary mid-run. Because
the step count is not baked into the program, the isolated, cross and full stages of a cascade (15,
40 and 100 steps, say) compile a genome once and share it through JAX's persistent compilation
cache. `jax.vmap(train, in_axes=(0, None))(keys, steps)` trains several seeds at once. The token
arrays are arguments of the jitted program, bound by `functools.partial` (wrapping `train` in another
`jax.jit` would embed the corpus in the program as a constant). The optimiser, the guarded update,
the loop and the measurement are `proxies.trainer`'s, shared with the recall probe.

`GPT` is a plain nanoGPT-style transformer: the reference model for benchmarks and the
default model of the data domain.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from proxies import trainer
from proxies.configs import LMConfig  # noqa: F401  (re-exported)
from proxies.blocks import CausalSelfAttention, count_params
from proxies.trainer import (  # noqa: F401  (re-exported: the LM proxy's public names)
    checked_steps, guarded_update, make_optimizer, model_graphdef, restore, run_steps, warmup_cosine)

F32 = jnp.float32
ModelFn = Callable[[nnx.Rngs], nnx.Module]


# ----------------------------------------------------------------------------- config


def stage_config(preset: str, fraction: float, *, min_steps: int, **overrides: Any) -> LMConfig:
    """The LM proxy at one stage of a cascade, as every domain sets it up: the preset ("tiny" | "small"),
    then `overrides`, then the steps scaled by the stage's budget fraction, never below `min_steps`."""
    if preset not in ("tiny", "small"):
        raise ValueError(f"unknown LM preset {preset!r} (tiny, small)")
    base = getattr(LMConfig, preset)().replace(**overrides)
    return base.replace(steps=max(int(min_steps), int(round(float(fraction) * base.steps))))


def token_budget(cfg: LMConfig, capacity: int) -> int:
    """Training tokens a run of `capacity` steps draws (one more for the last target). A corpus drawn at
    the full stage's budget has the same length at every stage, so its trainer compiles once."""
    return int(capacity) * cfg.tokens_per_step + 1


# ----------------------------------------------------------------------------- data on device


def eval_windows(tokens: np.ndarray, cfg: LMConfig) -> np.ndarray:
    """Fixed evaluation windows (eval_batches, batch_size, seq_len + 1), evenly spaced over
    `tokens`, so every run (any key, any model) is scored on exactly the same text."""
    tokens = np.asarray(tokens, np.int32)
    span = cfg.seq_len + 1
    if tokens.shape[0] < span:
        raise ValueError(f"held-out set has {tokens.shape[0]} tokens, need at least {span}")
    count = cfg.eval_batches * cfg.batch_size
    starts = np.linspace(0, tokens.shape[0] - span, count).astype(np.int64)
    return tokens[starts[:, None] + np.arange(span)].reshape(cfg.eval_batches, cfg.batch_size, span)


def sample_windows(key: jax.Array, tokens: jax.Array, batch_size: int, span: int) -> jax.Array:
    """`batch_size` random windows of `span` tokens sliced on device: (batch_size, span)."""
    starts = jax.random.randint(key, (batch_size,), 0, tokens.shape[0] - span + 1)
    return jax.vmap(lambda s: jax.lax.dynamic_slice(tokens, (s,), (span,)))(starts)


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean next-token cross-entropy in nats, computed in float32."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(F32), targets).mean()


# ----------------------------------------------------------------------------- trainer


def _loss(model: nnx.Module, windows: jax.Array) -> jax.Array:
    return cross_entropy(model(windows[:, :-1]), windows[:, 1:])


def _sampler(cfg: LMConfig, tokens: jax.Array) -> Callable[[jax.Array], jax.Array]:
    return lambda key: sample_windows(key, tokens, cfg.batch_size, cfg.seq_len + 1)


def make_train(cfg: LMConfig, model_fn: ModelFn, train_tokens: np.ndarray,
               eval_sets: Mapping[str, np.ndarray], *, max_steps: int | None = None) -> Callable[..., dict]:
    """Return `train(key, steps) -> {"state": {"params", "rest"}, "metrics": {...}}`, one jitted program.

    `steps` is a runtime argument (any value in [1, max_steps]; max_steps defaults to cfg.steps), so
    every stage of a cascade reuses one compilation through JAX's compilation cache. metrics:
    `train_loss` (max_steps,), NaN after `steps`; `eval_loss` {set: mean loss over the fixed windows};
    `diverged` (a non-finite loss or gradient appeared; later updates were skipped, so the returned
    state is the last finite one). Rebuild the model with `restore(model_fn, state)`.
    """
    _, max_steps = checked_steps(cfg.steps, max_steps)
    if np.asarray(train_tokens).shape[0] < cfg.seq_len + 1:
        raise ValueError(f"train_tokens has fewer than seq_len + 1 = {cfg.seq_len + 1} tokens")
    data = {"train": jnp.asarray(train_tokens, jnp.int32),
            "eval": {name: jnp.asarray(eval_windows(t, cfg)) for name, t in eval_sets.items()}}
    graphdef = model_graphdef(model_fn)

    @jax.jit
    def run(data: dict, key: jax.Array, steps: jax.Array) -> dict:
        k_init, k_steps = jax.random.split(key)
        fitted = trainer.fit(cfg, model_fn, _loss, _sampler(cfg, data["train"]), k_init, k_steps, steps, max_steps)
        model = nnx.merge(graphdef, fitted["params"], fitted["rest"])
        eval_loss = {name: jax.lax.map(lambda w: _loss(model, w), windows).mean()
                     for name, windows in data["eval"].items()}
        return {"state": {"params": fitted["params"], "rest": fitted["rest"]},
                "metrics": {"train_loss": fitted["losses"], "eval_loss": eval_loss, "diverged": fitted["diverged"]}}

    return functools.partial(run, data)


def step_flops(cfg: LMConfig, model_fn: ModelFn, train_tokens: np.ndarray, key: jax.Array) -> float:
    """XLA's FLOP count of one optimiser step (forward, backward, update), from the lowered program."""
    init, step = trainer.parts(cfg, model_fn, _loss, cfg.steps)
    carry = jax.eval_shape(init, key)
    tokens = jnp.asarray(train_tokens, jnp.int32)
    return trainer.program_flops(jax.jit(lambda c, k, t: step(c, _sampler(cfg, t)(k))).lower(carry, key, tokens))


def measure(cfg: LMConfig, model_fn: ModelFn, train_tokens: np.ndarray, eval_sets: Mapping[str, np.ndarray],
            key: jax.Array, *, peak_flops: float | None = None, max_steps: int | None = None) -> dict:
    """Train `cfg.steps` steps once and return plain-Python metrics plus cost figures.

    compile_seconds / train_seconds are wall times (block_until_ready); compile_seconds is small
    when the program came from the compilation cache (see `max_steps` in make_train);
    flops_per_token is XLA's cost analysis of one train step divided by tokens per step (custom
    calls such as cuDNN attention are not counted, so on GPU it undercounts attention);
    flops_per_token_6n is the 6N parameter rule. `mfu` = flops_per_token * tokens_per_second /
    peak_flops, where the peak is `peak_flops` or else the device's dense peak for cfg.dtype from
    `trainer.PEAK_FLOPS`; when neither is known, `mfu` and `peak_flops` are None (never a guess).
    """
    train = make_train(cfg, model_fn, train_tokens, eval_sets, max_steps=max_steps)
    out, compile_seconds, train_seconds = trainer.timed_run(train, key, jnp.int32(cfg.steps))
    params = count_params(nnx.eval_shape(lambda: model_fn(nnx.Rngs(0))))
    tokens_per_second = cfg.steps * cfg.tokens_per_step / train_seconds
    flops_per_token = step_flops(cfg, model_fn, train_tokens, key) / cfg.tokens_per_step
    device = jax.devices()[0]
    peak = peak_flops or trainer.peak_flops(getattr(device, "device_kind", device.platform), cfg.dtype)
    m = out["metrics"]
    return {
        "train_loss": np.asarray(m["train_loss"])[: cfg.steps],
        "eval_loss": {k: float(v) for k, v in m["eval_loss"].items()},
        "diverged": bool(m["diverged"]),
        "compile_seconds": compile_seconds,
        "train_seconds": train_seconds,
        "tokens_per_second": tokens_per_second,
        "params": params,
        "flops_per_token": flops_per_token,
        "flops_per_token_6n": 6.0 * params,
        "peak_flops": float(peak) if peak else None,
        "mfu": flops_per_token * tokens_per_second / peak if peak else None,
    }


# ----------------------------------------------------------------------------- reference model


class _GPTBlock(nnx.Module):
    def __init__(self, d_model: int, n_heads: int, n_layers: int, *, dtype, rngs: nnx.Rngs):
        dt = jnp.dtype(dtype)
        init = nnx.initializers.normal(0.02)
        proj_init = nnx.initializers.normal(0.02 / (2 * n_layers) ** 0.5)  # GPT-2 residual scaling
        lin = lambda i, o, k: nnx.Linear(i, o, use_bias=False, dtype=dt, param_dtype=F32,  # noqa: E731
                                         kernel_init=k, rngs=rngs)
        self.ln1 = nnx.LayerNorm(d_model, dtype=dt, param_dtype=F32, rngs=rngs)
        self.attn = CausalSelfAttention(d_model, n_heads, rope=False, kernel_init=init, out_init=proj_init,
                                        dtype=dt, rngs=rngs)
        self.ln2 = nnx.LayerNorm(d_model, dtype=dt, param_dtype=F32, rngs=rngs)
        self.fc = lin(d_model, 4 * d_model, init)
        self.fc_out = lin(4 * d_model, d_model, proj_init)

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (B, T, D) float32 residual stream
        x = x + self.attn(self.ln1(x)).astype(x.dtype)
        return x + self.fc_out(jax.nn.gelu(self.fc(self.ln2(x)))).astype(x.dtype)


class GPT(nnx.Module):
    """nanoGPT: learned positions, pre-LayerNorm blocks (causal attention + 4x GELU MLP),
    tied embeddings; logits (B, T, vocab) in float32."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int, max_len: int, *,
                 dtype=F32, rngs: nnx.Rngs):
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} not divisible by n_heads {n_heads}")
        init = nnx.initializers.normal(0.02)
        self.wte = nnx.Embed(vocab_size, d_model, dtype=F32, param_dtype=F32, embedding_init=init, rngs=rngs)
        self.wpe = nnx.Embed(max_len, d_model, dtype=F32, param_dtype=F32, embedding_init=init, rngs=rngs)
        self.blocks = nnx.List([_GPTBlock(d_model, n_heads, n_layers, dtype=dtype, rngs=rngs)
                                for _ in range(n_layers)])
        self.ln_f = nnx.LayerNorm(d_model, dtype=F32, param_dtype=F32, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        T = tokens.shape[1]
        x = self.wte(tokens) + self.wpe(jnp.arange(T))[None]  # (B, T, D)
        for block in self.blocks:
            x = block(x)
        return self.wte.attend(self.ln_f(x))  # (B, T, vocab)
