"""The language model the data domain trains when no architecture partner supplies one.

Two choices, picked per scale in conf/domain/data.yaml (`model.kind`):

- ``gpt``:    `proxies.lm.GPT`, the plain nanoGPT reference (the default on GPUs);
- ``hybrid``: each layer is short causal convolution -> MLP -> causal attention (RoPE) -> MLP, built from
              `proxies.blocks` (the default on CPU). At the tiny budget (a few hundred steps) a plain GPT
              is still escaping its unigram plateau: when it escapes varies with the seed by about
              ±0.1 nats, which hides data effects of a few hundredths. The convolution learns local n-gram
              statistics at once, so the hybrid trains to ~2.2 nats with a seed spread near ±0.015.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flax import nnx

from proxies import blocks as B
from proxies.lm import GPT

ModelFn = Callable[[nnx.Rngs], nnx.Module]


def hybrid_lm(vocab_size: int, d_model: int, n_layers: int, n_heads: int, max_len: int, *, kernel_size: int = 4,
              dtype: str = "float32", rngs: nnx.Rngs) -> B.LanguageModel:
    layers = []
    for _ in range(n_layers):
        layers += [B.Residual(d_model, B.ShortConv(d_model, kernel_size=kernel_size, dtype=dtype, rngs=rngs),
                              dtype=dtype, rngs=rngs),
                   B.Residual(d_model, B.MLP(d_model, dtype=dtype, rngs=rngs), dtype=dtype, rngs=rngs),
                   B.Residual(d_model, B.CausalSelfAttention(d_model, n_heads, dtype=dtype, rngs=rngs),
                              dtype=dtype, rngs=rngs),
                   B.Residual(d_model, B.MLP(d_model, dtype=dtype, rngs=rngs), dtype=dtype, rngs=rngs)]
    return B.LanguageModel(vocab_size, d_model, max_len, B.SequenceStack(layers, d_model, rngs=rngs),
                           dtype=dtype, rngs=rngs)


def default_model_fn(spec: Mapping[str, Any], vocab_size: int, max_len: int, dtype: str) -> ModelFn:
    """`spec`: {kind: gpt|hybrid, d_model, n_layers, n_heads[, kernel_size]}."""
    spec = dict(spec)
    kind = spec.pop("kind", "gpt")
    if kind == "gpt":
        return lambda rngs: GPT(vocab_size, max_len=max_len, dtype=dtype, rngs=rngs, **spec)
    if kind == "hybrid":
        return lambda rngs: hybrid_lm(vocab_size, max_len=max_len, dtype=dtype, rngs=rngs, **spec)
    raise ValueError(f"unknown data-domain model kind {kind!r} (gpt, hybrid)")
