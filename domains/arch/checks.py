"""Validity checks: a cheap static one for the driver, a dynamic one run before training.

Dynamic check, on one tiny batch, in this order (the first failure is the reason):
builds -> finite logits -> finite gradients -> every parameter gets a non-zero
gradient -> causality (changing tokens at and after position t must not change any
output before t; two rows cut at different places, one inside the first chunk).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from domains.arch.describe import n_params
from domains.arch.genome import ArchGenome, Bounds, validate
from domains.base import CheckResult, GenomeError


def static_check(g: Any, bounds: Bounds, *, d_model: int, n_layers: int, vocab_size: int,
                 max_params: int) -> CheckResult:
    """Grammar, size bounds and the parameter budget — pure Python, no JAX."""
    try:
        validate(g, bounds)
    except GenomeError as exc:
        return CheckResult.failed(str(exc))
    p = n_params(g, d_model=d_model, n_layers=n_layers, vocab_size=vocab_size)
    if p > max_params:
        return CheckResult.failed(f"{p:,} parameters exceed the budget of {max_params:,}")
    return CheckResult.passed()


def dynamic_check_model(make: Callable[[Any], Any], *, vocab_size: int, seq_len: int, batch: int = 2,
                        seed: int = 0, rtol: float = 1e-4) -> CheckResult:
    """Run the dynamic checks on a model factory `make(nnx.Rngs) -> LM` (tokens -> logits)."""
    import functools

    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from proxies.trainer import quick_compile_options

    try:  # abstract build: shape errors surface here without running any initialiser
        graphdef = nnx.split(nnx.eval_shape(lambda: make(nnx.Rngs(seed))), nnx.Param, ...)[0]
    except Exception as exc:  # noqa: BLE001 - any build error is the genome's fault
        return CheckResult.failed(f"does not build: {type(exc).__name__}: {exc}")

    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab_size, (batch, seq_len), dtype=np.int32)
    cuts = np.asarray([seq_len // 2 + 3, max(1, min(seq_len - 1, 5))][:batch] + [seq_len // 2] * max(0, batch - 2))
    other = rng.integers(0, vocab_size, (batch, seq_len), dtype=np.int32)
    future = np.arange(seq_len)[None, :] >= cuts[:, None]
    perturbed = np.where(future, (tokens + 1 + other % (vocab_size - 1)) % vocab_size, tokens).astype(np.int32)

    def loss_fn(p, rest, toks):  # one forward over [tokens; perturbed]; the loss uses the first half
        logits = nnx.merge(graphdef, p, rest)(toks)
        first = logits[:batch, :-1].astype(jnp.float32)
        return optax.softmax_cross_entropy_with_integer_labels(first, toks[:batch, 1:]).mean(), logits

    # init inside the program: one compilation, no eager initialisers; the program runs once, so it is
    # compiled for compiling fast (proxies.trainer.quick_compile_options)
    @functools.partial(jax.jit, compiler_options=quick_compile_options())
    def run(toks):
        _, p, rest = nnx.split(make(nnx.Rngs(seed)), nnx.Param, ...)
        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, rest, toks)
        return loss, logits[:batch], logits[batch:], grads

    try:
        loss, la, lb, grads = jax.device_get(run(jnp.asarray(np.concatenate([tokens, perturbed]))))
    except Exception as exc:  # noqa: BLE001 - shape errors etc. surface at trace time
        return CheckResult.failed(f"does not run: {type(exc).__name__}: {exc}")
    la, lb = np.asarray(la, np.float64), np.asarray(lb, np.float64)
    if not (np.all(np.isfinite(la)) and np.all(np.isfinite(lb))):
        return CheckResult.failed("non-finite outputs (NaN/inf logits) on a random batch")
    if not np.isfinite(loss):
        return CheckResult.failed("non-finite loss on a random batch")
    flat = jax.tree_util.tree_flatten_with_path(grads)[0]
    for path, g in flat:
        if not np.all(np.isfinite(g)):
            return CheckResult.failed(f"non-finite gradient for parameter {_path(path)}")
    for path, g in flat:
        if not np.any(g != 0):
            return CheckResult.failed(f"parameter {_path(path)} receives no gradient")
    scale = 1.0 + float(np.max(np.abs(la)))
    for row, cut in enumerate(cuts):
        diff = float(np.max(np.abs(la[row, :cut] - lb[row, :cut])))
        if diff > rtol * scale:
            first = int(np.argmax(np.max(np.abs(la[row, :cut] - lb[row, :cut]), axis=-1) > rtol * scale))
            return CheckResult.failed(
                f"leaks the future: changing tokens from position {cut} on changes the output at position "
                f"{first} (max |diff| {diff:.3g})")
    return CheckResult.passed()


def _path(path: tuple) -> str:
    parts = []
    for k in path:
        key = getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))
        if key != "value":
            parts.append(str(key))
    return ".".join(parts)
