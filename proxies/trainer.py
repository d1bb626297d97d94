"""The trainer core the LM and recall proxies share: optimiser, guarded update, a loop whose step
count is a runtime argument, and measurement (compile and train seconds, model FLOPs utilisation).

A proxy builds `train(key, steps)` (one jitted program: init, `steps` optimiser steps, evaluation);
`steps` is traced, so every stage of a cascade (15, 40, 100 steps, say) shares one compilation, up to
the `max_steps` the program was built for. A proxy whose data live on the device passes them as a
jitted argument and hands out `functools.partial(run, data=...)` (a closed-over array would be
embedded in the program as a constant); `lower` and `timed_run` accept both forms.
"""
from __future__ import annotations

import functools
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax
from flax import nnx

F32 = jnp.float32
ModelFn = Callable[[nnx.Rngs], nnx.Module]

# Dense bf16/fp16 tensor-core peaks (FLOP/s) by `jax.Device.device_kind`, from the vendors' data sheets.
# A device (or compute dtype) not listed has an unknown peak, and its MFU is reported as unknown.
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "NVIDIA H100 80GB HBM3": {"bfloat16": 989.4e12, "float16": 989.4e12},  # SXM
    "NVIDIA H100 PCIe": {"bfloat16": 756.0e12, "float16": 756.0e12},
    "NVIDIA H200": {"bfloat16": 989.4e12, "float16": 989.4e12},  # SXM
    "NVIDIA A100-SXM4-80GB": {"bfloat16": 312.0e12, "float16": 312.0e12},
    "NVIDIA A100-SXM4-40GB": {"bfloat16": 312.0e12, "float16": 312.0e12},
    "NVIDIA A100 80GB PCIe": {"bfloat16": 312.0e12, "float16": 312.0e12},
    "NVIDIA L4": {"bfloat16": 121.0e12, "float16": 121.0e12},
    "TPU v4": {"bfloat16": 275.0e12},
    "TPU v5 lite": {"bfloat16": 197.0e12},
    "TPU v5p": {"bfloat16": 459.0e12},
    "TPU v6 lite": {"bfloat16": 918.0e12},
}


def peak_flops(device_kind: str, dtype: str) -> float | None:
    """The device's dense peak for `dtype` compute, or None when the table does not know it."""
    return PEAK_FLOPS.get(device_kind, {}).get(str(dtype))


# ----------------------------------------------------------------------------- optimiser


def warmup_cosine(*, lr: float, steps: int | jax.Array, warmup_frac: float, min_lr_frac: float) -> optax.Schedule:
    """Linear warm-up from 0 over max(1, round(warmup_frac * steps)) steps, then cosine decay to
    lr * min_lr_frac at `steps`. `steps` may be a traced value, so one compiled trainer serves every
    run length."""
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


def optimizer_for(cfg: Any, steps: int | jax.Array) -> optax.GradientTransformation:
    """`make_optimizer` from a config with lr, warmup_frac, min_lr_frac, weight_decay and grad_clip."""
    return make_optimizer(lr=cfg.lr, steps=steps, warmup_frac=cfg.warmup_frac, min_lr_frac=cfg.min_lr_frac,
                          weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip)


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


# ----------------------------------------------------------------------------- the loop


def checked_steps(steps: int, max_steps: int | None) -> tuple[int, int]:
    """(steps, buffer length): the buffer defaults to `steps` and may not be shorter."""
    max_steps = int(steps) if max_steps is None else int(max_steps)
    if not 1 <= int(steps) <= max_steps:
        raise ValueError(f"steps must be in [1, max_steps = {max_steps}], got {steps}")
    return int(steps), max_steps


def step_capacity(stage: Any, full: Any) -> int:
    """The compiled trainer's step capacity: the full stage's steps (or this stage's, if longer), so the
    isolated, cross and full runs of one model share a single compilation (`steps` is traced)."""
    return max(int(stage.steps), int(full.steps))


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


def model_graphdef(model_fn: ModelFn) -> nnx.GraphDef:
    """The model's structure without allocating its parameters (split as Param, rest)."""
    return nnx.split(nnx.eval_shape(lambda: model_fn(nnx.Rngs(0))), nnx.Param, ...)[0]


def restore(model_fn: ModelFn, state: Mapping[str, Any]) -> nnx.Module:
    """Rebuild a trained model from `train(key, steps)["state"]` (one seed, not a vmapped batch)."""
    return nnx.merge(model_graphdef(model_fn), state["params"], state["rest"])


def parts(cfg: Any, model_fn: ModelFn, loss_fn: Callable[[nnx.Module, Any], jax.Array],
          steps: int | jax.Array) -> tuple[Callable, Callable]:
    """The pure pieces of a run of `steps` optimiser steps on `loss_fn(model, batch)`:
    `init(key) -> carry` and `step(carry, batch) -> (carry, loss)` (a guarded update)."""
    tx = optimizer_for(cfg, steps)
    graphdef = model_graphdef(model_fn)

    def init(key: jax.Array):
        _, params, rest = nnx.split(model_fn(nnx.Rngs(key)), nnx.Param, ...)
        return params, rest, tx.init(params), jnp.zeros((), bool)

    def objective(params, rest, batch):
        return loss_fn(nnx.merge(graphdef, params, rest), batch)

    def step(carry, batch):
        params, rest, opt_state, diverged = carry
        loss, grads = jax.value_and_grad(objective)(params, rest, batch)
        params, opt_state, diverged = guarded_update(tx, params, opt_state, grads, loss, diverged)
        return (params, rest, opt_state, diverged), loss

    return init, step


def fit(cfg: Any, model_fn: ModelFn, loss_fn: Callable[[nnx.Module, Any], jax.Array],
        sample: Callable[[jax.Array], Any], init_key: jax.Array, step_key: jax.Array, steps: jax.Array,
        max_steps: int) -> dict:
    """Initialise the model from `init_key`, then `steps` guarded optimiser steps on `loss_fn(model,
    sample(fold_in(step_key, i)))`. Traceable: call it inside the proxy's jitted program.
    Returns {"params", "rest", "losses" (max_steps,) NaN after steps, "diverged"}."""
    init, step = parts(cfg, model_fn, loss_fn, steps)
    carry, losses = run_steps(lambda c, k: step(c, sample(k)), init(init_key), step_key, steps, max_steps)
    params, rest, _, diverged = carry
    return {"params": params, "rest": rest, "losses": losses, "diverged": diverged}


# ----------------------------------------------------------------------------- measurement


def lower(train: Callable, *args) -> jax.stages.Lowered:
    """Lower a jitted `train` (or a `functools.partial` of one binding its data) for `args`."""
    if isinstance(train, functools.partial):
        return train.func.lower(*train.args, *args, **train.keywords)
    return train.lower(*args)


def quick_compile_options() -> dict[str, Any] | None:
    """XLA options for a program that runs once, briefly, after compiling (the arch dynamic check): on a CPU,
    LLVM at optimisation level 0 (the reference Transformer's check: 3.8 -> 2.0 CPU s). Not for trainers:
    the MQAR probe compiled faster but trained slower (GLA's cascade cost 85 -> 95 CPU s), and the LM trainer
    did not gain (docs/BENCHMARKS.md, "Campaign throughput"). None elsewhere (GPUs, TPUs)."""
    return {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


def timed_run(train: Callable, *args, compiler_options: Mapping[str, Any] | None = None) -> tuple[Any, float, float]:
    """(output, compile seconds, run seconds): compile ahead of time (with `compiler_options`, XLA debug
    options such as `quick_compile_options()`), then run to completion.
    Compile seconds are small when the program came from the persistent compilation cache."""
    t0 = time.perf_counter()
    compiled = lower(train, *args).compile(compiler_options=dict(compiler_options) if compiler_options else None)
    compile_seconds = time.perf_counter() - t0
    if isinstance(train, functools.partial):
        args = (*train.args, *args)
        kwargs = train.keywords
    else:
        kwargs = {}
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args, **kwargs))
    return out, compile_seconds, time.perf_counter() - t0


def program_flops(program: Any) -> float:
    """XLA's FLOP count of a lowered (or compiled) program; the lowered HLO is enough, so counting
    costs no second compilation. Custom calls (cuDNN attention) are not counted."""
    analysis = program.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else {}
    return float((analysis or {}).get("flops", float("nan")))
