"""Typed expression trees for the per-sample objective: forms, typing, random trees and GP operators.

A tree is a frozen `Node`: an operator from `ops.OPS` with argument nodes, an input named in
`proxies.ppo.INPUT_NAMES`, or a constant. Text form is nested calls with decimal constants,
e.g. `neg(min(mul(ratio, nadv), mul(clip(ratio, 0.8, 1.2), nadv)))`; JSON form is
`["neg", ["min", ...]]` with inputs as strings and constants as numbers. Both parse back to
an equal tree. The GP operators are pure functions `(tree, rng) -> tree` that keep every
argument's type, so a mutated or recombined tree is always well-typed.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from domains.base import GenomeError
from domains.rl.ops import INPUT_NAMES, OPS, POLICY_INPUTS, B, R

CONST = "const"
# Constants a fresh random tree draws from (clipping ranges, coefficients, offsets).
NICE_CONSTANTS: tuple[float, ...] = (0.01, 0.1, 0.2, 0.5, 0.8, 1.0, 1.2, 2.0, 3.0)


@dataclass(frozen=True)
class Node:
    op: str  # an operator name, an input name, or "const"
    args: tuple["Node", ...] = ()
    value: float = 0.0  # the constant's value when op == "const"

    def __repr__(self) -> str:
        return to_text(self)


def const(v: float) -> Node:
    return Node(CONST, (), round_const(v))


def inp(name: str) -> Node:
    return Node(name)


def call(op: str, *args: Node) -> Node:
    return Node(op, tuple(args))


def round_const(v: float) -> float:
    """Constants keep 3 significant digits: readable text and exact round trips."""
    v = float(v)
    if not math.isfinite(v):
        raise GenomeError(f"non-finite constant {v!r}")
    return float(f"{v:.3g}") if v != 0 else 0.0


# ---- typing and structure --------------------------------------------------------------------
def type_of(node: Node) -> str:
    """The node's type after checking the whole subtree; GenomeError if ill-typed."""
    if node.op == CONST:
        if node.args or not math.isfinite(node.value):
            raise GenomeError(f"bad constant {node.value!r}")
        return R
    if node.op in INPUT_NAMES:
        if node.args:
            raise GenomeError(f"input {node.op!r} takes no arguments")
        return R
    if node.op not in OPS:
        raise GenomeError(f"unknown operator or input {node.op!r}")
    op = OPS[node.op]
    if len(node.args) != len(op.args):
        raise GenomeError(f"{op.name} takes {len(op.args)} arguments, got {len(node.args)}")
    for i, (arg, want) in enumerate(zip(node.args, op.args)):
        got = type_of(arg)
        if got != want:
            kind = "a comparison (gt/lt)" if want == B else "a real-valued expression"
            raise GenomeError(f"argument {i + 1} of {op.name} must be {kind}, got {to_text(arg)}")
    return op.ret


def size(node: Node) -> int:
    return 1 + sum(size(a) for a in node.args)


def depth(node: Node) -> int:
    return 1 + max((depth(a) for a in node.args), default=0)


def walk(node: Node, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Node]]:
    """Every subtree with its path (child indices from the root), pre-order."""
    yield path, node
    for i, a in enumerate(node.args):
        yield from walk(a, path + (i,))


def replace(node: Node, path: tuple[int, ...], new: Node) -> Node:
    if not path:
        return new
    i = path[0]
    args = node.args[:i] + (replace(node.args[i], path[1:], new),) + node.args[i + 1 :]
    return Node(node.op, args, node.value)


def node_type(node: Node) -> str:
    """Type without re-checking the subtree (for trees already known to be well-typed)."""
    return OPS[node.op].ret if node.op in OPS else R


def has_policy_gradient(node: Node) -> bool:
    """Static gradient-flow analysis: can the policy's log-prob reach the output?"""
    if node.op in POLICY_INPUTS:
        return True
    if node.op in ("sg", "gt", "lt") or not node.args:
        return False
    if node.op == "where":  # the condition is piecewise constant
        return has_policy_gradient(node.args[1]) or has_policy_gradient(node.args[2])
    return any(has_policy_gradient(a) for a in node.args)


# ---- text form -------------------------------------------------------------------------------
def to_text(node: Node) -> str:
    if node.op == CONST:
        return repr(float(node.value))
    if not node.args:
        return node.op
    return f"{node.op}({', '.join(to_text(a) for a in node.args)})"


_TOKEN = re.compile(r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<sym>[(),]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise GenomeError(f"unexpected character {text[pos]!r} at {pos} in {text!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse(text: str) -> Node:
    """Nested-call text -> a well-typed tree; GenomeError with the reason otherwise."""
    toks = _tokens(text)
    if not toks:
        raise GenomeError("empty expression")
    node, pos = _parse_at(toks, 0)
    if pos != len(toks):
        raise GenomeError(f"trailing input after expression: {' '.join(t for _, t in toks[pos:])!r}")
    type_of(node)
    return node


def _parse_at(toks: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    if pos >= len(toks):
        raise GenomeError("expression ends early")
    kind, tok = toks[pos]
    if kind == "num":
        return Node(CONST, (), round_const(float(tok))), pos + 1
    if kind != "name":
        raise GenomeError(f"expected a name or number, got {tok!r}")
    if pos + 1 < len(toks) and toks[pos + 1] == ("sym", "("):
        if tok not in OPS:
            raise GenomeError(f"unknown operator {tok!r}; operators: {', '.join(OPS)}")
        args, pos = [], pos + 2
        while True:
            arg, pos = _parse_at(toks, pos)
            args.append(arg)
            if pos >= len(toks):
                raise GenomeError(f"missing ')' after arguments of {tok}")
            if toks[pos] == ("sym", ")"):
                return Node(tok, tuple(args)), pos + 1
            if toks[pos] != ("sym", ","):
                raise GenomeError(f"expected ',' or ')' in {tok}(...), got {toks[pos][1]!r}")
            pos += 1
    if tok not in INPUT_NAMES:
        raise GenomeError(f"unknown input {tok!r}; inputs: {', '.join(INPUT_NAMES)}")
    return Node(tok), pos + 1


# ---- JSON form -------------------------------------------------------------------------------
def to_json(node: Node) -> Any:
    if node.op == CONST:
        return float(node.value)
    if not node.args:
        return node.op
    return [node.op, *(to_json(a) for a in node.args)]


def from_json(data: Any) -> Node:
    node = _from_json(data)
    type_of(node)
    return node


def _from_json(data: Any) -> Node:
    if isinstance(data, bool):
        raise GenomeError(f"bad expression element {data!r}")
    if isinstance(data, (int, float)):
        return Node(CONST, (), round_const(data))
    if isinstance(data, str):
        if data not in INPUT_NAMES:
            raise GenomeError(f"unknown input {data!r}")
        return Node(data)
    if isinstance(data, list) and data and isinstance(data[0], str):
        return Node(data[0], tuple(_from_json(a) for a in data[1:]))
    raise GenomeError(f"bad expression element {data!r}")


# ---- random trees ----------------------------------------------------------------------------
def _ops_returning(t: str) -> list[str]:
    return [name for name, op in OPS.items() if op.ret == t]


def random_leaf(rng: np.random.Generator) -> Node:
    if rng.random() < 0.25:
        return Node(CONST, (), float(rng.choice(NICE_CONSTANTS)))
    return Node(str(rng.choice(INPUT_NAMES)))


def random_tree(rng: np.random.Generator, t: str = R, max_depth: int = 3, full: bool = False) -> Node:
    """Grow (or, with full=True, full) method; comparisons are the only way to make a `B`."""
    leaf_now = max_depth <= 1 or (not full and rng.random() < 0.3)
    if t == R and leaf_now:
        return random_leaf(rng)
    name = str(rng.choice(_ops_returning(t)))
    child_depth = max(max_depth - 1, 1)
    return Node(name, tuple(random_tree(rng, a, child_depth, full) for a in OPS[name].args))


# ---- GP operators (each keeps every argument's type) --------------------------------------------
def _pick(rng: np.random.Generator, node: Node, t: str | None = None) -> tuple[tuple[int, ...], Node]:
    spots = [(p, n) for p, n in walk(node) if t is None or node_type(n) == t]
    return spots[int(rng.integers(len(spots)))]


def subtree_mutation(node: Node, rng: np.random.Generator, max_depth: int = 3) -> Node:
    path, old = _pick(rng, node)
    return replace(node, path, random_tree(rng, node_type(old), int(rng.integers(1, max_depth + 1))))


def point_mutation(node: Node, rng: np.random.Generator) -> Node:
    """Swap one operator for another of the same signature, one input for another, or nudge a constant."""
    path, old = _pick(rng, node)
    if old.op == CONST:
        if rng.random() < 0.1:
            return replace(node, path, Node(CONST, (), round_const(-old.value)))
        scale = float(np.exp(rng.normal(0.0, 0.5)))
        new = old.value * scale if old.value != 0 else float(rng.choice(NICE_CONSTANTS))
        return replace(node, path, Node(CONST, (), round_const(new)))
    if not old.args:
        others = [n for n in INPUT_NAMES if n != old.op]
        return replace(node, path, Node(str(rng.choice(others))))
    sig = (OPS[old.op].args, OPS[old.op].ret)
    same = [n for n, o in OPS.items() if (o.args, o.ret) == sig and n != old.op]
    if not same:
        return subtree_mutation(node, rng)
    return replace(node, path, Node(str(rng.choice(same)), old.args))


def hoist_mutation(node: Node, rng: np.random.Generator) -> Node:
    """Replace a subtree by one of its own same-typed descendants (shrinks bloat)."""
    spots = [
        (path, inner)
        for path, old in walk(node)
        if (inner := [n for p, n in walk(old) if p and node_type(n) == node_type(old)])
    ]
    if not spots:
        return node
    path, inner = spots[int(rng.integers(len(spots)))]
    return replace(node, path, inner[int(rng.integers(len(inner)))])


def wrap_mutation(node: Node, rng: np.random.Generator) -> Node:
    """Put an operator around a real-valued subtree: f(x), g(x, leaf) or g(leaf, x)."""
    path, old = _pick(rng, node, R)
    name = str(rng.choice([n for n, o in OPS.items() if o.ret == R and R in o.args]))
    op = OPS[name]
    slot = int(rng.choice([i for i, a in enumerate(op.args) if a == R]))
    args = [old if i == slot else random_tree(rng, a, 1) for i, a in enumerate(op.args)]
    return replace(node, path, Node(name, tuple(args)))


def subtree_crossover(a: Node, b: Node, rng: np.random.Generator) -> Node:
    """a with one subtree replaced by a same-typed subtree of b."""
    path, old = _pick(rng, a)
    donors = [n for _, n in walk(b) if node_type(n) == node_type(old)]
    if not donors:
        return a
    return replace(a, path, donors[int(rng.integers(len(donors)))])


MUTATIONS = (subtree_mutation, point_mutation, hoist_mutation, wrap_mutation)
