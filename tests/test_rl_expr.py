"""Objective expression trees: text/JSON round trips, typing errors, GP operators keep types."""
from __future__ import annotations

import numpy as np
import pytest

import domains  # noqa: F401  (XLA flags before JAX starts)
from domains.base import GenomeError
from domains.rl import expr
from domains.rl.expr import B, R, Node, call, const, inp

PPO = "neg(min(mul(ratio, nadv), mul(clip(ratio, 0.8, 1.2), nadv)))"


def _random_trees(n: int, seed: int = 0) -> list[Node]:
    rng = np.random.default_rng(seed)
    return [expr.random_tree(rng, R, int(rng.integers(1, 6)), full=bool(rng.random() < 0.5)) for _ in range(n)]


def test_ppo_text_parses_to_the_expected_tree_and_back():
    tree = expr.parse(PPO)
    expected = call(
        "neg",
        call("min", call("mul", inp("ratio"), inp("nadv")),
             call("mul", call("clip", inp("ratio"), const(0.8), const(1.2)), inp("nadv"))),
    )  # fmt: skip
    assert tree == expected
    assert expr.to_text(tree) == PPO
    assert (expr.size(tree), expr.depth(tree)) == (11, 5)


@pytest.mark.parametrize("tree", _random_trees(200))
def test_text_and_json_round_trip(tree):
    assert expr.parse(expr.to_text(tree)) == tree
    assert expr.from_json(expr.to_json(tree)) == tree


def test_numbers_parse_in_every_usual_spelling():
    for text, value in [("2", 2.0), ("-0.5", -0.5), ("1e-3", 0.001), (".25", 0.25), ("+3.0", 3.0), ("1.23456", 1.23)]:
        assert expr.parse(f"add(ratio, {text})").args[1] == Node(expr.CONST, (), value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("foo(ratio)", "unknown operator 'foo'"),
        ("mul(ratio)", "mul takes 2 arguments, got 1"),
        ("where(ratio, adv, nadv)", "argument 1 of where must be a comparison"),
        ("add(gt(ratio, 1.0), adv)", "argument 1 of add must be a real-valued expression"),
        ("mul(ratio, advantage)", "unknown input 'advantage'"),
        ("mul(ratio, nadv", "missing '\\)'"),
        ("mul(ratio, nadv))", "trailing input"),
        ("mul(ratio; nadv)", "unexpected character ';'"),
        ("", "empty expression"),
    ],
)
def test_malformed_text_fails_with_the_reason(text, message):
    with pytest.raises(GenomeError, match=message):
        expr.parse(text)


def test_json_rejects_unknown_inputs_and_non_finite_constants():
    with pytest.raises(GenomeError, match="unknown input"):
        expr.from_json(["mul", "ratio", "advantage"])
    with pytest.raises(GenomeError, match="non-finite"):
        expr.from_json(["mul", "ratio", float("inf")])
    with pytest.raises(GenomeError, match="bad expression element"):
        expr.from_json(["mul", "ratio", True])


def test_constants_keep_three_significant_digits():
    assert [expr.round_const(v) for v in (0.123456, 1234.5, -0.000987654, 0.0)] == [0.123, 1230.0, -0.000988, 0.0]


@pytest.mark.parametrize(
    "text, flows",
    [
        (PPO, True),
        ("neg(mul(sg(ratio), nadv))", False),
        ("neg(entropy)", False),  # entropy moves the policy but not towards better actions
        ("where(gt(ratio, 1.0), adv, nadv)", False),  # comparisons are piecewise constant
        ("where(gt(adv, 0.0), mul(ratio, adv), adv)", True),
        ("add(kl, sg(logratio))", True),
    ],
)
def test_static_gradient_flow(text, flows):
    assert expr.has_policy_gradient(expr.parse(text)) is flows


def test_random_trees_are_well_typed_and_bool_trees_are_comparisons():
    rng = np.random.default_rng(1)
    for _ in range(100):
        assert expr.type_of(expr.random_tree(rng, R, 4)) == R
        assert expr.random_tree(rng, B, 3).op in ("gt", "lt")


@pytest.mark.parametrize("op", expr.MUTATIONS, ids=lambda f: f.__name__)
def test_mutations_keep_every_argument_well_typed(op):
    rng = np.random.default_rng(2)
    changed = 0
    for tree in _random_trees(150, seed=3):
        out = op(tree, rng)
        assert expr.type_of(out) == R
        changed += out != tree
    assert changed > 50


def test_point_mutation_swaps_an_operator_for_one_with_the_same_signature():
    rng = np.random.default_rng(4)
    tree = expr.parse("min(ratio, adv)")
    seen = {expr.point_mutation(tree, rng).op for _ in range(200)}
    assert {"add", "sub", "mul", "div", "max"} <= seen  # binary R ops replace the root
    assert "clip" not in seen and "neg" not in seen


def test_hoist_shrinks_and_wrap_grows():
    rng = np.random.default_rng(5)
    for tree in _random_trees(100, seed=6):
        assert expr.size(expr.hoist_mutation(tree, rng)) <= expr.size(tree)
        assert expr.size(expr.wrap_mutation(tree, rng)) > expr.size(tree)


def test_crossover_grafts_a_same_typed_subtree_of_the_other_parent():
    rng = np.random.default_rng(7)
    a, b = expr.parse(PPO), expr.parse("where(lt(adv, 0.0), mul(kl, 3.0), neg(logratio))")
    donors = {n for _, n in expr.walk(b)}
    for _ in range(100):
        child = expr.subtree_crossover(a, b, rng)
        assert expr.type_of(child) == R
        assert any(n in donors for _, n in expr.walk(child))
