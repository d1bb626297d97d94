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

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from proxies import trainer
from proxies.blocks import ShortConv
from proxies.trainer import checked_steps, model_graphdef

F32 = jnp.float32
FILLER = 0


@dataclass(frozen=True)
class RecallConfig:
    vocab_size: int = 256  # keys from [1, vocab/2), values from [vocab/2, vocab); 0 is the filler
    seq_len: int = 64  # tokens per sequence: 2 * num_pairs of pairs, the rest is the query region
    num_pairs: int = 4  # key-value pairs to memorise (and queries to answer) per sequence
    batch_size: int = 32  # sequences per optimiser step
    steps: int = 1500  # optimiser steps (the arch domain scales this down by its budget)
    lr: float = 3e-3  # peak AdamW learning rate
    warmup_frac: float = 0.05  # linear warm-up fraction
    min_lr_frac: float = 0.1  # cosine decays to lr * min_lr_frac
    weight_decay: float = 0.1  # decoupled weight decay on matrices and embeddings
    grad_clip: float = 1.0  # global gradient-norm clip
    eval_batches: int = 4  # fresh held-out batches for the final accuracy
    dtype: str = "float32"  # compute dtype model builders should use
    input_conv: int = 2  # probe_model: kernel of the causal convolution on the embeddings (2 = token shift, 0 = none)

    @classmethod
    def tiny(cls) -> "RecallConfig":
        """2 CPU cores; the arch domain narrows it (vocab 64, seq 32, 100 steps) for its tiny scale."""
        return cls()

    @classmethod
    def small(cls) -> "RecallConfig":
        """One GPU, Zoology-like difficulty: 256 pairs, more than the 128 linearly independent keys a
        128-wide linear-attention head (d 512, 4 heads) can store apart, so a bounded state must forget
        while attention need not. 32 x 1024 tokens per step (256 queries per sequence)."""
        return cls(vocab_size=8192, seq_len=1024, num_pairs=256, batch_size=32, steps=3000, lr=1e-3,
                   dtype="bfloat16")

    def replace(self, **changes: Any) -> "RecallConfig":
        return dataclasses.replace(self, **changes)

    def __post_init__(self):
        if self.num_pairs > (self.vocab_size // 2) - 1:
            raise ValueError("num_pairs exceeds the number of distinct keys (vocab_size // 2 - 1)")
        if 3 * self.num_pairs > self.seq_len:
            raise ValueError("seq_len must hold the pairs and a query region of at least num_pairs tokens")
        if self.input_conv < 0:
            raise ValueError(f"input_conv must be >= 0, got {self.input_conv}")


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
