"""An architecture genome as a PyTorch `nn.Module`, and the Flax proxy's weights carried over.

Why: a researcher who finds a good block in a campaign wants to train it in their own PyTorch stack.
The modules here compute what `proxies.blocks` computes (same parameter names and layout, so a
Flax state converts key by key; the chunked linear-recurrent cores follow the same equations), and
`export` checks that at export time: the torch LM's logits must match the Flax proxy's on a batch
of tokens, or nothing is written.

Supported: every node of the arch grammar (`attn` with/without window and RoPE, `linattn`, `gla`,
`delta` with and without decay, `conv`, `par`, `mlp`, `glu`, rms/layer norms, output gates, tied
or untied head) and every expression op. Computation is float32 (the proxy's bf16 compute at
`scale=small` is not reproduced: its parameters are float32 either way). torch is imported lazily:
it is an optional extra (`pip install -e '.[torch]'`).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping

from domains.arch import expr as ex
from domains.arch import genome as gn
from domains.arch.genome import ArchGenome

MIN_LOG_DECAY = -20.0  # as proxies.blocks: a >= 2e-9 keeps logs and exps finite
PARITY_TOL = 1e-4  # max |torch logits - Flax logits| / max(1, max |Flax logits|) accepted at export (float32)


def _torch():
    try:
        import torch
    except ImportError as exc:  # torch is an optional extra
        raise ImportError("exporting to PyTorch needs torch: pip install -e '.[torch]'") from exc
    return torch


# ----------------------------------------------------------------------------- expressions


def unary_ops() -> dict[str, Callable]:
    """The expression grammar's unary ops in torch (jax.nn.gelu is the tanh approximation)."""
    torch = _torch()
    F = torch.nn.functional
    return {
        "identity": lambda v: v, "relu": F.relu, "elu1": lambda v: F.elu(v) + 1.0, "elu": F.elu,
        "exp": torch.exp, "sigmoid": torch.sigmoid, "silu": F.silu,
        "gelu": lambda v: F.gelu(v, approximate="tanh"),
        "softplus": lambda v: torch.logaddexp(v, torch.zeros_like(v)),  # jax.nn.softplus, no threshold
        "tanh": torch.tanh, "square": torch.square, "abs": torch.abs, "neg": torch.neg,
        "relu2": lambda v: torch.square(F.relu(v)), "sin": torch.sin, "cos": torch.cos,
        "logsigmoid": F.logsigmoid,
    }


def binary_ops() -> dict[str, Callable]:
    torch = _torch()
    return {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "max": torch.maximum, "min": torch.minimum}


def compile_expr(e: ex.Expr) -> Callable:
    """An element-wise torch function, built by walking the tree (whitelist only, as expr.compile_expr)."""
    torch = _torch()
    return ex.compile_tree(e, {**unary_ops(), **binary_ops()}, leaf=ex.x_leaf,
                           const=lambda c: lambda v: torch.full_like(v, c))


def compile_decay(e: ex.Expr) -> Callable:
    """a = exp(-softplus(e(z))) in (0, 1), as expr.compile_decay."""
    torch = _torch()
    f = compile_expr(e)
    return lambda z: torch.exp(-torch.logaddexp(f(z), torch.zeros_like(z)))


# ----------------------------------------------------------------------------- modules


def _modules():
    """The nn.Module classes, defined on first use so that importing this file needs no torch."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    def linear(d_in: int, d_out: int, bias: bool = False) -> nn.Linear:
        return nn.Linear(d_in, d_out, bias=bias)

    def split_heads(x, h):  # (B, T, H*d) -> (B, H, T, d)
        B, T, D = x.shape
        return x.reshape(B, T, h, D // h).transpose(1, 2)

    def merge_heads(x):  # (B, H, T, d) -> (B, T, H*d)
        B, H, T, d = x.shape
        return x.transpose(1, 2).reshape(B, T, H * d)

    def to_chunks(x, C):  # (B, H, T, ...) -> (B, H, N, C, ...), zero-padded at the end
        T = x.shape[2]
        n = -(-T // C)
        pad = [0, 0] * (x.ndim - 3) + [0, n * C - T]
        x = F.pad(x, pad)
        return x.reshape(x.shape[:2] + (n, C) + x.shape[3:])

    def from_chunks(x, T):
        return x.reshape(x.shape[:2] + (-1,) + x.shape[4:])[:, :, :T]

    def log_decay(a):
        a = torch.clamp(a.float(), math.exp(MIN_LOG_DECAY), 1.0)
        return torch.clamp(torch.log(a), min=MIN_LOG_DECAY)

    def l2norm(x, eps=1e-6):
        return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + eps)

    def rms_heads(x, scale, eps=1e-6):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * scale

    def rope(x, base=10000.0):  # (B, T, H, d); the first half rotates with the second, an odd channel passes
        T, d = x.shape[1], x.shape[-1]
        half = d // 2
        freqs = base ** (-torch.arange(half, dtype=torch.float32) / max(half, 1))
        ang = torch.arange(T, dtype=torch.float32)[:, None] * freqs[None, :]
        cos, sin = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
        x1, x2 = x[..., :half], x[..., half:2 * half]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos, x[..., 2 * half:]], dim=-1)

    class RMSNorm(nn.Module):
        def __init__(self, d: int, eps: float = 1e-6):
            super().__init__()
            self.eps, self.scale = eps, nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps) * self.scale

    class LayerNorm(nn.Module):
        def __init__(self, d: int, eps: float = 1e-6):
            super().__init__()
            self.eps, self.scale, self.bias = eps, nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))

        def forward(self, x):
            mean = x.mean(-1, keepdim=True)
            var = (x * x).mean(-1, keepdim=True) - mean * mean
            return (x - mean) * torch.rsqrt(var + self.eps) * self.scale + self.bias

    class CausalSelfAttention(nn.Module):
        def __init__(self, d: int, heads: int, window: int | None, use_rope: bool):
            super().__init__()
            self.heads, self.window, self.use_rope = heads, window, use_rope
            self.qkv, self.out = linear(d, 3 * d), linear(d, d)

        def forward(self, x):
            B, T, D = x.shape
            q, k, v = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads).unbind(2)  # (B, T, H, d)
            if self.use_rope:
                q, k = rope(q), rope(k)
            i = torch.arange(T)
            mask = i[None, :] <= i[:, None]
            if self.window is not None:
                mask = mask & (i[:, None] - i[None, :] < self.window)
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               attn_mask=mask)
            return self.out(y.transpose(1, 2).reshape(B, T, D))

    class LinearAttention(nn.Module):
        """Normalised causal linear attention in its parallel (masked quadratic) form."""

        def __init__(self, d: int, heads: int, feature_map: Callable, eps: float = 1e-6):
            super().__init__()
            self.heads, self.feature_map, self.eps = heads, feature_map, eps
            self.qkv, self.out = linear(d, 3 * d), linear(d, d)

        def forward(self, x):
            q, k, v = (split_heads(a, self.heads) for a in self.qkv(x).chunk(3, dim=-1))
            q, k = self.feature_map(q), self.feature_map(k)
            T = x.shape[1]
            scores = (q @ k.transpose(-1, -2)).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), 0.0)
            o = (scores @ v) / (scores.sum(-1).abs() + self.eps)[..., None]
            return self.out(merge_heads(o))

    def gla_core(q, k, v, log_a, chunk):
        """S_t = diag(a_t) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t, chunked as proxies.blocks."""
        T = q.shape[2]
        C = min(chunk, T)
        qc, kc, vc, lc = (to_chunks(a, C) for a in (q, k, v, log_a))  # (B, H, N, C, d)
        mask = torch.ones(C, C, dtype=torch.bool).tril()[:, :, None]
        B, H, N, _, dk = qc.shape
        S = q.new_zeros(B, H, dk, v.shape[-1])
        outs = []
        for n in range(N):
            qn, kn, vn, ln = qc[:, :, n], kc[:, :, n], vc[:, :, n], lc[:, :, n]
            b = torch.cumsum(ln, dim=-2)
            diff = b[..., :, None, :] - b[..., None, :, :]
            w = torch.where(mask, torch.exp(torch.where(mask, diff, torch.zeros_like(diff))), torch.zeros_like(diff))
            scores = torch.einsum("bhtd,bhsd,bhtsd->bhts", qn, kn, w)
            outs.append(scores @ vn + (qn * torch.exp(b)) @ S)
            last = b[..., -1:, :]
            S = torch.exp(last[..., 0, :])[..., None] * S + torch.einsum("bhsd,bhse->bhde", kn * torch.exp(last - b), vn)
        return from_chunks(torch.stack(outs, dim=2), T)

    def delta_core(q, k, v, beta, log_a, chunk):
        """S_t = a_t (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T, o_t = S_t^T q_t: chunked WY form,
        one unit-lower-triangular solve per chunk, as proxies.blocks.delta_rule."""
        T = q.shape[2]
        C = min(chunk, T)
        qc, kc, vc = (to_chunks(a, C) for a in (q, k, v))
        bc, lc = to_chunks(beta, C), to_chunks(log_a, C)
        g = torch.cumsum(lc, dim=-1)
        tril = torch.ones(C, C, dtype=torch.bool).tril()
        strict = torch.ones(C, C, dtype=torch.bool).tril(-1)
        gd = g[..., :, None] - g[..., None, :]
        G = torch.where(tril, torch.exp(torch.where(tril, gd, torch.zeros_like(gd))), torch.zeros_like(gd))
        kk = kc @ kc.transpose(-1, -2)
        L = torch.eye(C) + torch.where(strict, bc[..., :, None] * kk * G, torch.zeros_like(G))
        rhs = torch.cat([bc[..., None] * vc, bc[..., None] * kc * torch.exp(g)[..., None]], dim=-1)
        UW = torch.linalg.solve_triangular(L, rhs, upper=False, unitriangular=True)
        dv = vc.shape[-1]
        U, W = UW[..., :dv], UW[..., dv:]
        Aqk = (qc @ kc.transpose(-1, -2)) * G
        qg = qc * torch.exp(g)[..., None]
        kg = kc * torch.exp(g[..., -1:] - g)[..., None]
        a_chunk = torch.exp(g[..., -1])
        B, H, N, _, dk = qc.shape
        S = q.new_zeros(B, H, dk, dv)
        outs = []
        for n in range(N):
            v_new = U[:, :, n] - W[:, :, n] @ S
            outs.append(qg[:, :, n] @ S + Aqk[:, :, n] @ v_new)
            S = a_chunk[:, :, n, None, None] * S + kg[:, :, n].transpose(-1, -2) @ v_new
        return from_chunks(torch.stack(outs, dim=2), T)

    class GatedLinearAttention(nn.Module):
        def __init__(self, d: int, heads: int, feature_map: Callable, decay: Callable, chunk: int,
                     gate_rank: int = 16):
            super().__init__()
            self.heads, self.feature_map, self.decay, self.chunk = heads, feature_map, decay, chunk
            self.qkv = linear(d, 3 * d)
            self.gate_down, self.gate_up = linear(d, gate_rank), linear(gate_rank, d, bias=True)
            self.head_scale = nn.Parameter(torch.ones(d // heads))
            self.out = linear(d, d)

        def forward(self, x):
            q, k, v = (split_heads(a, self.heads) for a in self.qkv(x).chunk(3, dim=-1))
            q, k = self.feature_map(q), self.feature_map(k)
            log_a = log_decay(self.decay(split_heads(self.gate_up(self.gate_down(x)), self.heads)))
            o = rms_heads(gla_core(q, k, v, log_a, self.chunk), self.head_scale)
            return self.out(merge_heads(o))

    class DeltaNet(nn.Module):
        def __init__(self, d: int, heads: int, feature_map: Callable, decay: Callable | None, chunk: int):
            super().__init__()
            self.heads, self.feature_map, self.decay, self.chunk = heads, feature_map, decay, chunk
            self.qkv = linear(d, 3 * d)
            self.beta = linear(d, heads, bias=True)
            self.alpha = None if decay is None else linear(d, heads, bias=True)
            self.head_scale = nn.Parameter(torch.ones(d // heads))
            self.out = linear(d, d)

        def forward(self, x):
            q, k, v = (split_heads(a, self.heads) for a in self.qkv(x).chunk(3, dim=-1))
            q, k = l2norm(self.feature_map(q)), l2norm(self.feature_map(k))
            beta = torch.sigmoid(self.beta(x)).transpose(1, 2)  # (B, H, T)
            log_a = torch.zeros_like(beta) if self.alpha is None else \
                log_decay(self.decay(self.alpha(x))).transpose(1, 2)
            o = rms_heads(delta_core(q, k, v, beta, log_a, self.chunk), self.head_scale)
            return self.out(merge_heads(o))

    class ShortConv(nn.Module):
        def __init__(self, d: int, kernel_size: int):
            super().__init__()
            self.kernel_size = kernel_size
            self.kernel = nn.Parameter(torch.randn(kernel_size, d) * kernel_size ** -0.5)  # [K-1] = current token
            self.bias = nn.Parameter(torch.zeros(d))

        def forward(self, x):
            T, K = x.shape[1], self.kernel_size
            xp = F.pad(x, (0, 0, K - 1, 0))
            return sum(xp[:, i:i + T] * self.kernel[i] for i in range(K)) + self.bias

    class Parallel(nn.Module):
        def __init__(self, branches: list):
            super().__init__()
            self.branches = nn.ModuleList(branches)
            self.weights = nn.Parameter(torch.full((len(branches),), 1.0 / len(branches)))

        def forward(self, x):
            return sum(self.weights[i] * b(x) for i, b in enumerate(self.branches))

    class MLP(nn.Module):
        def __init__(self, d: int, hidden: int, activation: Callable):
            super().__init__()
            self.activation, self.up, self.down = activation, linear(d, hidden), linear(hidden, d)

        def forward(self, x):
            return self.down(self.activation(self.up(x)))

    class GLU(nn.Module):
        def __init__(self, d: int, hidden: int, activation: Callable):
            super().__init__()
            self.activation, self.gate_up, self.down = activation, linear(d, 2 * hidden), linear(hidden, d)

        def forward(self, x):
            gate, up = self.gate_up(x).chunk(2, dim=-1)
            return self.down(self.activation(gate) * up)

    class Residual(nn.Module):
        """x + inner(norm(x)) [* gate_fn(W_g norm(x))]."""

        def __init__(self, d: int, inner: nn.Module, norm: str, gate: Callable | None):
            super().__init__()
            self.norm = RMSNorm(d) if norm == "rms" else LayerNorm(d)
            self.inner, self.gate_fn = inner, gate
            self.gate = None if gate is None else linear(d, d)

        def forward(self, x):
            h = self.norm(x)
            y = self.inner(h)
            if self.gate is not None:
                y = y * self.gate_fn(self.gate(h))
            return x + y

    class SequenceStack(nn.Module):
        """The discovered block repeated n_layers times, then an RMS norm: (B, T, D) -> (B, T, D)."""

        def __init__(self, layers: list, d: int):
            super().__init__()
            self.layers, self.norm = nn.ModuleList(layers), RMSNorm(d)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.norm(x)

    class LanguageModel(nn.Module):
        """Token embedding -> stack -> logits (B, T, vocab); tied head = the embedding's transpose."""

        def __init__(self, vocab_size: int, d: int, max_len: int, stack: nn.Module, tied: bool):
            super().__init__()
            self.max_len = max_len
            self.embed = nn.Embedding(vocab_size, d)
            self.stack = stack
            self.head = None if tied else linear(d, vocab_size)

        def forward(self, tokens):
            if tokens.shape[1] > self.max_len:
                raise ValueError(f"sequence length {tokens.shape[1]} > max_len {self.max_len}")
            x = self.stack(self.embed(tokens))
            return x @ self.embed.weight.T if self.head is None else self.head(x)

    return {k: v for k, v in locals().items() if isinstance(v, type)}


_CLASSES: dict[str, type] = {}


def modules() -> dict[str, type]:
    """The torch module classes by name (CausalSelfAttention, ..., LanguageModel)."""
    if not _CLASSES:
        _CLASSES.update(_modules())
    return _CLASSES


# ----------------------------------------------------------------------------- genome -> modules


def fit_heads(heads: int, d_model: int) -> int:
    """As domains.arch.compile.fit_heads: the largest head count <= heads dividing d_model."""
    return max(h for h in range(1, heads + 1) if d_model % h == 0)


def hidden_width(d_model: int, expansion: float) -> int:
    return max(1, int(round(expansion * d_model)))


def build_mixer(m: gn.Mixer, d: int, chunk: int) -> Any:
    M = modules()
    if isinstance(m, gn.Attention):
        return M["CausalSelfAttention"](d, fit_heads(m.heads, d), m.window, m.rope)
    if isinstance(m, gn.LinearAttention):
        return M["LinearAttention"](d, fit_heads(m.heads, d), compile_expr(m.feature_map))
    if isinstance(m, gn.GatedLinearAttention):
        return M["GatedLinearAttention"](d, fit_heads(m.heads, d), compile_expr(m.feature_map),
                                         compile_decay(m.decay), chunk)
    if isinstance(m, gn.DeltaRule):
        return M["DeltaNet"](d, fit_heads(m.heads, d), compile_expr(m.feature_map),
                             None if m.decay is None else compile_decay(m.decay), chunk)
    if isinstance(m, gn.ShortConv):
        return M["ShortConv"](d, m.kernel)
    if isinstance(m, gn.Parallel):
        return M["Parallel"]([build_mixer(b, d, chunk) for b in m.branches])
    if isinstance(m, gn.MLP):
        return M["MLP"](d, hidden_width(d, m.expansion), compile_expr(m.activation))
    if isinstance(m, gn.GLU):
        return M["GLU"](d, hidden_width(d, m.expansion), compile_expr(m.activation))
    raise NotImplementedError(f"no PyTorch module for {type(m).__name__}; the torch exporter supports "
                              f"{', '.join(sorted(gn.TAGS.values()))}")


def build_stack(g: ArchGenome, d_model: int, n_layers: int, chunk: int = 64) -> Any:
    """The discovered block, repeated `n_layers` times, as a torch module (B, T, D) -> (B, T, D)."""
    M = modules()
    layers = [M["Residual"](d_model, build_mixer(s.mixer, d_model, chunk), s.norm,
                            None if s.gate is None else compile_expr(s.gate))
              for _ in range(n_layers) for s in g.layers]
    return M["SequenceStack"](layers, d_model)


def build_lm(g: ArchGenome, *, d_model: int, n_layers: int, vocab_size: int, max_len: int, chunk: int = 64) -> Any:
    """The causal LM around the block: tokens (B, T) int64 -> logits (B, T, vocab) float32."""
    return modules()["LanguageModel"](vocab_size, d_model, max_len, build_stack(g, d_model, n_layers, chunk), g.tied)


# ----------------------------------------------------------------------------- Flax -> torch weights


def torch_state_from_flax(flax_params: Mapping[tuple, Any], torch_module: Any) -> dict[str, Any]:
    """A torch state dict from a flat Flax NNX Param state {path tuple: array}.

    The torch modules mirror the Flax attribute names, so `a.b.0.c.kernel` maps to the same torch
    path, renamed where torch's layers name it otherwise: a Linear's `kernel` (in, out) is `weight`
    (out, in), an Embed's `embedding` is `weight`. Any key left over on either side is an error.
    """
    torch = _torch()
    import numpy as np

    target = torch_module.state_dict()
    out: dict[str, Any] = {}
    unused = []
    for path, value in flax_params.items():
        key = ".".join(str(p) for p in path)
        array = np.asarray(value, dtype=np.float32)
        leaf = path[-1]
        if key in target and tuple(target[key].shape) == array.shape:
            out[key] = torch.from_numpy(array.copy())
        elif leaf == "kernel" and key[:-len("kernel")] + "weight" in target and array.ndim == 2:
            out[key[:-len("kernel")] + "weight"] = torch.from_numpy(array.T.copy())
        elif leaf == "embedding" and key[:-len("embedding")] + "weight" in target:
            out[key[:-len("embedding")] + "weight"] = torch.from_numpy(array.copy())
        else:
            unused.append(f"{key} {array.shape}")
    missing = sorted(set(target) - set(out))
    bad = [k for k in out if tuple(out[k].shape) != tuple(target[k].shape)]
    if unused or missing or bad:
        raise ValueError(f"the Flax state does not match the torch module: unmatched Flax params {unused}, "
                         f"torch params left unset {missing}, shape mismatches {bad}")
    return out


def flax_param_state(flax_model: Any) -> dict[tuple, Any]:
    """{path tuple: array} of a Flax NNX module's Params."""
    from flax import nnx

    return {tuple(p): v.get_value() if hasattr(v, "get_value") else v.value
            for p, v in nnx.to_flat_state(nnx.state(flax_model, nnx.Param))}


def from_flax(g: ArchGenome, flax_model: Any, *, d_model: int, n_layers: int, vocab_size: int, max_len: int,
              chunk: int = 64) -> Any:
    """The torch LM of genome `g` carrying a Flax proxy LM's (`domains.arch.compile.model_fn`) weights."""
    model = build_lm(g, d_model=d_model, n_layers=n_layers, vocab_size=vocab_size, max_len=max_len, chunk=chunk)
    model.load_state_dict(torch_state_from_flax(flax_param_state(flax_model), model), strict=True)
    return model.eval()


# ----------------------------------------------------------------------------- export / load


def export_config(g: ArchGenome, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What rebuilds the module: the genome and the scale's width, depth, vocabulary and context."""
    from domains.arch.text import to_text

    lm = dict(cfg.get("lm") or {})
    return {"format": "evolve-arch-torch/1", "genome": gn.to_json(g), "genome_text": to_text(g),
            "d_model": int(cfg["d_model"]), "n_layers": int(cfg["n_layers"]), "vocab_size": int(cfg["vocab_size"]),
            "max_len": int(lm.get("seq_len", 128)), "chunk": int(cfg.get("chunk", 64))}


def _flax_lm(g: ArchGenome, cfg: Mapping[str, Any], spec: Mapping[str, Any], *, train: bool, seed: int):
    """The Flax proxy LM at the campaign's scale: freshly initialised (seed), or trained at the full
    stage's budget on the default corpus (what the campaign measured)."""
    import jax
    from flax import nnx

    from domains.arch import compile as comp
    from domains.arch import evaluate

    make = comp.model_fn(g, comp.Width(spec["d_model"], spec["n_layers"], "float32", spec["chunk"]),
                         vocab_size=spec["vocab_size"], max_len=spec["max_len"])
    if not train:
        return make(nnx.Rngs(seed)), {}
    from proxies import lm

    corpus = evaluate.cached_default_corpus(seed, None if cfg.get("corpus_max_bytes") is None
                                            else int(cfg["corpus_max_bytes"]))
    lcfg = evaluate.lm_config(cfg, 1.0).replace(dtype="float32")
    out = lm.make_train(lcfg, make, corpus.train, corpus.heldout)(jax.random.key(seed), lcfg.steps)
    metrics = {f"eval_loss/{k}": float(v) for k, v in out["metrics"]["eval_loss"].items()}
    metrics["steps"] = lcfg.steps
    return lm.restore(make, out["state"]), metrics


def parity(flax_model: Any, torch_model: Any, *, vocab_size: int, seq_len: int, seed: int = 0,
           batch: int = 2) -> float:
    """max |logits_torch - logits_flax| / max(1, max |logits_flax|) on random tokens (float32): the error
    relative to the logits' scale, which grows with trained weights."""
    import jax.numpy as jnp
    import numpy as np

    torch = _torch()
    tokens = np.random.default_rng(seed).integers(0, vocab_size, (batch, seq_len))
    want = np.asarray(flax_model(jnp.asarray(tokens, jnp.int32)))
    with torch.no_grad():
        got = torch_model(torch.from_numpy(tokens).long()).numpy()
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def export(g: ArchGenome, cfg: Mapping[str, Any], out: str | Path, *, train: bool = False, seed: int = 0,
           huggingface: bool = True) -> dict[str, str]:
    """Write `out/model.pt` (torch state dict), `out/config.json` (genome + sizes + parity) and, when
    `transformers` is installed and `huggingface`, `out/hf/` (`save_pretrained`). Refuses (ValueError)
    when the torch logits differ from the Flax proxy's by more than PARITY_TOL."""
    torch = _torch()
    spec = export_config(g, cfg)
    flax_model, metrics = _flax_lm(g, cfg, spec, train=train, seed=seed)
    model = from_flax(g, flax_model, d_model=spec["d_model"], n_layers=spec["n_layers"],
                      vocab_size=spec["vocab_size"], max_len=spec["max_len"], chunk=spec["chunk"])
    diff = parity(flax_model, model, vocab_size=spec["vocab_size"], seq_len=spec["max_len"], seed=seed)
    if not diff <= PARITY_TOL:
        raise ValueError(f"torch logits differ from the Flax proxy's by {diff:.3g} (relative) > {PARITY_TOL}; "
                         "not exported")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = {**spec, "weights": "trained" if train else f"init(seed={seed})", "seed": seed, "train_metrics": metrics,
            "parity_max_rel_logit_diff": diff}
    torch.save(model.state_dict(), out / "model.pt")
    (out / "config.json").write_text(json.dumps(spec, indent=2))
    paths = {"state_dict": str(out / "model.pt"), "config": str(out / "config.json")}
    if huggingface:
        try:
            from domains.arch import torch_hf
        except ImportError:
            pass  # transformers not installed: the plain nn.Module is the export
        else:
            hf = torch_hf.EvolveArchForCausalLM.from_lm(model, spec)
            hf.save_pretrained(out / "hf")
            paths["huggingface"] = str(out / "hf")
    return paths


def load(path: str | Path) -> Any:
    """Rebuild an exported LM: `load(dir)` -> torch LanguageModel in eval mode with its weights."""
    torch = _torch()
    path = Path(path)
    spec = json.loads((path / "config.json").read_text())
    model = build_lm(gn.from_json(spec["genome"]), d_model=spec["d_model"], n_layers=spec["n_layers"],
                     vocab_size=spec["vocab_size"], max_len=spec["max_len"], chunk=spec["chunk"])
    model.load_state_dict(torch.load(path / "model.pt", weights_only=True), strict=True)
    return model.eval()
