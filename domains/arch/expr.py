"""A small typed expression language over one variable `x`.

Feature maps, gates, activations and decays are written in it so that an LLM
(or a GP operator) can compose new element-wise operations without any free
code ever being executed: a tree is only ever *walked*, against a whitelist of
operators, to build a `jnp` callable. The module itself is pure Python; `jax`
is imported lazily by `compile_expr` so that the driver never needs it.

Text form: `x`, a constant (`0.5`), `op(e)` for a unary op, `op(e, e)` for a
binary op — e.g. `mul(sigmoid(x), x)`. JSON form: every node is
`{"type": "var"|"const"|"unary"|"binary", ...fields}`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np

from domains.base import GenomeError

# --- the whitelist ---------------------------------------------------------------------------
# Each op maps to a function of the `jnp` namespace-like object `j` and `jax.nn` as `nn`,
# resolved lazily so this table stays importable without JAX.
UNARY_OPS: tuple[str, ...] = (
    "identity", "relu", "elu1", "elu", "exp", "sigmoid", "silu", "gelu", "softplus",
    "tanh", "square", "abs", "neg", "relu2", "sin", "cos", "logsigmoid",
)
BINARY_OPS: tuple[str, ...] = ("add", "sub", "mul", "max", "min")
# Constants come from a fixed set: exact in JSON/text and enough to shift/scale.
CONSTANTS: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Var:
    """The input `x`."""


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Unary:
    op: str
    arg: "Expr"


@dataclass(frozen=True)
class Binary:
    op: str
    left: "Expr"
    right: "Expr"


Expr = Union[Var, Const, Unary, Binary]
X = Var()


def unary(op: str, arg: Expr = X) -> Unary:
    return Unary(op, arg)


# --- structure -------------------------------------------------------------------------------
def children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, Unary):
        return (e.arg,)
    if isinstance(e, Binary):
        return (e.left, e.right)
    return ()


def depth(e: Expr) -> int:
    """Leaves have depth 1."""
    return 1 + max((depth(c) for c in children(e)), default=0)


def size(e: Expr) -> int:
    return 1 + sum(size(c) for c in children(e))


def nodes(e: Expr) -> list[Expr]:
    """Pre-order list of all subtrees (index 0 is `e` itself)."""
    out = [e]
    for c in children(e):
        out.extend(nodes(c))
    return out


def replace_at(e: Expr, index: int, new: Expr) -> Expr:
    """Return `e` with its `index`-th pre-order subtree replaced by `new`."""
    if index == 0:
        return new
    index -= 1
    if isinstance(e, Unary):
        return Unary(e.op, replace_at(e.arg, index, new))
    if isinstance(e, Binary):
        n_left = size(e.left)
        if index < n_left:
            return Binary(e.op, replace_at(e.left, index, new), e.right)
        return Binary(e.op, e.left, replace_at(e.right, index - n_left, new))
    raise IndexError("subtree index out of range")


def op_histogram(e: Expr) -> dict[str, int]:
    """Counts of every op name (and `x`, `const`) in the tree."""
    hist: dict[str, int] = {}
    for n in nodes(e):
        key = n.op if isinstance(n, (Unary, Binary)) else ("x" if isinstance(n, Var) else "const")
        hist[key] = hist.get(key, 0) + 1
    return hist


def validate(e: Any, *, max_depth: int, max_size: int, what: str = "expression") -> None:
    """Raise GenomeError unless `e` is a well-formed tree within the bounds."""
    for n in nodes(e) if isinstance(e, (Var, Const, Unary, Binary)) else [e]:
        if isinstance(n, Var):
            continue
        if isinstance(n, Const):
            if n.value not in CONSTANTS:
                raise GenomeError(f"{what}: constant {n.value!r} not in {CONSTANTS}")
        elif isinstance(n, Unary):
            if n.op not in UNARY_OPS:
                raise GenomeError(f"{what}: unknown unary op {n.op!r}; allowed: {', '.join(UNARY_OPS)}")
        elif isinstance(n, Binary):
            if n.op not in BINARY_OPS:
                raise GenomeError(f"{what}: unknown binary op {n.op!r}; allowed: {', '.join(BINARY_OPS)}")
        else:
            raise GenomeError(f"{what}: not an expression node: {n!r}")
    if not uses_x(e):
        raise GenomeError(f"{what}: {to_text(e)} does not depend on x")
    if depth(e) > max_depth:
        raise GenomeError(f"{what}: depth {depth(e)} exceeds the bound {max_depth}")
    if size(e) > max_size:
        raise GenomeError(f"{what}: size {size(e)} exceeds the bound {max_size}")


def uses_x(e: Expr) -> bool:
    return any(isinstance(n, Var) for n in nodes(e))


# --- JSON ------------------------------------------------------------------------------------
def to_json(e: Expr) -> dict:
    if isinstance(e, Var):
        return {"type": "var"}
    if isinstance(e, Const):
        return {"type": "const", "value": e.value}
    if isinstance(e, Unary):
        return {"type": "unary", "op": e.op, "arg": to_json(e.arg)}
    if isinstance(e, Binary):
        return {"type": "binary", "op": e.op, "left": to_json(e.left), "right": to_json(e.right)}
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
        return Const(float(v))
    if not isinstance(d["op"], str):
        raise GenomeError(f"expression op must be a string, got {d['op']!r}")
    if kind == "unary":
        if d["op"] not in UNARY_OPS:
            raise GenomeError(f"unknown unary op {d['op']!r}; allowed: {', '.join(UNARY_OPS)}")
        return Unary(d["op"], from_json(d["arg"]))
    if d["op"] not in BINARY_OPS:
        raise GenomeError(f"unknown binary op {d['op']!r}; allowed: {', '.join(BINARY_OPS)}")
    return Binary(d["op"], from_json(d["left"]), from_json(d["right"]))


# --- text ------------------------------------------------------------------------------------
def to_text(e: Expr) -> str:
    if isinstance(e, Var):
        return "x"
    if isinstance(e, Const):
        return repr(e.value)
    if isinstance(e, Unary):
        return f"{e.op}({to_text(e.arg)})"
    if isinstance(e, Binary):
        return f"{e.op}({to_text(e.left)}, {to_text(e.right)})"
    raise GenomeError(f"not an expression: {e!r}")


def parse(text: str) -> Expr:
    """Parse the text form; the whole string must be one expression."""
    p = _Parser(text)
    e = p.expr()
    p.skip_ws()
    if p.i != len(text):
        raise GenomeError(f"unexpected text after expression at {p.i}: {text[p.i:]!r}")
    return e


class _Parser:
    """Recursive descent over `name(args)`, `x`, numbers; shared with the genome parser."""

    def __init__(self, text: str, i: int = 0):
        self.text, self.i = text, i

    def skip_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.i] if self.i < len(self.text) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            found = self.text[self.i:self.i + 12] or "end of text"
            raise GenomeError(f"expected {ch!r} at position {self.i}, found {found!r}")
        self.i += 1

    def word(self) -> str:
        self.skip_ws()
        j = self.i
        while j < len(self.text) and (self.text[j].isalnum() or self.text[j] in "_.-+"):
            j += 1
        if j == self.i:
            raise GenomeError(f"expected a name or number at position {self.i}: {self.text[self.i:self.i + 12]!r}")
        w, self.i = self.text[self.i:j], j
        return w

    def expr(self) -> Expr:
        w = self.word()
        if w == "x":
            return X
        if _is_number(w):
            v = float(w)
            if v not in CONSTANTS:
                raise GenomeError(f"constant {w} not in {CONSTANTS}")
            return Const(v)
        if w not in UNARY_OPS and w not in BINARY_OPS:
            raise GenomeError(
                f"unknown op {w!r} in expression; unary: {', '.join(UNARY_OPS)}; binary: {', '.join(BINARY_OPS)}")
        self.expect("(")
        first = self.expr()
        if w in UNARY_OPS:
            self.expect(")")
            return Unary(w, first)
        self.expect(",")
        second = self.expr()
        self.expect(")")
        return Binary(w, first, second)


def _is_number(w: str) -> bool:
    try:
        return math.isfinite(float(w))
    except ValueError:
        return False


# --- random trees ----------------------------------------------------------------------------
def random_expr(rng: np.random.Generator, max_depth: int, *, p_leaf: float = 0.3) -> Expr:
    """A random tree of depth <= max_depth; leaves are mostly `x` so expressions stay useful."""
    if max_depth <= 1 or rng.random() < p_leaf:
        return X if rng.random() < 0.8 else Const(float(rng.choice(CONSTANTS)))
    if rng.random() < 0.7:
        return Unary(str(rng.choice(UNARY_OPS)), random_expr(rng, max_depth - 1, p_leaf=p_leaf + 0.2))
    left = random_expr(rng, max_depth - 1, p_leaf=p_leaf + 0.2)
    right = random_expr(rng, max_depth - 1, p_leaf=p_leaf + 0.2)
    return Binary(str(rng.choice(BINARY_OPS)), left, right)


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

    un, bi = _unary_table(), _binary_table()

    def build(n: Expr) -> Callable:
        if isinstance(n, Var):
            return lambda v: v
        if isinstance(n, Const):
            c = n.value
            return lambda v: jnp.full_like(v, c)  # x's shape and dtype, whatever x holds
        if isinstance(n, Unary):
            f, a = un[n.op], build(n.arg)
            return lambda v: f(a(v))
        if isinstance(n, Binary):
            f, a, b = bi[n.op], build(n.left), build(n.right)
            return lambda v: f(a(v), b(v))
        raise GenomeError(f"not an expression: {n!r}")

    return build(e)


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
