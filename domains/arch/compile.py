"""Genome -> Flax NNX modules (`proxies.blocks`).

`BUILDERS` maps each genome node class to a function that builds its module; it is
a plain dict so a test can swap in a deliberately broken mixer and watch the
dynamic check catch it. Expressions become jnp callables via `expr.compile_*`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flax import nnx

from domains.arch import expr as ex
from domains.arch.genome import (
    MLP, GLU, ArchGenome, Attention, DeltaRule, GatedLinearAttention, LinearAttention, Mixer, Parallel,
    ShortConv,
)
from proxies import blocks


@dataclass(frozen=True)
class Width:
    """How wide and deep a genome is built, and how it computes."""

    d_model: int
    n_layers: int  # repeats of the genome's block
    dtype: str = "float32"
    chunk: int = 64  # chunk length of the linear-recurrent cores


def fit_heads(heads: int, d_model: int) -> int:
    """The largest head count <= `heads` that divides d_model (a partner may pick any width)."""
    return max(h for h in range(1, heads + 1) if d_model % h == 0)


def _attn(m: Attention, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return blocks.CausalSelfAttention(w.d_model, fit_heads(m.heads, w.d_model), window=m.window, rope=m.rope,
                                      dtype=w.dtype, rngs=rngs)


def _linattn(m: LinearAttention, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return blocks.LinearAttention(w.d_model, fit_heads(m.heads, w.d_model), feature_map=ex.compile_expr(m.feature_map),
                                  chunk=w.chunk, dtype=w.dtype, rngs=rngs)


def _gla(m: GatedLinearAttention, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return blocks.GatedLinearAttention(w.d_model, fit_heads(m.heads, w.d_model),
                                       feature_map=ex.compile_expr(m.feature_map), decay=ex.compile_decay(m.decay),
                                       chunk=w.chunk, dtype=w.dtype, rngs=rngs)


def _delta(m: DeltaRule, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return blocks.DeltaNet(w.d_model, fit_heads(m.heads, w.d_model), feature_map=ex.compile_expr(m.feature_map),
                           decay=None if m.decay is None else ex.compile_decay(m.decay), chunk=w.chunk,
                           dtype=w.dtype, rngs=rngs)


def _conv(m: ShortConv, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return blocks.ShortConv(w.d_model, kernel_size=m.kernel, dtype=w.dtype, rngs=rngs)


def _par(m: Parallel, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return blocks.Parallel([build_mixer(b, w, rngs) for b in m.branches], w.d_model, rngs=rngs)


def _mlp(m: MLP, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return blocks.MLP(w.d_model, expansion=m.expansion, activation=ex.compile_expr(m.activation), dtype=w.dtype,
                      rngs=rngs)


def _glu(m: GLU, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return blocks.GLU(w.d_model, expansion=m.expansion, activation=ex.compile_expr(m.activation), dtype=w.dtype,
                      rngs=rngs)


BUILDERS: dict[type, Callable[[Mixer, Width, nnx.Rngs], nnx.Module]] = {
    Attention: _attn, LinearAttention: _linattn, GatedLinearAttention: _gla, DeltaRule: _delta,
    ShortConv: _conv, Parallel: _par, MLP: _mlp, GLU: _glu,
}


def build_mixer(m: Mixer, w: Width, rngs: nnx.Rngs) -> nnx.Module:
    return BUILDERS[type(m)](m, w, rngs)


def build_stack(g: ArchGenome, w: Width, rngs: nnx.Rngs) -> blocks.SequenceStack:
    """The block repeated `w.n_layers` times, as residual sublayers, plus the final norm."""
    layers = [
        blocks.Residual(w.d_model, build_mixer(s.mixer, w, rngs), norm=s.norm,
                        gate=None if s.gate is None else ex.compile_expr(s.gate), dtype=w.dtype, rngs=rngs)
        for _ in range(w.n_layers) for s in g.layers
    ]
    return blocks.SequenceStack(layers, w.d_model, rngs=rngs)


def model_fn(g: ArchGenome, w: Width, *, vocab_size: int, max_len: int) -> Callable[[nnx.Rngs], nnx.Module]:
    """A causal LM factory: tokens (B, T) int32 -> logits (B, T, vocab_size)."""

    def make(rngs: nnx.Rngs) -> nnx.Module:
        return blocks.LanguageModel(vocab_size, w.d_model, max_len, build_stack(g, w, rngs), tied=g.tied,
                                    dtype=w.dtype, rngs=rngs)

    return make


def stack_fn(g: ArchGenome, w: Width) -> Callable[[nnx.Rngs], nnx.Module]:
    """A causal sequence block factory: (B, T, d_model) -> (B, T, d_model)."""
    return lambda rngs: build_stack(g, w, rngs)
