"""Multi-query associative recall (MQAR, Zoology): can a sequence mixer look things up in context?

A sequence starts with `num_pairs` key-value pairs `k1 v1 k2 v2 ...`, followed by a query region
of filler tokens in which every key appears once more, in random order at random places. At a
query position the model must predict that key's value. Keys come from the lower half of the
vocabulary (token 0 is the filler), values from the upper half. Loss and accuracy count only
query positions. Data are generated inside the jitted loop.

The probe owns what it wraps around a genome's mixer stack (`probe_model`): the token embedding,
a learned causal convolution over the last `input_conv` embeddings (2 = a token shift), and the
tied readout. With the shift every value position also carries its key, so recall is a one-hop
lookup (query key -> the position whose predecessor matches -> its value) that softmax attention
does exactly and a bounded state only approximately. Without it, binding a key to the value
that follows needs a two-layer induction circuit (a previous-token head, then a matching head);
at the tiny budget that circuit never formed, and every global mixer stopped at the "which values
are in context" plateau (accuracy ~1/num_pairs, attention level with linear attention).
Zoology puts a short convolution before every mixer for the same reason. Measurements:
docs/proxies.md ("Why attention did not learn MQAR").
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from proxies import trainer
from proxies.configs import RecallConfig  # noqa: F401  (re-exported)
from proxies.blocks import ShortConv
from proxies.trainer import checked_steps, model_graphdef

F32 = jnp.float32
FILLER = 0


class RecallModel(nnx.Module):
    """Embedding -> x + causal conv(x) over the last `input_conv` tokens -> `stack` -> tied readout
    (B, T, vocab) float32. `stack` is any causal (B, T, D) -> (B, T, D) module."""

    def __init__(self, vocab_size: int, d_model: int, stack: nnx.Module, *, input_conv: int, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab_size, d_model, dtype=F32, param_dtype=F32, rngs=rngs)
        self.conv = ShortConv(d_model, kernel_size=input_conv, rngs=rngs) if input_conv else None
        self.stack = stack

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = self.embed(tokens)
        if self.conv is not None:
            x = x + self.conv(x).astype(F32)
        return self.embed.attend(self.stack(x).astype(F32))


def probe_model(cfg: RecallConfig, stack_fn: Callable[[nnx.Rngs], nnx.Module],
                d_model: int) -> Callable[[nnx.Rngs], nnx.Module]:
    """The model factory the probe trains around a mixer stack of width `d_model`."""
    return lambda rngs: RecallModel(cfg.vocab_size, d_model, stack_fn(rngs), input_conv=cfg.input_conv, rngs=rngs)


@functools.partial(jax.jit, static_argnames="cfg")
def make_batch(key: jax.Array, cfg: RecallConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(inputs, targets, mask), each (batch_size, seq_len); targets are valid where mask."""
    return jax.vmap(lambda k: _sequence(k, cfg))(jax.random.split(key, cfg.batch_size))


def _sequence(key: jax.Array, cfg: RecallConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    n, T, half = cfg.num_pairs, cfg.seq_len, cfg.vocab_size // 2
    k_keys, k_vals, k_order, k_pos = jax.random.split(key, 4)
    keys = 1 + jax.random.choice(k_keys, half - 1, (n,), replace=False)  # distinct, in [1, half)
    values = half + jax.random.randint(k_vals, (n,), 0, cfg.vocab_size - half)
    pairs = jnp.stack([keys, values], axis=1).reshape(2 * n)
    order = jax.random.permutation(k_order, n)  # which key is asked at each query slot
    slots = jnp.sort(jax.random.choice(k_pos, T - 2 * n, (n,), replace=False)) + 2 * n
    inputs = jnp.full((T,), FILLER, jnp.int32).at[: 2 * n].set(pairs).at[slots].set(keys[order])
    targets = jnp.zeros((T,), jnp.int32).at[slots].set(values[order])
    mask = jnp.zeros((T,), bool).at[slots].set(True)
    return inputs, targets, mask


def _loss_and_accuracy(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(F32), targets)
    m = mask.astype(F32)
    hits = (logits.argmax(-1) == targets).astype(F32)
    return (ce * m).sum() / m.sum(), (hits * m).sum() / m.sum()


def make_train(cfg: RecallConfig, model_fn: Callable[[nnx.Rngs], nnx.Module], *,
               max_steps: int | None = None) -> Callable[[jax.Array, jax.Array], dict]:
    """Return the jitted `train(key, steps) -> {"state": {"params", "rest"}, "metrics": {"loss":
    (max_steps,), NaN after `steps`, "accuracy": query accuracy on fresh held-out batches, "diverged"}}`.

    `steps` is a runtime argument (any value in [1, max_steps], max_steps defaulting to cfg.steps),
    so every stage of a cascade shares one compilation."""
    _, max_steps = checked_steps(cfg.steps, max_steps)
    graphdef = model_graphdef(model_fn)

    def loss(model: nnx.Module, batch) -> jax.Array:
        inputs, targets, mask = batch
        return _loss_and_accuracy(model(inputs), targets, mask)[0]

    @jax.jit
    def train(key: jax.Array, steps: jax.Array) -> dict:
        k_init, k_steps, k_eval = jax.random.split(key, 3)
        fitted = trainer.fit(cfg, model_fn, loss, lambda k: make_batch(k, cfg), k_init, k_steps, steps, max_steps)
        model = nnx.merge(graphdef, fitted["params"], fitted["rest"])

        def accuracy(k):
            inputs, targets, mask = make_batch(k, cfg)
            return _loss_and_accuracy(model(inputs), targets, mask)[1]

        acc = jax.lax.map(accuracy, jax.random.split(k_eval, cfg.eval_batches)).mean()
        return {"state": {"params": fitted["params"], "rest": fitted["rest"]},
                "metrics": {"loss": fitted["losses"], "accuracy": acc, "diverged": fitted["diverged"]}}

    return train
