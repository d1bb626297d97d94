"""The architecture genome: a typed tree of frozen dataclasses, and its canonical JSON.

A genome describes ONE block — a short sequence of pre-norm residual sublayers
(norm -> mixer -> optional output gate). The scale repeats the block `n_layers`
times at width `d_model`, so the same genome is meaningful at every scale.

    ArchGenome(layers=(Sublayer, ...), tied=bool)
    Sublayer(norm="rms"|"layer", mixer=TokenMixer|ChannelMixer, gate=Expr|None)
    TokenMixer   = Attention | LinearAttention | GatedLinearAttention | DeltaRule | ShortConv | Parallel
    ChannelMixer = MLP | GLU

Every JSON node is `{"type": <tag>, ...fields}` (the same tags as the text form).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Union

from domains.arch import expr as ex
from domains.arch.expr import Expr
from domains.base import GenomeError

# --- the allowed values of every hyperparameter gene (part of the grammar) ----------------------
NORMS: tuple[str, ...] = ("rms", "layer")
HEADS: tuple[int, ...] = (1, 2, 4, 8)
WINDOWS: tuple[int, ...] = (16, 32, 64, 128, 256, 512)  # sliding-window lengths (None = full causal)
KERNELS: tuple[int, ...] = (2, 3, 4, 6, 8)  # short causal conv widths
EXPANSIONS: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)  # channel-mixer hidden width / d_model


# --- token mixers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attention:
    """Causal softmax attention; `window` makes it sliding-window, `rope` adds rotary positions."""

    heads: int = 4
    window: int | None = None
    rope: bool = True


@dataclass(frozen=True)
class LinearAttention:
    """Causal linear attention phi(q) (sum phi(k) v^T), normalised; phi = `feature_map`."""

    heads: int = 4
    feature_map: Expr = ex.unary("elu1")


@dataclass(frozen=True)
class GatedLinearAttention:
    """Linear attention with a data-dependent per-key decay a_t = sigmoid(-decay(W x_t)) (GLA-style)."""

    heads: int = 4
    feature_map: Expr = ex.unary("identity")
    decay: Expr = ex.X


@dataclass(frozen=True)
class DeltaRule:
    """The delta rule S_t = a_t S_{t-1} (I - b k k^T) + b v k^T; `decay=None` is plain DeltaNet."""

    heads: int = 4
    feature_map: Expr = ex.unary("silu")
    decay: Expr | None = None


@dataclass(frozen=True)
class ShortConv:
    """Depth-wise short causal convolution over time."""

    kernel: int = 4


@dataclass(frozen=True)
class Parallel:
    """A hybrid: token-mixer branches applied to the same input and combined."""

    branches: tuple["TokenMixer", ...]


# --- channel mixers ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MLP:
    expansion: float = 4.0
    activation: Expr = ex.unary("gelu")


@dataclass(frozen=True)
class GLU:
    """act(W1 x) * (W2 x) -> W3; e.g. SwiGLU is activation silu(x)."""

    expansion: float = 2.5
    activation: Expr = ex.unary("silu")


TokenMixer = Union[Attention, LinearAttention, GatedLinearAttention, DeltaRule, ShortConv, Parallel]
ChannelMixer = Union[MLP, GLU]
Mixer = Union[TokenMixer, ChannelMixer]
TOKEN_MIXERS = (Attention, LinearAttention, GatedLinearAttention, DeltaRule, ShortConv, Parallel)
CHANNEL_MIXERS = (MLP, GLU)


@dataclass(frozen=True)
class Sublayer:
    """x + gate(W norm(x)) * mixer(norm(x)); without a gate, x + mixer(norm(x))."""

    norm: str
    mixer: Mixer
    gate: Expr | None = None


@dataclass(frozen=True)
class ArchGenome:
    """One block of sublayers (repeated to the scale's depth) and global genes."""

    layers: tuple[Sublayer, ...]
    tied: bool = True  # tie input embedding and output projection


# Tags shared by the JSON and the text form.
TAGS: dict[type, str] = {
    Attention: "attn", LinearAttention: "linattn", GatedLinearAttention: "gla", DeltaRule: "delta",
    ShortConv: "conv", Parallel: "par", MLP: "mlp", GLU: "glu",
}
BY_TAG: dict[str, type] = {v: k for k, v in TAGS.items()}
EXPR_FIELDS = {"feature_map", "decay", "activation", "gate"}
OPTIONAL_FIELDS = {("attn", "window"), ("delta", "decay")}  # may be None


def is_token_mixer(m: Any) -> bool:
    return isinstance(m, TOKEN_MIXERS)


def is_channel_mixer(m: Any) -> bool:
    return isinstance(m, CHANNEL_MIXERS)


# --- value checks shared by JSON and text decoding -----------------------------------------------
def check_field(tag: str, name: str, value: Any) -> Any:
    """Validate one scalar gene against its allowed set; return it in canonical Python type."""
    if value is None:
        if (tag, name) in OPTIONAL_FIELDS:
            return None
        raise GenomeError(f"{tag}.{name} may not be null")
    if name == "heads":
        return _choice(tag, name, value, HEADS, int)
    if name == "window":
        return _choice(tag, name, value, WINDOWS, int)
    if name == "kernel":
        return _choice(tag, name, value, KERNELS, int)
    if name == "expansion":
        return _choice(tag, name, value, EXPANSIONS, float)
    if name in ("rope", "tied"):
        if not isinstance(value, bool):
            raise GenomeError(f"{tag}.{name} must be true or false, got {value!r}")
        return value
    if name == "norm":
        if value not in NORMS:
            raise GenomeError(f"norm must be one of {NORMS}, got {value!r}")
        return value
    raise GenomeError(f"unknown field {name!r} for {tag!r}")


def _choice(tag: str, name: str, value: Any, allowed: tuple, typ: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in allowed:
        raise GenomeError(f"{tag}.{name} must be one of {allowed}, got {value!r}")
    if typ is int and float(value) != int(value):
        raise GenomeError(f"{tag}.{name} must be an integer, got {value!r}")
    return typ(value)


# --- JSON ------------------------------------------------------------------------------------
def to_json(g: ArchGenome) -> dict:
    return {"type": "arch", "layers": [_sublayer_json(s) for s in g.layers], "tied": g.tied}


def _sublayer_json(s: Sublayer) -> dict:
    return {"type": "sublayer", "norm": s.norm, "mixer": mixer_json(s.mixer),
            "gate": None if s.gate is None else ex.to_json(s.gate)}


def mixer_json(m: Mixer) -> dict:
    if type(m) not in TAGS:
        raise GenomeError(f"not a mixer: {m!r}")
    out: dict[str, Any] = {"type": TAGS[type(m)]}
    for f in fields(m):
        v = getattr(m, f.name)
        if f.name == "branches":
            out[f.name] = [mixer_json(b) for b in v]
        elif f.name in EXPR_FIELDS:
            out[f.name] = None if v is None else ex.to_json(v)
        else:
            out[f.name] = v
    return out


def _object(d: Any, tag: str, allowed: set[str], required: set[str]) -> dict:
    if not isinstance(d, dict):
        raise GenomeError(f"{tag}: expected an object, got {d!r}")
    unknown = set(d) - allowed - {"type"}
    if unknown:
        raise GenomeError(f"{tag}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    missing = required - set(d)
    if missing:
        raise GenomeError(f"{tag}: missing field(s) {sorted(missing)}")
    return d


def from_json(d: Any) -> ArchGenome:
    if not isinstance(d, dict) or d.get("type", "arch") != "arch":
        raise GenomeError(f"expected an object of type 'arch', got {str(d)[:80]!r}")
    _object(d, "arch", {"layers", "tied"}, {"layers"})
    layers = d["layers"]
    if not isinstance(layers, list) or not layers:
        raise GenomeError("arch.layers must be a non-empty list of sublayers")
    tied = check_field("arch", "tied", d.get("tied", True))
    return ArchGenome(tuple(_sublayer_from_json(s) for s in layers), tied)


def _sublayer_from_json(d: Any) -> Sublayer:
    if isinstance(d, dict) and d.get("type", "sublayer") != "sublayer":
        raise GenomeError(f"expected a node of type 'sublayer', got {d.get('type')!r}")
    _object(d, "sublayer", {"norm", "mixer", "gate"}, {"mixer"})
    gate = d.get("gate")
    return Sublayer(check_field("sublayer", "norm", d.get("norm", "rms")), mixer_from_json(d["mixer"]),
                    None if gate is None else ex.from_json(gate))


def mixer_from_json(d: Any) -> Mixer:
    if not isinstance(d, dict) or d.get("type") not in BY_TAG:
        got = d.get("type") if isinstance(d, dict) else d
        raise GenomeError(f"unknown mixer type {got!r}; expected one of {sorted(BY_TAG)}")
    tag = d["type"]
    cls = BY_TAG[tag]
    names = {f.name for f in fields(cls)}
    _object(d, tag, names, {"branches"} if cls is Parallel else set())
    kwargs: dict[str, Any] = {}
    for name in names & set(d):
        v = d[name]
        if name == "branches":
            if not isinstance(v, list):
                raise GenomeError("par.branches must be a list of token mixers")
            kwargs[name] = tuple(mixer_from_json(b) for b in v)
        elif name in EXPR_FIELDS:
            if v is None and (tag, name) not in OPTIONAL_FIELDS:
                raise GenomeError(f"{tag}.{name} may not be null")
            kwargs[name] = None if v is None else ex.from_json(v)
        else:
            kwargs[name] = check_field(tag, name, v)
    return build_mixer(cls, kwargs)


def build_mixer(cls: type, kwargs: dict[str, Any]) -> Mixer:
    """Construct a mixer and enforce the type rules that dataclasses cannot."""
    m = cls(**kwargs)
    if isinstance(m, Parallel):
        if len(m.branches) < 2:
            raise GenomeError("par needs at least 2 branches")
        for b in m.branches:
            if not is_token_mixer(b) or isinstance(b, Parallel):
                raise GenomeError(f"par branches must be non-parallel token mixers, got {TAGS.get(type(b), b)!r}")
    return m


# --- traversal helpers used by operators and descriptors ---------------------------------------
def mixer_exprs(m: Mixer) -> list[tuple[str, Expr]]:
    """(field name, expression) pairs of a mixer, parallel branches flattened."""
    if isinstance(m, Parallel):
        return [pair for b in m.branches for pair in mixer_exprs(b)]
    return [(f.name, getattr(m, f.name)) for f in fields(m)
            if f.name in EXPR_FIELDS and getattr(m, f.name) is not None]


def all_exprs(g: ArchGenome) -> list[tuple[str, Expr]]:
    out: list[tuple[str, Expr]] = []
    for s in g.layers:
        out.extend(mixer_exprs(s.mixer))
        if s.gate is not None:
            out.append(("gate", s.gate))
    return out


def leaf_mixers(g: ArchGenome) -> list[Mixer]:
    """Every non-parallel mixer (branches of Parallel included)."""
    out: list[Mixer] = []
    for s in g.layers:
        out.extend(s.mixer.branches if isinstance(s.mixer, Parallel) else (s.mixer,))
    return out


# --- size bounds (from the domain config) ------------------------------------------------------
@dataclass(frozen=True)
class Bounds:
    """Structural limits every genome and every operator result respects."""

    max_sublayers: int = 6  # sublayers in one block
    max_branches: int = 3  # branches of one Parallel
    expr_depth: int = 4  # depth of an expression tree (x alone has depth 1)
    expr_size: int = 9  # nodes in an expression tree

    @staticmethod
    def from_cfg(cfg: dict) -> "Bounds":
        return Bounds(**{f.name: int(cfg[f.name]) for f in fields(Bounds) if f.name in cfg})


def validate(g: Any, bounds: Bounds) -> None:
    """Raise GenomeError unless `g` is a well-typed genome within `bounds` (scale-independent)."""
    if not isinstance(g, ArchGenome):
        raise GenomeError(f"not an ArchGenome: {type(g).__name__}")
    if not 1 <= len(g.layers) <= bounds.max_sublayers:
        raise GenomeError(f"a block has 1..{bounds.max_sublayers} sublayers, got {len(g.layers)}")
    check_field("arch", "tied", g.tied)
    for i, s in enumerate(g.layers):
        if not isinstance(s, Sublayer):
            raise GenomeError(f"layer {i} is not a Sublayer")
        check_field("sublayer", "norm", s.norm)
        _validate_mixer(s.mixer, bounds, f"layer {i}")
        if s.gate is not None:
            ex.validate(s.gate, max_depth=bounds.expr_depth, max_size=bounds.expr_size, what=f"layer {i} gate")
    if not any(is_token_mixer(s.mixer) for s in g.layers):
        raise GenomeError("a block needs at least one token mixer (attn, linattn, gla, delta, conv or par)")


def _validate_mixer(m: Any, bounds: Bounds, where: str) -> None:
    if type(m) not in TAGS:
        raise GenomeError(f"{where}: not a mixer: {m!r}")
    tag = TAGS[type(m)]
    if isinstance(m, Parallel):
        build_mixer(Parallel, {"branches": m.branches})
        if len(m.branches) > bounds.max_branches:
            raise GenomeError(f"{where}: par has {len(m.branches)} branches, the bound is {bounds.max_branches}")
        for b in m.branches:
            _validate_mixer(b, bounds, where)
        return
    for f in fields(m):
        v = getattr(m, f.name)
        if f.name in EXPR_FIELDS:
            if v is None and (tag, f.name) in OPTIONAL_FIELDS:
                continue
            ex.validate(v, max_depth=bounds.expr_depth, max_size=bounds.expr_size, what=f"{where} {tag}.{f.name}")
        elif check_field(tag, f.name, v) != v or type(check_field(tag, f.name, v)) is not type(v):
            raise GenomeError(f"{where}: {tag}.{f.name} has the wrong type: {v!r}")
