"""Causal language-model proxy: train any NNX model on a token array, report held-out loss.

Shape of the trainer (PureJaxRL style): `make_train(cfg, model_fn, train_tokens, eval_sets)`
returns `train(key) -> {"state", "metrics"}`; the whole run (init, the optimiser steps as a
`fori_loop` whose length is a runtime argument, evaluation) is one jitted program, and batches are
random windows sliced on device, so nothing crosses the host boundary mid-run. Because the step
count is not baked into the program, the isolated, cross and full stages of a cascade (15, 40 and
100 steps, say) compile a genome once and share it through JAX's persistent compilation cache.
`jax.vmap(train)(keys)` trains several seeds at once. `train` is already jitted with the token
arrays passed as arguments: call it directly (wrapping it in another `jax.jit` would embed the
corpus in the program as a constant).

`GPT` is a plain nanoGPT-style transformer: the reference model for benchmarks and the
default model of the data domain.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from proxies.blocks import causal_attention, count_params

F32 = jnp.float32
ModelFn = Callable[[nnx.Rngs], nnx.Module]


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class LMConfig:
    seq_len: int = 128  # tokens per training window (the model sees seq_len, predicts the next of each)
    batch_size: int = 16  # windows per optimiser step
    steps: int = 200  # optimiser steps
    lr: float = 3e-3  # peak AdamW learning rate
    warmup_frac: float = 0.1  # fraction of steps spent in linear warm-up from 0
    min_lr_frac: float = 0.1  # cosine decay ends at lr * min_lr_frac
    weight_decay: float = 0.1  # decoupled weight decay on matrices and embeddings (not norms/biases)
    grad_clip: float = 1.0  # global gradient-norm clip
    eval_batches: int = 4  # batches of fixed, evenly spaced windows per held-out set
    dtype: str = "float32"  # compute dtype model builders should use ("float32" | "bfloat16")

    @classmethod
    def tiny(cls) -> "LMConfig":
        """2 CPU cores: a few seconds per run for a ~0.1M-parameter model."""
        return cls()

    @classmethod
    def small(cls) -> "LMConfig":
        """One GPU, ~20M-parameter models: 2000 x 32 x 1024 = 65M tokens in bf16."""
        return cls(seq_len=1024, batch_size=32, steps=2000, lr=1.5e-3, eval_batches=8, dtype="bfloat16")

    def replace(self, **changes: Any) -> "LMConfig":
        return dataclasses.replace(self, **changes)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len


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


def warmup_cosine(*, lr: float, steps: int | jax.Array, warmup_frac: float, min_lr_frac: float) -> optax.Schedule:
    """Linear warm-up from 0 over max(1, round(warmup_frac * steps)) steps, then cosine decay to
    lr * min_lr_frac at `steps` (optax's warmup_cosine_decay_schedule). `steps` may be a traced
    value, so one compiled trainer serves every run length."""
    steps = jnp.asarray(steps, F32)
    warmup = jnp.maximum(1.0, jnp.round(warmup_frac * steps))
    decay = jnp.maximum(steps, warmup + 1.0) - warmup

    def schedule(count: jax.Array) -> jax.Array:
        count = jnp.asarray(count, F32)
        rising = lr * jnp.clip(count, 0.0, warmup) / warmup
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.clip(count - warmup, 0.0, decay) / decay))
        falling = lr * ((1.0 - min_lr_frac) * cosine + min_lr_frac)
        return jnp.where(count < warmup, rising, falling)

    return schedule


def make_optimizer(*, lr: float, steps: int | jax.Array, warmup_frac: float, min_lr_frac: float,
                   weight_decay: float, grad_clip: float) -> optax.GradientTransformation:
    """Clip by global norm, then AdamW (b2 0.95) with linear warm-up and cosine decay over `steps`
    (a Python int or a traced scalar); weight decay only on tensors with ndim >= 2 (matrices, embeddings)."""
    schedule = warmup_cosine(lr=lr, steps=steps, warmup_frac=warmup_frac, min_lr_frac=min_lr_frac)
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)  # noqa: E731
    return optax.chain(
        optax.clip_by_global_norm(grad_clip),
        optax.adamw(schedule, b1=0.9, b2=0.95, weight_decay=weight_decay, mask=decay_mask))


def guarded_update(tx: optax.GradientTransformation, params, opt_state, grads, loss: jax.Array,
                   diverged: jax.Array):
    """Apply one optimiser update unless this or an earlier step saw a non-finite loss or
    gradient; then keep the last finite params so the run returns instead of spreading NaN.
    Returns (params, opt_state, diverged)."""
    bad = ~(jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(grads)))
    updates, new_opt = tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    diverged = diverged | bad
    keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(diverged, o, n), new, old)  # noqa: E731
    return keep(new_params, params), keep(new_opt, opt_state), diverged


def _optimizer(cfg: LMConfig, steps: int | jax.Array) -> optax.GradientTransformation:
    return make_optimizer(lr=cfg.lr, steps=steps, warmup_frac=cfg.warmup_frac, min_lr_frac=cfg.min_lr_frac,
                          weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip)


def _parts(cfg: LMConfig, model_fn: ModelFn, steps: int | jax.Array):
    """The pure pieces of a run of `steps` optimiser steps: init(key) -> carry, step(carry, key, tokens),
    evaluate."""
    tx = _optimizer(cfg, steps)
    span = cfg.seq_len + 1

    graphdef = model_graphdef(model_fn)

    def init(key):
        _, params, rest = nnx.split(model_fn(nnx.Rngs(key)), nnx.Param, ...)
        return params, rest, tx.init(params), jnp.zeros((), bool)

    def loss_fn(params, rest, windows):
        logits = nnx.merge(graphdef, params, rest)(windows[:, :-1])
        return cross_entropy(logits, windows[:, 1:])

    def step(carry, key, tokens):
        params, rest, opt_state, diverged = carry
        windows = sample_windows(key, tokens, cfg.batch_size, span)
        loss, grads = jax.value_and_grad(loss_fn)(params, rest, windows)
        params, opt_state, diverged = guarded_update(tx, params, opt_state, grads, loss, diverged)
        return (params, rest, opt_state, diverged), loss

    def evaluate(params, rest, windows):  # windows: (eval_batches, B, span)
        return jax.lax.map(lambda w: loss_fn(params, rest, w), windows).mean()

    return init, step, evaluate


def run_steps(step: Callable, carry: Any, key: jax.Array, steps: jax.Array, max_steps: int) -> tuple[Any, jax.Array]:
    """`steps` optimiser steps (traced, at most `max_steps`), step i drawing `fold_in(key, i)`: the
    loop bound is a runtime value, so runs of every length share one compiled program. Returns the
    final carry and the losses, (max_steps,) with NaN after `steps`."""
    def body(i, state):
        carry, losses = state
        carry, loss = step(carry, jax.random.fold_in(key, i))
        return carry, losses.at[i].set(loss)

    losses = jnp.full((max_steps,), jnp.nan, F32)
    return jax.lax.fori_loop(0, jnp.minimum(steps, max_steps), body, (carry, losses))


def checked_steps(steps: int, max_steps: int | None) -> tuple[int, int]:
    """(steps, buffer length): the buffer defaults to `steps` and may not be shorter."""
    max_steps = int(steps) if max_steps is None else int(max_steps)
    if not 1 <= int(steps) <= max_steps:
        raise ValueError(f"steps must be in [1, max_steps = {max_steps}], got {steps}")
    return int(steps), max_steps


def make_train(cfg: LMConfig, model_fn: ModelFn, train_tokens: np.ndarray,
               eval_sets: Mapping[str, np.ndarray], *, max_steps: int | None = None) -> Callable[[jax.Array], dict]:
    """Return `train(key) -> {"state": {"params", "rest"}, "metrics": {...}}` running `cfg.steps` steps.

    metrics: `train_loss` (max_steps,), NaN after cfg.steps; `eval_loss` {set: mean loss over the
    fixed windows}; `diverged` (a non-finite loss or gradient appeared; later updates were skipped,
    so the returned state is the last finite one). Rebuild the model with `restore(model_fn, state)`.

    `max_steps` (default cfg.steps) fixes the compiled program: the step count is a runtime
    argument of `train.run(key, data, steps)`, so every stage of a cascade (any steps up to
    `max_steps`) reuses one compilation through JAX's compilation cache.
    """
    steps, max_steps = checked_steps(cfg.steps, max_steps)
    if np.asarray(train_tokens).shape[0] < cfg.seq_len + 1:
        raise ValueError(f"train_tokens has fewer than seq_len + 1 = {cfg.seq_len + 1} tokens")
    data = {"train": jnp.asarray(train_tokens, jnp.int32),
            "eval": {name: jnp.asarray(eval_windows(t, cfg)) for name, t in eval_sets.items()}}

    @jax.jit
    def run(key, data, steps):
        init, step, evaluate = _parts(cfg, model_fn, steps)
        k_init, k_steps = jax.random.split(key)
        carry, losses = run_steps(lambda c, k: step(c, k, data["train"]), init(k_init), k_steps, steps, max_steps)
        params, rest, _, diverged = carry
        eval_loss = {name: evaluate(params, rest, w) for name, w in data["eval"].items()}
        return {"state": {"params": params, "rest": rest},
                "metrics": {"train_loss": losses, "eval_loss": eval_loss, "diverged": diverged}}

    def train(key: jax.Array) -> dict:
        return run(key, data, jnp.int32(steps))

    train.run, train.data, train.steps = run, data, jnp.int32(steps)  # for measure(): same arguments
    return train


def model_graphdef(model_fn: ModelFn) -> nnx.GraphDef:
    """The model's structure without allocating its parameters (split as Param, rest)."""
    return nnx.split(nnx.eval_shape(lambda: model_fn(nnx.Rngs(0))), nnx.Param, ...)[0]


def restore(model_fn: ModelFn, state: Mapping[str, Any]) -> nnx.Module:
    """Rebuild a trained model from `train(key)["state"]` (one seed, not a vmapped batch)."""
    return nnx.merge(model_graphdef(model_fn), state["params"], state["rest"])


def _flops(program) -> float:
    """XLA's FLOP count of a lowered (or compiled) program; the lowered HLO is enough, so counting costs
    no second compilation."""
    analysis = program.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else {}
    return float((analysis or {}).get("flops", float("nan")))


def measure(cfg: LMConfig, model_fn: ModelFn, train_tokens: np.ndarray, eval_sets: Mapping[str, np.ndarray],
            key: jax.Array, *, peak_flops: float | None = None, max_steps: int | None = None) -> dict:
    """Train once and return plain-Python metrics plus cost figures.

    compile_seconds / train_seconds are wall times (block_until_ready); compile_seconds is small
    when the program came from the compilation cache (see `max_steps` in make_train);
    flops_per_token is XLA's cost analysis of one train step divided by tokens per step (custom
    calls such as cuDNN attention are not counted, so on GPU it undercounts attention);
    flops_per_token_6n is the 6N parameter rule; mfu = flops_per_token * tokens_per_second / peak_flops.
    """
    train = make_train(cfg, model_fn, train_tokens, eval_sets, max_steps=max_steps)
    t0 = time.perf_counter()
    compiled = train.run.lower(key, train.data, train.steps).compile()
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(key, train.data, train.steps))
    train_seconds = time.perf_counter() - t0

    init, step, _ = _parts(cfg, model_fn, cfg.steps)
    carry = jax.eval_shape(init, key)
    step_flops = _flops(jax.jit(step).lower(carry, key, train.data["train"]))
    params = count_params(nnx.eval_shape(lambda: model_fn(nnx.Rngs(0))))
    tokens_per_second = cfg.steps * cfg.tokens_per_step / train_seconds
    m = out["metrics"]
    result = {
        "train_loss": np.asarray(m["train_loss"])[: cfg.steps],
        "eval_loss": {k: float(v) for k, v in m["eval_loss"].items()},
        "diverged": bool(m["diverged"]),
        "compile_seconds": compile_seconds,
        "train_seconds": train_seconds,
        "tokens_per_second": tokens_per_second,
        "params": params,
        "flops_per_token": step_flops / cfg.tokens_per_step,
        "flops_per_token_6n": 6.0 * params,
    }
    if peak_flops:
        result["mfu"] = result["flops_per_token"] * tokens_per_second / peak_flops
    return result


# ----------------------------------------------------------------------------- reference model


class _GPTBlock(nnx.Module):
    def __init__(self, d_model: int, n_heads: int, n_layers: int, *, dtype, rngs: nnx.Rngs):
        dt = jnp.dtype(dtype)
        init = nnx.initializers.normal(0.02)
        proj_init = nnx.initializers.normal(0.02 / (2 * n_layers) ** 0.5)  # GPT-2 residual scaling
        lin = lambda i, o, k: nnx.Linear(i, o, use_bias=False, dtype=dt, param_dtype=F32,  # noqa: E731
                                         kernel_init=k, rngs=rngs)
        self.n_heads = n_heads
        self.ln1 = nnx.LayerNorm(d_model, dtype=dt, param_dtype=F32, rngs=rngs)
        self.qkv = lin(d_model, 3 * d_model, init)
        self.proj = lin(d_model, d_model, proj_init)
        self.ln2 = nnx.LayerNorm(d_model, dtype=dt, param_dtype=F32, rngs=rngs)
        self.fc = lin(d_model, 4 * d_model, init)
        self.fc_out = lin(4 * d_model, d_model, proj_init)

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (B, T, D) float32 residual stream
        B, T, D = x.shape
        qkv = self.qkv(self.ln1(x)).reshape(B, T, 3, self.n_heads, D // self.n_heads)
        y = causal_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], None)  # (B, T, H, d)
        x = x + self.proj(y.reshape(B, T, D)).astype(x.dtype)
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
