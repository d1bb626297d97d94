"""Genetic-programming operators on architecture genomes.

Pure functions of (genome(s), np.random.Generator, Bounds): they never mutate
their inputs and always return a genome that passes `genome.validate(_, bounds)`.
Each operator picks one edit at random from a small menu; an edit that would
break a bound (or change nothing) is retried with a fresh draw.
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Callable

import numpy as np

from domains.arch import expr as ex
from domains.arch.expr import Expr
from domains.arch.genome import (
    CHANNEL_MIXERS, EXPANSIONS, HEADS, KERNELS, MLP, NORMS, WINDOWS, ArchGenome, Attention, Bounds,
    DeltaRule, GatedLinearAttention, GLU, LinearAttention, Mixer, Parallel, ShortConv, Sublayer,
    is_token_mixer, validate,
)
from domains.base import GenomeError

_TRIES = 64

# Expressions known to work, drawn half the time so random designs are not all noise.
GOOD_FEATURE_MAPS = ("identity(x)", "elu1(x)", "relu(x)", "silu(x)", "softplus(x)", "sigmoid(x)", "exp(x)")
GOOD_DECAYS = ("x", "sub(x, 4.0)", "sub(x, 2.0)", "mul(x, 0.5)", "neg(x)")
GOOD_ACTIVATIONS = ("gelu(x)", "silu(x)", "relu(x)", "relu2(x)", "tanh(x)", "sigmoid(x)")
GOOD_GATES = ("sigmoid(x)", "silu(x)", "tanh(x)")


def _pick(rng: np.random.Generator, seq: tuple | list) -> Any:
    return seq[int(rng.integers(len(seq)))]


# --- random parts ----------------------------------------------------------------------------
def random_expr(rng: np.random.Generator, bounds: Bounds, good: tuple[str, ...]) -> Expr:
    if rng.random() < 0.5:
        return ex.parse(_pick(rng, good))
    for _ in range(_TRIES):
        e = ex.random_expr(rng, bounds.expr_depth)
        if ex.size(e) <= bounds.expr_size and ex.uses_x(e):
            return e
    return ex.parse(_pick(rng, good))


def random_token_mixer(rng: np.random.Generator, bounds: Bounds, *, allow_parallel: bool = True) -> Mixer:
    kinds = ["attn", "linattn", "gla", "delta", "conv"] + (["par"] if allow_parallel and bounds.max_branches >= 2 else [])
    kind = _pick(rng, kinds)
    heads = int(_pick(rng, HEADS))
    fmap = lambda: random_expr(rng, bounds, GOOD_FEATURE_MAPS)  # noqa: E731
    decay = lambda: random_expr(rng, bounds, GOOD_DECAYS)  # noqa: E731
    if kind == "attn":
        window = None if rng.random() < 0.5 else int(_pick(rng, WINDOWS))
        return Attention(heads, window, bool(rng.random() < 0.8))
    if kind == "linattn":
        return LinearAttention(heads, fmap())
    if kind == "gla":
        return GatedLinearAttention(heads, fmap(), decay())
    if kind == "delta":
        return DeltaRule(heads, fmap(), None if rng.random() < 0.5 else decay())
    if kind == "conv":
        return ShortConv(int(_pick(rng, KERNELS)))
    n = int(rng.integers(2, bounds.max_branches + 1))
    return Parallel(tuple(random_token_mixer(rng, bounds, allow_parallel=False) for _ in range(n)))


def random_channel_mixer(rng: np.random.Generator, bounds: Bounds) -> Mixer:
    cls = _pick(rng, CHANNEL_MIXERS)
    return cls(float(_pick(rng, EXPANSIONS)), random_expr(rng, bounds, GOOD_ACTIVATIONS))


def random_sublayer(rng: np.random.Generator, bounds: Bounds, *, token: bool) -> Sublayer:
    mixer = random_token_mixer(rng, bounds) if token else random_channel_mixer(rng, bounds)
    gate = random_expr(rng, bounds, GOOD_GATES) if rng.random() < 0.15 else None
    return Sublayer(str(_pick(rng, NORMS)) if rng.random() < 0.3 else "rms", mixer, gate)


def sample(rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    """A random block: 1-2 (token mixer, channel mixer) pairs, occasionally an extra sublayer."""
    for _ in range(_TRIES):
        layers: list[Sublayer] = []
        for _ in range(int(rng.integers(1, 3))):
            layers += [random_sublayer(rng, bounds, token=True), random_sublayer(rng, bounds, token=False)]
        if rng.random() < 0.2:
            layers.insert(int(rng.integers(len(layers) + 1)), random_sublayer(rng, bounds, token=bool(rng.random() < 0.5)))
        g = ArchGenome(tuple(layers), bool(rng.random() < 0.8))
        if _valid(g, bounds):
            return g
    raise GenomeError("could not sample a genome within the bounds")  # pragma: no cover - bounds too tight


# --- addressing ------------------------------------------------------------------------------
# A mixer site is (layer, branch) with branch None for the sublayer's own mixer; an expression
# site is (layer, branch, field) with field "gate" (branch None) for the sublayer's gate.
MixerSite = tuple[int, "int | None"]
ExprSite = tuple[int, "int | None", str]


def mixer_sites(g: ArchGenome) -> list[MixerSite]:
    out: list[MixerSite] = []
    for i, s in enumerate(g.layers):
        out.append((i, None))
        if isinstance(s.mixer, Parallel):
            out.extend((i, b) for b in range(len(s.mixer.branches)))
    return out


def get_mixer(g: ArchGenome, site: MixerSite) -> Mixer:
    m = g.layers[site[0]].mixer
    return m if site[1] is None else m.branches[site[1]]


def set_mixer(g: ArchGenome, site: MixerSite, new: Mixer) -> ArchGenome:
    i, b = site
    s = g.layers[i]
    if b is not None:
        branches = list(s.mixer.branches)
        branches[b] = new
        new = Parallel(tuple(branches))
    return set_layer(g, i, replace(s, mixer=new))


def set_layer(g: ArchGenome, i: int, s: Sublayer) -> ArchGenome:
    return replace(g, layers=g.layers[:i] + (s,) + g.layers[i + 1:])


def expr_sites(g: ArchGenome) -> list[ExprSite]:
    out: list[ExprSite] = []
    for i, s in enumerate(g.layers):
        if s.gate is not None:
            out.append((i, None, "gate"))
        for site in [(i, None)] if not isinstance(s.mixer, Parallel) else [(i, b) for b in range(len(s.mixer.branches))]:
            m = get_mixer(g, site)
            out.extend((i, site[1], f.name) for f in fields(m)
                       if f.name in ("feature_map", "decay", "activation") and getattr(m, f.name) is not None)
    return out


def get_expr(g: ArchGenome, site: ExprSite) -> Expr:
    i, b, name = site
    if name == "gate":
        return g.layers[i].gate
    return getattr(get_mixer(g, (i, b)), name)


def set_expr(g: ArchGenome, site: ExprSite, e: Expr) -> ArchGenome:
    i, b, name = site
    if name == "gate":
        return set_layer(g, i, replace(g.layers[i], gate=e))
    return set_mixer(g, (i, b), replace(get_mixer(g, (i, b)), **{name: e}))


def _role(name: str) -> tuple[str, ...]:
    return {"feature_map": GOOD_FEATURE_MAPS, "decay": GOOD_DECAYS, "activation": GOOD_ACTIVATIONS,
            "gate": GOOD_GATES}[name]


# --- mutation --------------------------------------------------------------------------------
def _point_hyper(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    """Change one scalar gene (heads, window, rope, kernel, expansion, norm, tied)."""
    choices: list[Callable[[], ArchGenome]] = [lambda: replace(g, tied=not g.tied)]
    for i, s in enumerate(g.layers):
        choices.append(lambda i=i, s=s: set_layer(g, i, replace(s, norm=_other(rng, NORMS, s.norm))))
    for site in mixer_sites(g):
        m = get_mixer(g, site)
        if isinstance(m, (Attention, LinearAttention, GatedLinearAttention, DeltaRule)):
            choices.append(lambda site=site, m=m: set_mixer(g, site, replace(m, heads=_other(rng, HEADS, m.heads))))
        if isinstance(m, Attention):
            choices.append(lambda site=site, m=m: set_mixer(g, site, replace(m, rope=not m.rope)))
            choices.append(lambda site=site, m=m: set_mixer(
                g, site, replace(m, window=_other(rng, (None,) + WINDOWS, m.window))))
        if isinstance(m, ShortConv):
            choices.append(lambda site=site, m=m: set_mixer(g, site, replace(m, kernel=_other(rng, KERNELS, m.kernel))))
        if isinstance(m, (MLP, GLU)):
            choices.append(lambda site=site, m=m: set_mixer(
                g, site, replace(m, expansion=_other(rng, EXPANSIONS, m.expansion))))
            choices.append(lambda site=site, m=m: set_mixer(g, site, (GLU if isinstance(m, MLP) else MLP)(
                m.expansion, m.activation)))
        if isinstance(m, DeltaRule):
            choices.append(lambda site=site, m=m: set_mixer(g, site, replace(
                m, decay=None if m.decay is not None else random_expr(rng, bounds, GOOD_DECAYS))))
    return _pick(rng, choices)()


def _other(rng: np.random.Generator, options: tuple, current: Any) -> Any:
    rest = [o for o in options if o != current]
    return _pick(rng, rest) if rest else current


def _point_expr(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    """Change one node of one expression to another op of the same arity (or another constant)."""
    sites = expr_sites(g)
    if not sites:
        return g
    site = _pick(rng, sites)
    e = get_expr(g, site)
    k = int(rng.integers(ex.size(e)))
    node = ex.nodes(e)[k]
    if len(node.args) == 1:
        new: Expr = ex.unary(_other(rng, ex.UNARY_OPS, node.op), *node.args)
    elif len(node.args) == 2:
        new = ex.binary(_other(rng, ex.BINARY_OPS, node.op), *node.args)
    elif node.op == ex.CONST:
        new = ex.const(_other(rng, ex.CONSTANTS, node.value))
    else:
        new = ex.unary(_pick(rng, ex.UNARY_OPS), node)  # x -> op(x)
    return set_expr(g, site, ex.replace_at(e, k, new))


def _subtree_expr(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    """Replace a random subtree of one expression with a fresh random tree."""
    sites = expr_sites(g)
    if not sites:
        return g
    site = _pick(rng, sites)
    e = get_expr(g, site)
    k = int(rng.integers(ex.size(e)))
    if k == 0:
        return set_expr(g, site, random_expr(rng, bounds, _role(site[2])))
    room = Bounds(bounds.max_sublayers, bounds.max_branches, max(1, bounds.expr_depth - 1), bounds.expr_size)
    return set_expr(g, site, ex.replace_at(e, k, ex.random_expr(rng, room.expr_depth)))


def _toggle_gate(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    i = int(rng.integers(len(g.layers)))
    s = g.layers[i]
    return set_layer(g, i, replace(s, gate=None if s.gate is not None else random_expr(rng, bounds, GOOD_GATES)))


def _replace_mixer(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    """Swap one mixer for a fresh one of the same kind (token for token, channel for channel)."""
    site = _pick(rng, mixer_sites(g))
    m = get_mixer(g, site)
    if is_token_mixer(m):
        new = random_token_mixer(rng, bounds, allow_parallel=site[1] is None)
    else:
        new = random_channel_mixer(rng, bounds)
    return set_mixer(g, site, new)


def _insert_sublayer(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    i = int(rng.integers(len(g.layers) + 1))
    s = random_sublayer(rng, bounds, token=bool(rng.random() < 0.5))
    return replace(g, layers=g.layers[:i] + (s,) + g.layers[i:])


def _delete_sublayer(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    if len(g.layers) < 2:
        return g
    i = int(rng.integers(len(g.layers)))
    return replace(g, layers=g.layers[:i] + g.layers[i + 1:])


def _wrap_parallel(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    """Wrap a token mixer into Parallel with a new branch, add a branch, or unwrap/drop one."""
    idx = [i for i, s in enumerate(g.layers) if is_token_mixer(s.mixer)]
    i = _pick(rng, idx)
    s = g.layers[i]
    if isinstance(s.mixer, Parallel):
        branches = s.mixer.branches
        if rng.random() < 0.5 and len(branches) < bounds.max_branches:
            new: Mixer = Parallel(branches + (random_token_mixer(rng, bounds, allow_parallel=False),))
        elif len(branches) > 2:
            drop = int(rng.integers(len(branches)))
            new = Parallel(branches[:drop] + branches[drop + 1:])
        else:
            new = _pick(rng, branches)  # unwrap
    else:
        other = random_token_mixer(rng, bounds, allow_parallel=False)
        new = Parallel((s.mixer, other) if rng.random() < 0.5 else (other, s.mixer))
    return set_layer(g, i, replace(s, mixer=new))


MUTATIONS: tuple[tuple[Callable, float], ...] = (
    (_point_hyper, 0.30), (_point_expr, 0.15), (_subtree_expr, 0.15), (_replace_mixer, 0.15),
    (_insert_sublayer, 0.07), (_delete_sublayer, 0.07), (_wrap_parallel, 0.06), (_toggle_gate, 0.05),
)


def mutate(g: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    """One random edit that keeps the genome well-typed and within bounds (and changes it)."""
    ops, weights = zip(*MUTATIONS)
    p = np.asarray(weights) / sum(weights)
    for _ in range(_TRIES):
        child = ops[int(rng.choice(len(ops), p=p))](g, rng, bounds)
        if child != g and _valid(child, bounds):
            return child
    return g  # pragma: no cover - only for degenerate bounds


# --- crossover -------------------------------------------------------------------------------
def _cross_layers(a: ArchGenome, b: ArchGenome, rng: np.random.Generator) -> ArchGenome:
    """One-point crossover of the sublayer lists: a's head, b's tail."""
    i = int(rng.integers(1, len(a.layers) + 1))
    j = int(rng.integers(0, len(b.layers) + 1))
    return replace(a, layers=a.layers[:i] + b.layers[j:])


def _cross_sublayer(a: ArchGenome, b: ArchGenome, rng: np.random.Generator) -> ArchGenome:
    return set_layer(a, int(rng.integers(len(a.layers))), _pick(rng, b.layers))


def _cross_mixer(a: ArchGenome, b: ArchGenome, rng: np.random.Generator) -> ArchGenome:
    """Replace one of a's mixers with a same-kind mixer of b (branches stay non-parallel)."""
    site = _pick(rng, mixer_sites(a))
    token = is_token_mixer(get_mixer(a, site))
    donors = [get_mixer(b, s) for s in mixer_sites(b)
              if is_token_mixer(get_mixer(b, s)) == token and not (site[1] is not None and isinstance(get_mixer(b, s), Parallel))]
    return set_mixer(a, site, _pick(rng, donors)) if donors else a


def _cross_expr(a: ArchGenome, b: ArchGenome, rng: np.random.Generator) -> ArchGenome:
    """Replace a subtree of one of a's expressions with a subtree of one of b's (same role if possible)."""
    sa, sb = expr_sites(a), expr_sites(b)
    if not sa or not sb:
        return a
    site = _pick(rng, sa)
    same = [s for s in sb if s[2] == site[2]] or sb
    donor = get_expr(b, _pick(rng, same))
    return set_expr(a, site, ex.ARCH.subtree_crossover(get_expr(a, site), donor, rng))


CROSSOVERS: tuple[tuple[Callable, float], ...] = (
    (_cross_layers, 0.3), (_cross_sublayer, 0.25), (_cross_mixer, 0.25), (_cross_expr, 0.2),
)


def crossover(a: ArchGenome, b: ArchGenome, rng: np.random.Generator, bounds: Bounds) -> ArchGenome:
    """A child of `a` that takes a type-compatible subtree (or a tail of sublayers) from `b`."""
    ops, weights = zip(*CROSSOVERS)
    p = np.asarray(weights) / sum(weights)
    fallback = a
    for _ in range(_TRIES):
        child = ops[int(rng.choice(len(ops), p=p))](a, b, rng)
        if _valid(child, bounds):
            if child != a and child != b:
                return child
            fallback = child
    return fallback


def _valid(g: ArchGenome, bounds: Bounds) -> bool:
    try:
        validate(g, bounds)
    except GenomeError:
        return False
    return True
