"""One expression-tree library for the domains that evolve formulas, parameterised by a primitive set.

arch writes element-wise functions of one input `x` (feature maps, decays, activations, gates); rl writes a
typed per-sample objective over PPO's inputs. Both are trees of the same frozen `Node`: an operator with its
argument nodes, an input (a leaf named by the language) or a constant. A `Language` (operators with argument
and result types, inputs, the constants it allows and draws) gives typing, the parser of the text form,
random typed trees and the GP operators; structure (size, depth, walk, replace), printing and the walk that
turns a tree into a callable need no language. Each domain keeps its own stored JSON form (arch: dict nodes,
rl: nested lists) in its own module, so genome ids and existing knowledge bases are unchanged.

Text form: inputs by name, constants as decimals, `op(e, ...)` for an operator, e.g. `mul(sigmoid(x), x)`.
Nothing here imports JAX, and nothing is ever executed as code: a tree is only walked against a whitelist.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from domains.base import GenomeError

CONST = "const"  # the op of a constant node
REAL = "R"  # the type of inputs and constants (an untyped language has only this one)


@dataclass(frozen=True)
class Node:
    op: str  # an operator name, an input name, or CONST
    args: tuple["Node", ...] = ()
    value: float = 0.0  # the constant's value when op == CONST

    def __repr__(self) -> str:
        return to_text(self)


@dataclass(frozen=True)
class Op:
    name: str
    args: tuple[str, ...]  # argument types
    ret: str  # result type
    doc: str = ""


# ---- structure (any language) ------------------------------------------------------------------
def size(node: Node) -> int:
    return 1 + sum(size(a) for a in node.args)


def depth(node: Node) -> int:
    """Leaves have depth 1."""
    return 1 + max((depth(a) for a in node.args), default=0)


def walk(node: Node, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Node]]:
    """Every subtree with its path (child indices from the root), pre-order."""
    yield path, node
    for i, a in enumerate(node.args):
        yield from walk(a, path + (i,))


def nodes(node: Node) -> list[Node]:
    """Pre-order list of all subtrees (index 0 is `node` itself)."""
    return [n for _, n in walk(node)]


def replace(node: Node, path: tuple[int, ...], new: Node) -> Node:
    """`node` with the subtree at `path` replaced by `new`."""
    if not path:
        return new
    i = path[0]
    args = node.args[:i] + (replace(node.args[i], path[1:], new),) + node.args[i + 1:]
    return Node(node.op, args, node.value)


def replace_at(node: Node, index: int, new: Node) -> Node:
    """`node` with its `index`-th pre-order subtree replaced by `new`."""
    return replace(node, [p for p, _ in walk(node)][index], new)


def histogram(node: Node) -> dict[str, int]:
    """How often each operator, input and `const` occurs."""
    out: dict[str, int] = {}
    for n in nodes(node):
        out[n.op] = out.get(n.op, 0) + 1
    return out


def to_text(node: Node) -> str:
    if node.op == CONST:
        return repr(float(node.value))
    if not node.args:
        return node.op
    return f"{node.op}({', '.join(to_text(a) for a in node.args)})"


def compile_tree(node: Node, ops: Mapping[str, Callable], leaf: Callable[[str], Callable],
                 const: Callable[[float], Callable]) -> Callable:
    """Walk the tree once into a function of the environment (an array, a dict of inputs...).

    `ops[name]` computes an operator from its arguments' values, `leaf(name)` and `const(value)` return
    functions of the environment; only names in `ops` are ever called (no eval, whitelist only)."""

    def build(n: Node) -> Callable:
        if n.op == CONST:
            return const(n.value)
        if not n.args:
            return leaf(n.op)
        f, parts = ops[n.op], [build(a) for a in n.args]
        return lambda env: f(*(p(env) for p in parts))

    return build(node)


# ---- the text form's reader ------------------------------------------------------------------
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class Parser:
    """Recursive descent over `name(args)`, inputs and numbers; a domain's genome parser reads its own
    calls (`attn(heads=4)`) with the same cursor and hands expressions to `expr`."""

    def __init__(self, text: str, language: "Language", i: int = 0):
        self.text, self.language, self.i = text, language, i

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
            found = self.text[self.i:self.i + 12] or "end of text"
            raise GenomeError(f"expected a name or number at position {self.i}, found {found!r}")
        w, self.i = self.text[self.i:j], j
        return w

    def expr(self) -> Node:
        lang = self.language
        w = self.word()
        if _NUMBER.fullmatch(w):
            return Node(CONST, (), lang.constant(float(w)))
        if self.peek() != "(":
            if w in lang.inputs:
                return Node(w)
            if w in lang.ops:
                raise GenomeError(f"operator {w} needs its arguments: {w}(...)")
            raise GenomeError(f"unknown input {w!r}; inputs: {', '.join(lang.inputs)}")
        if w not in lang.ops:
            raise GenomeError(f"unknown operator {w!r}; operators: {', '.join(lang.ops)}")
        self.i += 1
        args = [self.expr()]
        while self.peek() == ",":
            self.i += 1
            args.append(self.expr())
        if self.peek() != ")":
            if not self.peek():
                raise GenomeError(f"missing ')' after the arguments of {w}")
            raise GenomeError(f"unexpected character {self.peek()!r} at position {self.i} in {w}(...): "
                              f"expected ',' or ')'")
        self.i += 1
        want = len(lang.ops[w].args)
        if len(args) != want:
            raise GenomeError(f"{w} takes {want} argument{'s' * (want != 1)}, got {len(args)}")
        return Node(w, tuple(args))

    def end(self) -> None:
        """GenomeError unless only white space is left."""
        self.skip_ws()
        if self.i != len(self.text):
            raise GenomeError(f"trailing input at position {self.i} of {self.text!r}: {self.text[self.i:]!r}")


# ---- a language: its primitive set, and everything that depends on it ----------------------------
@dataclass(frozen=True, eq=False)
class Language:
    """A primitive set: typed operators, inputs (leaves of type REAL) and constants (REAL).

    `constant(v)` is a constant's canonical value (GenomeError if the language does not allow it);
    `constants` are what random trees and point mutations draw."""

    ops: Mapping[str, Op]
    inputs: tuple[str, ...]
    constants: tuple[float, ...]
    constant: Callable[[float], float]
    type_names: Mapping[str, str] = field(default_factory=dict)  # how errors name a type

    # ---- typing ---------------------------------------------------------------------------------
    def type_of(self, node: Any) -> str:
        """The node's type after checking the whole subtree; GenomeError if it is ill-formed or ill-typed."""
        if not isinstance(node, Node):
            raise GenomeError(f"not an expression node: {node!r}")
        if node.op == CONST:
            if node.args:
                raise GenomeError("a constant takes no arguments")
            self.constant(node.value)
            return REAL
        if node.op in self.inputs:
            if node.args:
                raise GenomeError(f"input {node.op!r} takes no arguments")
            return REAL
        if node.op not in self.ops:
            raise GenomeError(f"unknown operator or input {node.op!r}")
        op = self.ops[node.op]
        if len(node.args) != len(op.args):
            raise GenomeError(f"{op.name} takes {len(op.args)} arguments, got {len(node.args)}")
        for i, (arg, want) in enumerate(zip(node.args, op.args)):
            got = self.type_of(arg)
            if got != want:
                kind = self.type_names.get(want, f"of type {want}")
                raise GenomeError(f"argument {i + 1} of {op.name} must be {kind}, got {to_text(arg)}")
        return op.ret

    def node_type(self, node: Node) -> str:
        """Type without re-checking the subtree (for trees already known to be well-typed)."""
        return self.ops[node.op].ret if node.op in self.ops else REAL

    def ops_returning(self, t: str) -> list[str]:
        return [name for name, op in self.ops.items() if op.ret == t]

    # ---- text -----------------------------------------------------------------------------------
    def parse(self, text: str) -> Node:
        """The whole string as one well-typed tree; GenomeError with the reason otherwise."""
        if not text.strip():
            raise GenomeError("empty expression")
        p = Parser(text, self)
        node = p.expr()
        p.end()
        self.type_of(node)
        return node

    # ---- random trees ---------------------------------------------------------------------------
    def random_leaf(self, rng: np.random.Generator, p_const: float = 0.25) -> Node:
        if rng.random() < p_const:
            return Node(CONST, (), float(rng.choice(self.constants)))
        return Node(str(rng.choice(self.inputs)))

    def random_tree(self, rng: np.random.Generator, t: str = REAL, max_depth: int = 3, full: bool = False) -> Node:
        """Grow (or, with full=True, full) method; a non-REAL type is only made by operators."""
        leaf_now = max_depth <= 1 or (not full and rng.random() < 0.3)
        if t == REAL and leaf_now:
            return self.random_leaf(rng)
        name = str(rng.choice(self.ops_returning(t)))
        child_depth = max(max_depth - 1, 1)
        return Node(name, tuple(self.random_tree(rng, a, child_depth, full) for a in self.ops[name].args))

    # ---- GP operators (each keeps every argument's type) ----------------------------------------
    def pick(self, rng: np.random.Generator, node: Node, t: str | None = None) -> tuple[tuple[int, ...], Node]:
        """A uniformly drawn subtree (of type t, if given) with its path."""
        spots = [(p, n) for p, n in walk(node) if t is None or self.node_type(n) == t]
        return spots[int(rng.integers(len(spots)))]

    def subtree_mutation(self, node: Node, rng: np.random.Generator, max_depth: int = 3) -> Node:
        path, old = self.pick(rng, node)
        return replace(node, path, self.random_tree(rng, self.node_type(old), int(rng.integers(1, max_depth + 1))))

    def point_mutation(self, node: Node, rng: np.random.Generator) -> Node:
        """Swap one operator for another of the same signature, one input for another, or nudge a constant."""
        path, old = self.pick(rng, node)
        if old.op == CONST:
            if rng.random() < 0.1:
                return replace(node, path, Node(CONST, (), self.constant(-old.value)))
            scale = float(np.exp(rng.normal(0.0, 0.5)))
            new = old.value * scale if old.value != 0 else float(rng.choice(self.constants))
            return replace(node, path, Node(CONST, (), self.constant(new)))
        if not old.args:
            others = [n for n in self.inputs if n != old.op]
            if not others:
                return self.subtree_mutation(node, rng)
            return replace(node, path, Node(str(rng.choice(others))))
        sig = (self.ops[old.op].args, self.ops[old.op].ret)
        same = [n for n, o in self.ops.items() if (o.args, o.ret) == sig and n != old.op]
        if not same:
            return self.subtree_mutation(node, rng)
        return replace(node, path, Node(str(rng.choice(same)), old.args))

    def hoist_mutation(self, node: Node, rng: np.random.Generator) -> Node:
        """Replace a subtree by one of its own same-typed descendants (shrinks bloat)."""
        spots = [
            (path, inner)
            for path, old in walk(node)
            if (inner := [n for p, n in walk(old) if p and self.node_type(n) == self.node_type(old)])
        ]
        if not spots:
            return node
        path, inner = spots[int(rng.integers(len(spots)))]
        return replace(node, path, inner[int(rng.integers(len(inner)))])

    def wrap_mutation(self, node: Node, rng: np.random.Generator) -> Node:
        """Put an operator around a real-valued subtree: f(x), g(x, leaf) or g(leaf, x)."""
        path, old = self.pick(rng, node, REAL)
        name = str(rng.choice([n for n, o in self.ops.items() if o.ret == REAL and REAL in o.args]))
        op = self.ops[name]
        slot = int(rng.choice([i for i, a in enumerate(op.args) if a == REAL]))
        args = [old if i == slot else self.random_tree(rng, a, 1) for i, a in enumerate(op.args)]
        return replace(node, path, Node(name, tuple(args)))

    def subtree_crossover(self, a: Node, b: Node, rng: np.random.Generator) -> Node:
        """a with one subtree replaced by a same-typed subtree of b."""
        path, old = self.pick(rng, a)
        donors = [n for _, n in walk(b) if self.node_type(n) == self.node_type(old)]
        if not donors:
            return a
        return replace(a, path, donors[int(rng.integers(len(donors)))])

    @property
    def mutations(self) -> tuple[Callable[[Node, np.random.Generator], Node], ...]:
        return (self.subtree_mutation, self.point_mutation, self.hoist_mutation, self.wrap_mutation)
