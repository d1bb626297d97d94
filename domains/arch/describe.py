"""What a genome *is*, in numbers: exact parameter counts, the novelty descriptor, named features.

All pure Python (no JAX): the driver calls these for every candidate. `n_params`
mirrors `proxies.blocks` exactly (a test compares it with `blocks.count_params`).
"""
from __future__ import annotations

import math

import numpy as np

from domains.arch import expr as ex
from domains.arch.genome import (
    MLP, GLU, ArchGenome, Attention, DeltaRule, GatedLinearAttention, LinearAttention, Mixer, Parallel,
    ShortConv, all_exprs, is_channel_mixer, is_token_mixer, leaf_mixers,
)

GATE_RANK = 16  # blocks.GatedLinearAttention's default low-rank decay projection


def _heads(h: int, d: int) -> int:
    return max(k for k in range(1, h + 1) if d % k == 0)


def _hidden(d: int, expansion: float) -> int:
    return max(1, int(round(expansion * d)))


def mixer_params(m: Mixer, d: int) -> int:
    if isinstance(m, (Attention, LinearAttention)):
        return 4 * d * d
    if isinstance(m, GatedLinearAttention):
        return 4 * d * d + 2 * GATE_RANK * d + d + d // _heads(m.heads, d)
    if isinstance(m, DeltaRule):
        h = _heads(m.heads, d)
        return 4 * d * d + (d * h + h) * (1 if m.decay is None else 2) + d // h
    if isinstance(m, ShortConv):
        return m.kernel * d + d
    if isinstance(m, Parallel):
        return sum(mixer_params(b, d) for b in m.branches) + len(m.branches)
    if isinstance(m, MLP):
        return 2 * d * _hidden(d, m.expansion)
    if isinstance(m, GLU):
        return 3 * d * _hidden(d, m.expansion)
    raise TypeError(f"not a mixer: {m!r}")


def block_params(g: ArchGenome, d: int) -> int:
    """Parameters of one block (all sublayers, norms and gates)."""
    return sum(mixer_params(s.mixer, d) + (d if s.norm == "rms" else 2 * d) + (0 if s.gate is None else d * d)
               for s in g.layers)


def n_params(g: ArchGenome, *, d_model: int, n_layers: int, vocab_size: int) -> int:
    """Exact trainable parameters of `compile.model_fn(g, ...)` (embeddings included)."""
    head = 0 if g.tied else d_model * vocab_size
    return vocab_size * d_model + head + n_layers * block_params(g, d_model) + d_model


# --- descriptor --------------------------------------------------------------------------------
MIXER_KINDS = ("attn_full", "attn_window", "linattn", "gla", "delta", "gated_delta", "conv", "par", "mlp", "glu")
EXPR_KEYS = tuple(ex.UNARY_OPS) + tuple(ex.BINARY_OPS) + ("x", "const")
DESCRIPTOR_NAMES: tuple[str, ...] = (
    tuple(f"n_{k}" for k in MIXER_KINDS)
    + tuple(f"op_{k}" for k in EXPR_KEYS)
    + ("n_sublayers", "n_token_mixers", "n_channel_mixers", "n_gates", "n_layernorm", "tied", "n_rope",
       "mean_log2_heads", "mean_log2_window", "mean_kernel", "mean_expansion", "max_expr_depth",
       "total_expr_size", "log10_block_params_d64")
)


def mixer_kind(m: Mixer) -> str:
    if isinstance(m, Attention):
        return "attn_full" if m.window is None else "attn_window"
    if isinstance(m, DeltaRule):
        return "delta" if m.decay is None else "gated_delta"
    return {LinearAttention: "linattn", GatedLinearAttention: "gla", ShortConv: "conv", Parallel: "par",
            MLP: "mlp", GLU: "glu"}[type(m)]


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else 0.0


def descriptor(g: ArchGenome) -> np.ndarray:
    """Fixed-length structural vector (see DESCRIPTOR_NAMES), for kNN novelty."""
    f = _raw_features(g)
    return np.asarray([f[name] for name in DESCRIPTOR_NAMES], dtype=np.float64)


def _raw_features(g: ArchGenome) -> dict[str, float]:
    leaves = leaf_mixers(g)
    kinds = [mixer_kind(m) for m in leaves] + ["par" for s in g.layers if isinstance(s.mixer, Parallel)]
    out: dict[str, float] = {f"n_{k}": float(kinds.count(k)) for k in MIXER_KINDS}
    hist: dict[str, int] = {}
    exprs = [e for _, e in all_exprs(g)]
    for e in exprs:
        for k, v in ex.op_histogram(e).items():
            hist[k] = hist.get(k, 0) + v
    out.update({f"op_{k}": float(hist.get(k, 0)) for k in EXPR_KEYS})
    heads = [m.heads for m in leaves if hasattr(m, "heads")]
    windows = [m.window for m in leaves if isinstance(m, Attention) and m.window is not None]
    out.update({
        "n_sublayers": float(len(g.layers)),
        "n_token_mixers": float(sum(is_token_mixer(s.mixer) for s in g.layers)),
        "n_channel_mixers": float(sum(is_channel_mixer(s.mixer) for s in g.layers)),
        "n_gates": float(sum(s.gate is not None for s in g.layers)),
        "n_layernorm": float(sum(s.norm == "layer" for s in g.layers)),
        "tied": float(g.tied),
        "n_rope": float(sum(isinstance(m, Attention) and m.rope for m in leaves)),
        "mean_log2_heads": _mean([math.log2(h) for h in heads]),
        "mean_log2_window": _mean([math.log2(w) for w in windows]),
        "mean_kernel": _mean([m.kernel for m in leaves if isinstance(m, ShortConv)]),
        "mean_expansion": _mean([m.expansion for m in leaves if isinstance(m, (MLP, GLU))]),
        "max_expr_depth": float(max((ex.depth(e) for e in exprs), default=0)),
        "total_expr_size": float(sum(ex.size(e) for e in exprs)),
        "log10_block_params_d64": math.log10(block_params(g, 64)),
    })
    return out


# --- named features (hypotheses are predicates over these) ---------------------------------------
def features(g: ArchGenome) -> dict[str, float]:
    f = _raw_features(g)
    leaves = leaf_mixers(g)
    has = lambda *cls: float(any(isinstance(m, cls) for m in leaves))  # noqa: E731
    fmaps = [m.feature_map for m in leaves if hasattr(m, "feature_map")]
    named = {
        "has_softmax_attention": has(Attention),
        "has_full_attention": float(f["n_attn_full"] > 0),
        "has_sliding_window": float(f["n_attn_window"] > 0),
        "has_linear_attention": has(LinearAttention),
        "has_gated_linear_attention": has(GatedLinearAttention),
        "uses_delta_rule": has(DeltaRule),
        "has_data_dependent_decay": float(f["n_gla"] + f["n_gated_delta"] > 0),
        "has_short_conv": has(ShortConv),
        "has_parallel": float(f["n_par"] > 0),
        "has_output_gate": float(f["n_gates"] > 0),
        "uses_glu": float(f["n_glu"] > 0),
        "uses_layernorm": float(f["n_layernorm"] > 0),
        "uses_rope": float(f["n_rope"] > 0),
        "tied_embeddings": f["tied"],
        "positive_feature_map": float(bool(fmaps) and all(_positive(e) for e in fmaps)),
        "n_sublayers": f["n_sublayers"],
        "n_token_mixers": f["n_token_mixers"],
        "n_channel_mixers": f["n_channel_mixers"],
        "mean_expansion": f["mean_expansion"],
        "mean_heads": _mean([float(m.heads) for m in leaves if hasattr(m, "heads")]),
        "max_expr_depth": f["max_expr_depth"],
        "total_expr_size": f["total_expr_size"],
        "block_params_d64": float(block_params(g, 64)),
    }
    return named


_POSITIVE_OPS = {"elu1", "exp", "sigmoid", "softplus", "square", "abs", "relu", "relu2"}


def _positive(e: ex.Expr) -> bool:
    """A cheap syntactic test: the root op always returns values >= 0."""
    return len(e.args) == 1 and e.op in _POSITIVE_OPS
