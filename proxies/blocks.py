"""Flax NNX building blocks that architecture genomes compile into.

Every token mixer maps `x: (B, T, D) -> (B, T, D)`, is causal, computes in `dtype`
(parameters stay float32) and owns its output projection. The linear-recurrent mixers
(`LinearAttention`, `GatedLinearAttention`, `DeltaNet`) run a chunked form: exact
masked matmuls inside a chunk of `chunk` tokens plus a state carried across chunks by
`lax.scan`, which is several times faster than a token-by-token scan for wide heads and
much lighter than the cumulative-sum form (`DeltaNet` goes token by token on CPU when its
heads are narrow, where that is faster). Their recurrent core runs in float32 for stability.

Expression callables (`feature_map`, `decay`, `activation`, `gate`) are elementwise
jnp functions supplied by the caller (the arch domain compiles them from its
expression grammar); they must be traceable and branch-free.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

Expr = Callable[[jax.Array], jax.Array]
DType = jnp.dtype | str | type

F32 = jnp.float32
MIN_LOG_DECAY = -20.0  # per-step floor on log decay: a >= 2e-9 keeps logs and exps finite


# ----------------------------------------------------------------------------- helpers


def _linear(d_in: int, d_out: int, *, dtype: DType, rngs: nnx.Rngs, bias: bool = False) -> nnx.Linear:
    return nnx.Linear(d_in, d_out, use_bias=bias, dtype=jnp.dtype(dtype), param_dtype=F32, rngs=rngs)


def _split_heads(x: jax.Array, n_heads: int) -> jax.Array:
    """(B, T, H*d) -> (B, H, T, d): the layout the recurrent cores use."""
    B, T, D = x.shape
    return x.reshape(B, T, n_heads, D // n_heads).transpose(0, 2, 1, 3)


def _merge_heads(x: jax.Array) -> jax.Array:
    """(B, H, T, d) -> (B, T, H*d)."""
    B, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * d)


def _to_chunks(x: jax.Array, chunk: int) -> jax.Array:
    """(B, H, T, ...) -> (B, H, N, C, ...), zero-padding T at the end.

    Zero padding is harmless for causality: padded positions come after every real one
    and the callers pad keys/values/betas with zeros and log decays with 0.
    """
    T = x.shape[2]
    n = -(-T // chunk)
    pad = [(0, 0)] * x.ndim
    pad[2] = (0, n * chunk - T)
    x = jnp.pad(x, pad)
    return x.reshape(x.shape[:2] + (n, chunk) + x.shape[3:])


def _from_chunks(x: jax.Array, T: int) -> jax.Array:
    """(B, H, N, C, ...) -> (B, H, T, ...)."""
    return x.reshape(x.shape[:2] + (-1,) + x.shape[4:])[:, :, :T]


def _l2norm(x: jax.Array, eps: float = 1e-6) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


def _rms_heads(x: jax.Array, scale: jax.Array, eps: float = 1e-6) -> jax.Array:
    """RMS-normalise each head's output (B, H, T, d); GLA/DeltaNet do this so that outputs
    do not grow with the length of the remembered context."""
    x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)
    return x * scale


def _log_decay(a: jax.Array) -> jax.Array:
    """log of a decay in (0, 1], clipped to [MIN_LOG_DECAY, 0] (float32)."""
    a = jnp.clip(a.astype(F32), jnp.exp(MIN_LOG_DECAY), 1.0)
    return jnp.maximum(jnp.log(a), MIN_LOG_DECAY)


def apply_rope(x: jax.Array, base: float = 10000.0) -> jax.Array:
    """Rotary position embedding on (B, T, H, d); an odd last channel passes through."""
    T, d = x.shape[1], x.shape[-1]
    half = d // 2
    freqs = base ** (-jnp.arange(half, dtype=F32) / max(half, 1))
    ang = jnp.arange(T, dtype=F32)[:, None] * freqs[None, :]  # (T, half)
    cos, sin = jnp.cos(ang)[None, :, None, :], jnp.sin(ang)[None, :, None, :]
    x1, x2 = x[..., :half].astype(F32), x[..., half : 2 * half].astype(F32)
    rot = jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).astype(x.dtype)
    return jnp.concatenate([rot, x[..., 2 * half :]], axis=-1)


# ----------------------------------------------------------------------------- chunked cores


def _exclusive_scan(x: jax.Array) -> jax.Array:
    """Exclusive prefix sum over axis 2 (the chunk axis) carried by lax.scan."""
    xs = jnp.moveaxis(x, 2, 0)

    def step(s, xi):
        return s + xi, s

    _, prefix = jax.lax.scan(step, jnp.zeros_like(xs[0]), xs)
    return jnp.moveaxis(prefix, 0, 2)


def linear_attention(q: jax.Array, k: jax.Array, v: jax.Array, *, chunk: int, normalize: bool,
                     eps: float = 1e-6) -> jax.Array:
    """Causal linear attention o_t = sum_{s<=t} (q_t.k_s) v_s [/ sum_{s<=t} q_t.k_s].

    q, k: (B, H, T, dk); v: (B, H, T, dv); float32. The denominator is |den| + eps so that a
    signed feature map cannot flip signs or divide by ~0 from below.
    """
    T = q.shape[2]
    C = min(chunk, T)
    qc, kc, vc = (_to_chunks(a, C) for a in (q, k, v))  # (B, H, N, C, d)
    mask = jnp.tril(jnp.ones((C, C), bool))
    scores = jnp.where(mask, jnp.einsum("bhntd,bhnsd->bhnts", qc, kc), 0.0)  # (B, H, N, C, C)
    states = _exclusive_scan(jnp.einsum("bhnsd,bhnse->bhnde", kc, vc))  # (B, H, N, dk, dv)
    num = scores @ vc + jnp.einsum("bhntd,bhnde->bhnte", qc, states)
    if normalize:
        ksum = _exclusive_scan(kc.sum(axis=3))  # (B, H, N, dk)
        den = scores.sum(-1) + jnp.einsum("bhntd,bhnd->bhnt", qc, ksum)
        num = num / (jnp.abs(den) + eps)[..., None]
    return _from_chunks(num, T)


def gated_linear_attention(q: jax.Array, k: jax.Array, v: jax.Array, log_a: jax.Array, *,
                           chunk: int) -> jax.Array:
    """GLA recurrence S_t = diag(a_t) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t (float32).

    q, k, log_a: (B, H, T, dk); v: (B, H, T, dv). Inside a chunk the pairwise decays
    exp(b_t - b_s), s <= t, are formed explicitly, so every exponent is <= 0 (no
    overflow whatever the decay); the chunk body is rematerialised to bound memory.
    """
    T = q.shape[2]
    C = min(chunk, T)
    xs = tuple(jnp.moveaxis(_to_chunks(a, C), 2, 0) for a in (q, k, v, log_a))  # (N, B, H, C, d)
    mask = jnp.tril(jnp.ones((C, C), bool))[:, :, None]  # (C_t, C_s, 1)

    @jax.checkpoint
    def step(S, inp):  # S: (B, H, dk, dv)
        qc, kc, vc, lc = inp
        b = jnp.cumsum(lc, axis=-2)  # (B, H, C, dk), decreasing
        diff = b[..., :, None, :] - b[..., None, :, :]  # (B, H, C_t, C_s, dk)
        w = jnp.where(mask, jnp.exp(jnp.where(mask, diff, 0.0)), 0.0)
        scores = jnp.einsum("bhtd,bhsd,bhtsd->bhts", qc, kc, w)
        o = scores @ vc + (qc * jnp.exp(b)) @ S
        last = b[..., -1:, :]  # (B, H, 1, dk)
        S = jnp.exp(last[..., 0, :])[..., None] * S + jnp.einsum("bhsd,bhse->bhde", kc * jnp.exp(last - b), vc)
        return S, o

    B, H, _, dk = q.shape
    S0 = jnp.zeros((B, H, dk, v.shape[-1]), F32)
    _, o = jax.lax.scan(step, S0, xs)
    return _from_chunks(jnp.moveaxis(o, 0, 2), T)


def _unit_lower_inverse(L: jax.Array) -> jax.Array:
    """Inverse of a small unit lower-triangular (..., c, c) matrix by blockwise doubling.

    X holds the inverses of L's diagonal blocks of size b; one step doubles b with
    [[A, 0], [C, D]]^-1 = [[A^-1, 0], [-D^-1 C A^-1, D^-1]], written on whole matrices as
    X <- X - X C X with C = L's entries inside the 2b-blocks but outside the b-blocks (any c,
    a last block may be short). ceil(log2 c) steps of two batched matmuls, no loop: blocked
    triangular inversion, as accurate as forward substitution when keys are nearly parallel
    (the Neumann product (I - N)(I + N^2)(I + N^4)... is not: it cancels huge terms). No
    `solve_triangular`: its LAPACK custom call deadlocks inside larger multi-threaded XLA CPU
    programs."""
    c = L.shape[-1]
    i = jnp.arange(c)

    def across(b: int) -> jax.Array:  # (c, c): same 2b-block, different b-blocks
        return (i[:, None] // (2 * b) == i[None, :] // (2 * b)) & (i[:, None] // b != i[None, :] // b)

    X = jnp.eye(c, dtype=L.dtype) - jnp.where(across(1), L, 0.0)  # b = 1: the diagonal blocks are 1
    b = 2
    while b < c:
        X = X - X @ jnp.where(across(b), L, 0.0) @ X
        b *= 2
    return X


RECURRENT_MAX_STATE = 64  # delta_rule's "auto": per-token recurrence on CPU up to this many state entries per head


def _delta_recurrence(q: jax.Array, k: jax.Array, v: jax.Array, beta: jax.Array, log_a: jax.Array) -> jax.Array:
    """The delta rule token by token (shapes as `delta_rule`): T steps of a (dk, dv) state per head."""

    def step(S, inp):  # S: (B, H, dk, dv)
        q_t, k_t, v_t, b_t, la_t = inp  # (B, H, dk), (B, H, dk), (B, H, dv), (B, H), (B, H)
        S = jnp.exp(la_t)[..., None, None] * S
        err = v_t - jnp.einsum("bhd,bhde->bhe", k_t, S)
        S = S + (b_t[..., None] * k_t)[..., :, None] * err[..., None, :]
        return S, jnp.einsum("bhd,bhde->bhe", q_t, S)

    B, H, _, dk = q.shape
    xs = tuple(jnp.moveaxis(a, 2, 0) for a in (q, k, v, beta, log_a))
    _, o = jax.lax.scan(step, jnp.zeros((B, H, dk, v.shape[-1]), F32), xs)
    return jnp.moveaxis(o, 0, 2)


def delta_rule(q: jax.Array, k: jax.Array, v: jax.Array, beta: jax.Array, log_a: jax.Array, *,
               chunk: int, form: str = "auto") -> jax.Array:
    """(Gated) delta rule S_t = a_t (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T, o_t = S_t^T q_t.

    q, k: (B, H, T, dk) (k L2-normalised); v: (B, H, T, dv); beta, log_a: (B, H, T); float32.
    form "chunked": the WY/UT form; per chunk, one unit-lower-triangular inverse turns the
    sequential rank-one updates into matmuls, and lax.scan carries the state across chunks (a
    sequence of one chunk starts and ends with no state, so it skips the state's terms and the
    scan). form "recurrent": token by token. "auto" takes the recurrence on CPU for small heads
    (dk * dv <= RECURRENT_MAX_STATE) and the chunked form otherwise: the chunked form's cost
    grows with the chunk's (C, C) matrices, the recurrence's with the (dk, dv) state, and on
    2 CPU cores a 2-8 wide head trains 1.5-7x faster token by token (docs/BENCHMARKS.md,
    "Delta-rule mixers on CPU"); accelerators keep the chunked form (few sequential steps).
    """
    if form not in ("auto", "chunked", "recurrent"):
        raise ValueError(f"delta_rule form must be auto, chunked or recurrent, not {form!r}")
    if form == "auto":
        small = q.shape[-1] * v.shape[-1] <= RECURRENT_MAX_STATE
        form = "recurrent" if small and jax.default_backend() == "cpu" else "chunked"
    if form == "recurrent":
        return _delta_recurrence(q, k, v, beta, log_a)
    T = q.shape[2]
    C = min(chunk, T)
    qc, kc, vc = (_to_chunks(a, C) for a in (q, k, v))  # (B, H, N, C, d)
    bc, lc = _to_chunks(beta, C), _to_chunks(log_a, C)  # (B, H, N, C)
    g = jnp.cumsum(lc, axis=-1)  # cumulative log decay within the chunk, <= 0
    tril = jnp.tril(jnp.ones((C, C), bool))
    strict = jnp.tril(jnp.ones((C, C), bool), -1)
    G = jnp.where(tril, jnp.exp(jnp.where(tril, g[..., :, None] - g[..., None, :], 0.0)), 0.0)
    kk = jnp.einsum("bhntd,bhnsd->bhnts", kc, kc)
    inv = _unit_lower_inverse(jnp.eye(C, dtype=F32) + jnp.where(strict, bc[..., :, None] * kk * G, 0.0))
    Aqk = jnp.einsum("bhntd,bhnsd->bhnts", qc, kc) * G
    if qc.shape[2] == 1:
        return _from_chunks(Aqk @ (inv @ (bc[..., None] * vc)), T)
    UW = inv @ jnp.concatenate([bc[..., None] * vc, bc[..., None] * kc * jnp.exp(g)[..., None]], axis=-1)
    U, W = UW[..., : vc.shape[-1]], UW[..., vc.shape[-1] :]  # (B, H, N, C, dv), (B, H, N, C, dk)
    qg = qc * jnp.exp(g)[..., None]
    kg = kc * jnp.exp(g[..., -1:] - g)[..., None]
    a_chunk = jnp.exp(g[..., -1])  # (B, H, N)

    def step(S, inp):  # S: (B, H, dk, dv)
        U_i, W_i, A_i, qg_i, kg_i, a_i = inp
        v_new = U_i - W_i @ S
        o = qg_i @ S + A_i @ v_new
        S = a_i[..., None, None] * S + jnp.einsum("bhsd,bhse->bhde", kg_i, v_new)
        return S, o

    xs = tuple(jnp.moveaxis(a, 2, 0) for a in (U, W, Aqk, qg, kg, a_chunk))
    B, H, _, dk = q.shape
    _, o = jax.lax.scan(step, jnp.zeros((B, H, dk, v.shape[-1]), F32), xs)
    return _from_chunks(jnp.moveaxis(o, 0, 2), T)


# ----------------------------------------------------------------------------- token mixers


def causal_attention(q: jax.Array, k: jax.Array, v: jax.Array, window: int | None) -> jax.Array:
    """Causal (sliding-window) softmax attention on (B, T, H, d); cuDNN when it applies."""
    lw = None if window is None else (window - 1, 0)
    if jax.default_backend() == "gpu" and q.dtype in (jnp.bfloat16, jnp.float16):
        try:
            return jax.nn.dot_product_attention(q, k, v, is_causal=True, local_window_size=lw,
                                                implementation="cudnn")
        except (NotImplementedError, ValueError, RuntimeError, TypeError):
            pass  # unsupported head size / cuDNN version: fall back to XLA
    return jax.nn.dot_product_attention(q, k, v, is_causal=True, local_window_size=lw)


class CausalSelfAttention(nnx.Module):
    """Multi-head causal softmax attention; `window` = tokens attended, self included.

    The one attention module of the proxies: genomes' `attn`, the reference GPT (`proxies.lm`, no
    RoPE, GPT-2 init through `kernel_init` / `out_init`) and the RL agent's default memory
    (`proxies.ppo_nets`, with biases) all use it."""

    def __init__(self, d_model: int, n_heads: int, *, window: int | None = None, rope: bool = True,
                 bias: bool = False, kernel_init: nnx.Initializer | None = None,
                 out_init: nnx.Initializer | None = None, dtype: DType = F32, rngs: nnx.Rngs):
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} not divisible by n_heads {n_heads}")
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.n_heads, self.window, self.rope = n_heads, window, rope
        self.dtype = jnp.dtype(dtype)

        def linear(d_out: int, init: nnx.Initializer | None) -> nnx.Linear:
            extra = {} if init is None else {"kernel_init": init}
            return nnx.Linear(d_model, d_out, use_bias=bias, dtype=self.dtype, param_dtype=F32, rngs=rngs, **extra)

        self.qkv = linear(3 * d_model, kernel_init)
        self.out = linear(d_model, out_init)

    def __call__(self, x: jax.Array) -> jax.Array:
        B, T, D = x.shape
        qkv = self.qkv(x.astype(self.dtype)).reshape(B, T, 3, self.n_heads, D // self.n_heads)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (B, T, H, d)
        if self.rope:
            q, k = apply_rope(q), apply_rope(k)
        y = causal_attention(q, k, v, self.window)
        return self.out(y.reshape(B, T, D))


class LinearAttention(nnx.Module):
    """Kernelised causal linear attention with feature map phi (Katharopoulos et al.)."""

    def __init__(self, d_model: int, n_heads: int, *, feature_map: Expr, normalize: bool = True,
                 chunk: int = 64, eps: float = 1e-6, dtype: DType = F32, rngs: nnx.Rngs):
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} not divisible by n_heads {n_heads}")
        self.n_heads, self.feature_map, self.normalize, self.chunk, self.eps = (
            n_heads, feature_map, normalize, chunk, eps)
        self.dtype = jnp.dtype(dtype)
        self.qkv = _linear(d_model, 3 * d_model, dtype=dtype, rngs=rngs)
        self.out = _linear(d_model, d_model, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        q, k, v = jnp.split(self.qkv(x.astype(self.dtype)), 3, axis=-1)
        q, k, v = (_split_heads(a, self.n_heads).astype(F32) for a in (q, k, v))
        q, k = self.feature_map(q), self.feature_map(k)
        o = linear_attention(q, k, v, chunk=self.chunk, normalize=self.normalize, eps=self.eps)
        return self.out(_merge_heads(o).astype(self.dtype))


class GatedLinearAttention(nnx.Module):
    """GLA: linear attention with a data-dependent per-key-dimension decay.

    decay(W_up W_down x + decay_bias) must lie in (0, 1); it is clipped to [2e-9, 1].
    `decay_bias` initialises the gate logits (e.g. 3.0 puts sigmoid near 0.95: long memory
    at initialisation, as GLA's logit normaliser does). Per-head RMS norm on the output.
    `chunk` only trades speed for memory (the pairwise decays cost T * chunk * d_k); 16 is
    fastest on CPU.
    """

    def __init__(self, d_model: int, n_heads: int, *, feature_map: Expr, decay: Expr, chunk: int = 16,
                 gate_rank: int = 16, decay_bias: float = 0.0, dtype: DType = F32, rngs: nnx.Rngs):
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} not divisible by n_heads {n_heads}")
        self.n_heads, self.feature_map, self.decay, self.chunk = n_heads, feature_map, decay, chunk
        self.dtype = jnp.dtype(dtype)
        self.qkv = _linear(d_model, 3 * d_model, dtype=dtype, rngs=rngs)
        self.gate_down = _linear(d_model, gate_rank, dtype=dtype, rngs=rngs)
        self.gate_up = nnx.Linear(gate_rank, d_model, use_bias=True, dtype=jnp.dtype(dtype), param_dtype=F32,
                                  bias_init=nnx.initializers.constant(decay_bias), rngs=rngs)
        self.head_scale = nnx.Param(jnp.ones((d_model // n_heads,), F32))
        self.out = _linear(d_model, d_model, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype)
        q, k, v = jnp.split(self.qkv(x), 3, axis=-1)
        q, k, v = (_split_heads(a, self.n_heads).astype(F32) for a in (q, k, v))
        q, k = self.feature_map(q), self.feature_map(k)
        logits = _split_heads(self.gate_up(self.gate_down(x)), self.n_heads).astype(F32)
        log_a = _log_decay(self.decay(logits))
        o = gated_linear_attention(q, k, v, log_a, chunk=self.chunk)
        o = _rms_heads(o, self.head_scale[...])
        return self.out(_merge_heads(o).astype(self.dtype))


class DeltaNet(nnx.Module):
    """DeltaNet (decay=None) or Gated DeltaNet (scalar decay per head and token).

    beta_t = sigmoid(W_b x_t) per head; q, k are L2-normalised after the feature map;
    a_t = decay(W_a x_t + decay_bias), clipped to [2e-9, 1]. Per-head RMS norm on the output.
    `chunk` only trades speed for memory; 16 is fastest on CPU, larger chunks suit GPUs (heads
    of dk * dv <= RECURRENT_MAX_STATE run token by token on CPU, see `delta_rule`).
    """

    def __init__(self, d_model: int, n_heads: int, *, feature_map: Expr, decay: Expr | None = None,
                 chunk: int = 16, decay_bias: float = 0.0, dtype: DType = F32, rngs: nnx.Rngs):
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} not divisible by n_heads {n_heads}")
        self.n_heads, self.feature_map, self.decay, self.chunk = n_heads, feature_map, decay, chunk
        self.dtype = jnp.dtype(dtype)
        self.qkv = _linear(d_model, 3 * d_model, dtype=dtype, rngs=rngs)
        self.beta = _linear(d_model, n_heads, dtype=dtype, rngs=rngs, bias=True)
        self.alpha = None if decay is None else nnx.Linear(
            d_model, n_heads, use_bias=True, dtype=jnp.dtype(dtype), param_dtype=F32,
            bias_init=nnx.initializers.constant(decay_bias), rngs=rngs)
        self.head_scale = nnx.Param(jnp.ones((d_model // n_heads,), F32))
        self.out = _linear(d_model, d_model, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype)
        q, k, v = jnp.split(self.qkv(x), 3, axis=-1)
        q, k, v = (_split_heads(a, self.n_heads).astype(F32) for a in (q, k, v))
        q, k = _l2norm(self.feature_map(q)), _l2norm(self.feature_map(k))
        beta = jax.nn.sigmoid(self.beta(x).astype(F32)).transpose(0, 2, 1)  # (B, H, T)
        if self.alpha is None:
            log_a = jnp.zeros_like(beta)
        else:
            log_a = _log_decay(self.decay(self.alpha(x).astype(F32))).transpose(0, 2, 1)
        o = delta_rule(q, k, v, beta, log_a, chunk=self.chunk)
        o = _rms_heads(o, self.head_scale[...])
        return self.out(_merge_heads(o).astype(self.dtype))


class ShortConv(nnx.Module):
    """Depthwise causal convolution over the last `kernel_size` tokens (no channel mixing)."""

    def __init__(self, d_model: int, *, kernel_size: int = 4, dtype: DType = F32, rngs: nnx.Rngs):
        self.kernel_size = kernel_size
        self.dtype = jnp.dtype(dtype)
        init = nnx.initializers.normal(kernel_size ** -0.5)
        self.kernel = nnx.Param(init(rngs.params(), (kernel_size, d_model), F32))  # [K-1] = current token
        self.bias = nnx.Param(jnp.zeros((d_model,), F32))

    def __call__(self, x: jax.Array) -> jax.Array:
        T, K = x.shape[1], self.kernel_size
        x = x.astype(self.dtype)
        w = self.kernel[...].astype(self.dtype)
        xp = jnp.pad(x, ((0, 0), (K - 1, 0), (0, 0)))
        y = sum(xp[:, i : i + T] * w[i] for i in range(K))
        return y + self.bias[...].astype(self.dtype)


class Parallel(nnx.Module):
    """Hybrid mixer: sum_i w_i * branch_i(x), with learned scalars w_i initialised to 1/n."""

    def __init__(self, branches: Sequence[nnx.Module], d_model: int, *, rngs: nnx.Rngs):
        if not branches:
            raise ValueError("Parallel needs at least one branch")
        self.branches = nnx.List(list(branches))
        self.weights = nnx.Param(jnp.full((len(branches),), 1.0 / len(branches), F32))

    def __call__(self, x: jax.Array) -> jax.Array:
        w = self.weights[...]
        ys = [branch(x) for branch in self.branches]
        return sum((w[i].astype(y.dtype) * y for i, y in enumerate(ys)))


# ----------------------------------------------------------------------------- channel mixers


def _hidden(d_model: int, expansion: float) -> int:
    return max(1, int(round(expansion * d_model)))


class MLP(nnx.Module):
    """Two-layer feed-forward: down(activation(up(x)))."""

    def __init__(self, d_model: int, *, expansion: float = 4.0, activation: Expr = jax.nn.gelu,
                 dtype: DType = F32, rngs: nnx.Rngs):
        h = _hidden(d_model, expansion)
        self.activation, self.dtype = activation, jnp.dtype(dtype)
        self.up = _linear(d_model, h, dtype=dtype, rngs=rngs)
        self.down = _linear(h, d_model, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down(self.activation(self.up(x.astype(self.dtype))))


class GLU(nnx.Module):
    """Gated linear unit: down(activation(gate(x)) * up(x)), e.g. SwiGLU with silu."""

    def __init__(self, d_model: int, *, expansion: float = 8 / 3, activation: Expr = jax.nn.silu,
                 dtype: DType = F32, rngs: nnx.Rngs):
        h = _hidden(d_model, expansion)
        self.activation, self.dtype = activation, jnp.dtype(dtype)
        self.gate_up = _linear(d_model, 2 * h, dtype=dtype, rngs=rngs)
        self.down = _linear(h, d_model, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        gate, up = jnp.split(self.gate_up(x.astype(self.dtype)), 2, axis=-1)
        return self.down(self.activation(gate) * up)


# ----------------------------------------------------------------------------- composition


def _norm(kind: str, d_model: int, dtype: DType, rngs: nnx.Rngs) -> nnx.Module:
    if kind == "rms":
        return nnx.RMSNorm(d_model, dtype=jnp.dtype(dtype), param_dtype=F32, rngs=rngs)
    if kind == "layer":
        return nnx.LayerNorm(d_model, dtype=jnp.dtype(dtype), param_dtype=F32, rngs=rngs)
    raise ValueError(f"unknown norm {kind!r} (use 'rms' or 'layer')")


class Residual(nnx.Module):
    """Pre-norm residual: x + inner(norm(x)) [* gate(W_g norm(x))].

    The residual stream keeps the dtype of x (float32 from the embedding); `inner` owns
    its output projection, so the only extra weights here are the optional gate's.
    """

    def __init__(self, d_model: int, inner: nnx.Module, *, norm: str = "rms", gate: Expr | None = None,
                 dtype: DType = F32, rngs: nnx.Rngs):
        self.norm = _norm(norm, d_model, dtype, rngs)
        self.inner = inner
        self.gate_fn = gate
        self.gate = None if gate is None else _linear(d_model, d_model, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.norm(x)
        y = self.inner(h)
        if self.gate is not None:
            y = y * self.gate_fn(self.gate(h)).astype(y.dtype)
        return x + y.astype(x.dtype)


class SequenceStack(nnx.Module):
    """Layers applied in order, then a final RMS norm: (B, T, D) -> (B, T, D) float32."""

    def __init__(self, layers: Sequence[nnx.Module], d_model: int, *, rngs: nnx.Rngs):
        self.layers = nnx.List(list(layers))
        self.norm = nnx.RMSNorm(d_model, dtype=F32, param_dtype=F32, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = layer(x)
        return self.norm(x.astype(F32))


class LanguageModel(nnx.Module):
    """Token embedding -> stack -> logits (B, T, vocab) in float32.

    No absolute positions: attention uses RoPE and recurrent mixers are position-aware by
    construction. `max_len` is the longest sequence the model accepts.
    """

    def __init__(self, vocab_size: int, d_model: int, max_len: int, stack: SequenceStack, *, tied: bool = True,
                 dtype: DType = F32, rngs: nnx.Rngs):
        self.max_len = max_len
        self.dtype = jnp.dtype(dtype)
        self.embed = nnx.Embed(vocab_size, d_model, dtype=F32, param_dtype=F32, rngs=rngs)
        self.stack = stack
        self.head = None if tied else nnx.Linear(d_model, vocab_size, use_bias=False, dtype=F32,
                                                 param_dtype=F32, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} > max_len {self.max_len}")
        x = self.stack(self.embed(tokens))  # (B, T, D) float32
        return self.embed.attend(x) if self.head is None else self.head(x)


def count_params(module: nnx.Module) -> int:
    """Number of trainable parameters (nnx.Param leaves)."""
    return int(sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param))))
