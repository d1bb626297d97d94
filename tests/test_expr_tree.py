"""The shared expression-tree library on its own: a third primitive set gets typing, parsing, printing,
random trees, GP operators and compilation without writing any of them (arch and rl are tested in their files)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from domains.base import GenomeError
from domains.expr_tree import (
    CONST, REAL, Language, Node, Op, compile_tree, depth, histogram, nodes, replace, replace_at, size, to_text, walk,
)

BOOL = "bool"
LANG = Language(
    {"plus": Op("plus", (REAL, REAL), REAL), "inv": Op("inv", (REAL,), REAL), "pos": Op("pos", (REAL,), BOOL),
     "pick": Op("pick", (BOOL, REAL, REAL), REAL)},
    ("a", "b"), (1.0, 2.0), lambda v: float(v) if math.isfinite(v) else _refuse(v), {BOOL: "a test"})


def _refuse(v: float) -> float:
    raise GenomeError(f"non-finite constant {v!r}")


def test_structure_and_text_round_trip():
    t = LANG.parse("pick(pos(a), plus(b, 2), inv(a))")
    assert to_text(t) == "pick(pos(a), plus(b, 2.0), inv(a))"
    assert (size(t), depth(t)) == (8, 3)
    assert [p for p, _ in walk(t)][:3] == [(), (0,), (0, 0)]
    assert histogram(t) == {"pick": 1, "pos": 1, "a": 2, "plus": 1, "b": 1, CONST: 1, "inv": 1}
    assert replace(t, (1, 1), Node("a")) == replace_at(t, 5, Node("a")) == LANG.parse("pick(pos(a), plus(b, a), inv(a))")
    assert nodes(t)[0] is t


@pytest.mark.parametrize("text, message", [
    ("pick(a, b, b)", "argument 1 of pick must be a test"), ("plus(pos(a), b)", "must be of type R"),
    ("plus(a)", "plus takes 2 arguments, got 1"), ("inv(a, b)", "inv takes 1 argument, got 2"),
    ("minus(a, b)", "unknown operator 'minus'"), ("plus(a, c)", "unknown input 'c'"), ("inv", "needs its arguments"),
    ("plus(a, b", "missing '\\)'"), ("plus(a; b)", "unexpected character ';'"), ("inv(a) b", "trailing input"),
    ("  ", "empty expression"), ("plus(a, 1e999)", "non-finite"),
])
def test_bad_text_is_refused_with_the_reason(text, message):
    with pytest.raises(GenomeError, match=message):
        LANG.parse(text)


def test_random_trees_and_every_gp_operator_keep_types():
    rng = np.random.default_rng(0)
    trees = [LANG.random_tree(rng, REAL, int(rng.integers(1, 5)), full=bool(rng.random() < 0.5)) for _ in range(100)]
    assert any(t.op == "pick" for t in trees) and any(t.op == CONST for t in trees)
    for t in trees:
        assert LANG.parse(to_text(t)) == t
        for op in LANG.mutations:
            assert LANG.type_of(op(t, rng)) == REAL
        assert LANG.type_of(LANG.subtree_crossover(t, trees[0], rng)) == REAL


def test_the_same_generator_state_gives_the_same_trees():
    def draw(seed: int) -> list[Node]:
        rng = np.random.default_rng(seed)
        t = LANG.random_tree(rng, REAL, 4)
        return [t] + [op(t, rng) for op in LANG.mutations]

    assert draw(3) == draw(3) and draw(3) != draw(4)


def test_compile_walks_the_tree_against_the_whitelist_only():
    f = compile_tree(LANG.parse("pick(pos(a), plus(b, 2), inv(a))"),
                     {"plus": lambda x, y: x + y, "inv": lambda x: 1 / x, "pos": lambda x: x > 0,
                      "pick": lambda c, x, y: x if c else y},
                     leaf=lambda name: lambda env: env[name], const=lambda c: lambda env: c)
    assert f({"a": 4.0, "b": 1.0}) == 3.0 and f({"a": -4.0, "b": 1.0}) == -0.25
    with pytest.raises(KeyError):
        compile_tree(Node("system", (Node("a"),)), {}, leaf=lambda n: lambda env: 0, const=lambda c: lambda env: c)
