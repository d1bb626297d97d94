"""The arch domain's expression language: element-wise functions of one variable `x`, on `domains.expr_tree`.

Feature maps, gates, activations and decays are written in it so that an LLM (or a GP operator) can compose
new element-wise operations without any free code ever being executed: a tree is only ever *walked*, against
a whitelist of operators, to build a `jnp` callable. The module itself is pure Python; `jax` is imported
lazily by `compile_expr` so that the driver never needs it.

Text form: `x`, a constant (`0.5`), `op(e)` for a unary op, `op(e, e)` for a binary op — e.g.
`mul(sigmoid(x), x)`. JSON form (what genome ids hash): every node is
`{"type": "var"|"const"|"unary"|"binary", ...fields}`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from domains.base import GenomeError
from domains.expr_tree import (  # noqa: F401  (the structure helpers are part of this module's API)
    CONST, REAL, Language, Node, Op, Parser, compile_tree, depth, histogram as op_histogram, nodes, replace_at,
    size, to_text,
)

# --- the whitelist ---------------------------------------------------------------------------
UNARY_OPS: tuple[str, ...] = (
    "identity", "relu", "elu1", "elu", "exp", "sigmoid", "silu", "gelu", "softplus",
    "tanh", "square", "abs", "neg", "relu2", "sin", "cos", "logsigmoid",
)
BINARY_OPS: tuple[str, ...] = ("add", "sub", "mul", "max", "min")
# Constants come from a fixed set: exact in JSON/text and enough to shift/scale.
CONSTANTS: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 4.0)


def _constant(v: float) -> float:
    if v not in CONSTANTS:
        raise GenomeError(f"constant {v!r} not in {CONSTANTS}")
    return float(v)


ARCH = Language({**{op: Op(op, (REAL,), REAL) for op in UNARY_OPS},
                 **{op: Op(op, (REAL, REAL), REAL) for op in BINARY_OPS}}, ("x",), CONSTANTS, _constant)
parse = ARCH.parse
Expr = Node
X = Node("x")


def unary(op: str, arg: Expr = X) -> Expr:
    return Node(op, (arg,))


def binary(op: str, left: Expr, right: Expr) -> Expr:
    return Node(op, (left, right))


def const(value: float) -> Expr:
    return Node(CONST, (), float(value))


def parser(text: str) -> Parser:
    """A cursor over `text` that reads expressions of this language (for the genome's text form)."""
    return Parser(text, ARCH)


def uses_x(e: Expr) -> bool:
    return any(n.op == "x" for n in nodes(e))


def validate(e: Any, *, max_depth: int, max_size: int, what: str = "expression") -> None:
    """Raise GenomeError unless `e` is a well-formed tree within the bounds."""
    try:
        ARCH.type_of(e)
    except GenomeError as err:
        raise GenomeError(f"{what}: {err}") from None
    if not uses_x(e):
        raise GenomeError(f"{what}: {to_text(e)} does not depend on x")
    if depth(e) > max_depth:
        raise GenomeError(f"{what}: depth {depth(e)} exceeds the bound {max_depth}")
    if size(e) > max_size:
        raise GenomeError(f"{what}: size {size(e)} exceeds the bound {max_size}")


# --- JSON ------------------------------------------------------------------------------------
def to_json(e: Expr) -> dict:
    if not isinstance(e, Node):
        raise GenomeError(f"not an expression: {e!r}")
    if e.op == "x":
        return {"type": "var"}
    if e.op == CONST:
        return {"type": "const", "value": e.value}
    if len(e.args) == 1:
        return {"type": "unary", "op": e.op, "arg": to_json(e.args[0])}
    if len(e.args) == 2:
        return {"type": "binary", "op": e.op, "left": to_json(e.args[0]), "right": to_json(e.args[1])}
    raise GenomeError(f"not an expression: {e!r}")


_FIELDS = {"var": set(), "const": {"value"}, "unary": {"op", "arg"}, "binary": {"op", "left", "right"}}


def from_json(d: Any) -> Expr:
    if not isinstance(d, dict) or "type" not in d:
        raise GenomeError(f"expression must be an object with a 'type', got {d!r}")
    kind = d["type"]
    if kind not in _FIELDS:
        raise GenomeError(f"unknown expression type {kind!r}; expected one of {sorted(_FIELDS)}")
    keys = set(d) - {"type"}
    if keys != _FIELDS[kind]:
        raise GenomeError(f"expression {kind!r} needs fields {sorted(_FIELDS[kind])}, got {sorted(keys)}")
    if kind == "var":
        return X
    if kind == "const":
        v = d["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) not in CONSTANTS:
            raise GenomeError(f"constant {v!r} not in {CONSTANTS}")
        return const(v)
    if not isinstance(d["op"], str):
        raise GenomeError(f"expression op must be a string, got {d['op']!r}")
    if kind == "unary":
        if d["op"] not in UNARY_OPS:
            raise GenomeError(f"unknown unary op {d['op']!r}; allowed: {', '.join(UNARY_OPS)}")
        return unary(d["op"], from_json(d["arg"]))
    if d["op"] not in BINARY_OPS:
        raise GenomeError(f"unknown binary op {d['op']!r}; allowed: {', '.join(BINARY_OPS)}")
    return binary(d["op"], from_json(d["left"]), from_json(d["right"]))


# --- random trees ----------------------------------------------------------------------------
def random_expr(rng: np.random.Generator, max_depth: int, *, p_leaf: float = 0.3) -> Expr:
    """A random tree of depth <= max_depth; leaves are mostly `x` so expressions stay useful.

    The arch domain's own distribution (unary 70%, a binary op drawn after its arguments): seeds of
    existing runs depend on this order of draws, so it is not the library's typed grow method."""
    if max_depth <= 1 or rng.random() < p_leaf:
        return X if rng.random() < 0.8 else const(float(rng.choice(CONSTANTS)))
    if rng.random() < 0.7:
        return unary(str(rng.choice(UNARY_OPS)), random_expr(rng, max_depth - 1, p_leaf=p_leaf + 0.2))
    left = random_expr(rng, max_depth - 1, p_leaf=p_leaf + 0.2)
    right = random_expr(rng, max_depth - 1, p_leaf=p_leaf + 0.2)
    return binary(str(rng.choice(BINARY_OPS)), left, right)


# --- compilation to JAX ----------------------------------------------------------------------
def _unary_table() -> dict[str, Callable]:
    import jax
    import jax.numpy as jnp

    return {
        "identity": lambda v: v,
        "relu": jax.nn.relu,
        "elu1": lambda v: jax.nn.elu(v) + 1.0,
        "elu": jax.nn.elu,
        "exp": jnp.exp,
        "sigmoid": jax.nn.sigmoid,
        "silu": jax.nn.silu,
        "gelu": jax.nn.gelu,
        "softplus": jax.nn.softplus,
        "tanh": jnp.tanh,
        "square": jnp.square,
        "abs": jnp.abs,
        "neg": jnp.negative,
        "relu2": lambda v: jnp.square(jax.nn.relu(v)),
        "sin": jnp.sin,
        "cos": jnp.cos,
        "logsigmoid": jax.nn.log_sigmoid,
    }


def _binary_table() -> dict[str, Callable]:
    import jax.numpy as jnp

    return {"add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "max": jnp.maximum, "min": jnp.minimum}


def compile_expr(e: Expr) -> Callable:
    """Build an element-wise `jnp` function by walking the tree (no eval, whitelist only)."""
    import jax.numpy as jnp

    return compile_tree(e, {**_unary_table(), **_binary_table()}, leaf=x_leaf,
                        const=lambda c: lambda v: jnp.full_like(v, c))  # x's shape and dtype, whatever x holds


def x_leaf(name: str) -> Callable:
    if name != "x":
        raise GenomeError(f"not an input of an arch expression: {name!r}")
    return lambda v: v


def compile_log_decay(e: Expr) -> Callable:
    """A decay in (0, 1) by construction, returned in log space: log a = -softplus(e(z)).

    Any tree is therefore a valid decay (a = sigmoid(-e(z))); working in log space
    keeps cumulative products of many decays finite.
    """
    import jax

    f = compile_expr(e)
    return lambda z: -jax.nn.softplus(f(z))


def compile_decay(e: Expr) -> Callable:
    """The decay itself, a = exp(-softplus(e(z))) in (0, 1)."""
    import jax.numpy as jnp

    g = compile_log_decay(e)
    return lambda z: jnp.exp(g(z))
