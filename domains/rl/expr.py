"""The objective's language: the rl primitive set on `domains.expr_tree`, and the objective's stored JSON form.

A tree is a `Node`: an operator from `ops.OPS` with argument nodes, an input named in
`proxies.ppo.INPUT_NAMES`, or a constant (3 significant digits). Text form is nested calls with decimal
constants, e.g. `neg(min(mul(ratio, nadv), mul(clip(ratio, 0.8, 1.2), nadv)))`; JSON form is
`["neg", ["min", ...]]` with inputs as strings and constants as numbers. Both parse back to an equal tree.
The GP operators are the library's, pure functions `(tree, rng) -> tree` that keep every argument's type.
"""
from __future__ import annotations

import math
from typing import Any

from domains.base import GenomeError
from domains.expr_tree import CONST, Language, Node, depth, replace, size, to_text, walk  # noqa: F401
from domains.rl.ops import INPUT_NAMES, OPS, POLICY_INPUTS, B, R

# Constants a fresh random tree draws from (clipping ranges, coefficients, offsets).
NICE_CONSTANTS: tuple[float, ...] = (0.01, 0.1, 0.2, 0.5, 0.8, 1.0, 1.2, 2.0, 3.0)


def round_const(v: float) -> float:
    """Constants keep 3 significant digits: readable text and exact round trips."""
    v = float(v)
    if not math.isfinite(v):
        raise GenomeError(f"non-finite constant {v!r}")
    return float(f"{v:.3g}") if v != 0 else 0.0


RL = Language(OPS, INPUT_NAMES, NICE_CONSTANTS, round_const,
              type_names={B: "a comparison (gt/lt)", R: "a real-valued expression"})
type_of, node_type, parse = RL.type_of, RL.node_type, RL.parse
random_leaf, random_tree = RL.random_leaf, RL.random_tree
subtree_mutation, point_mutation, hoist_mutation, wrap_mutation = RL.mutations
subtree_crossover = RL.subtree_crossover
MUTATIONS = RL.mutations


def const(v: float) -> Node:
    return Node(CONST, (), round_const(v))


def inp(name: str) -> Node:
    return Node(name)


def call(op: str, *args: Node) -> Node:
    return Node(op, tuple(args))


def has_policy_gradient(node: Node) -> bool:
    """Static gradient-flow analysis: can the policy's log-prob reach the output?"""
    if node.op in POLICY_INPUTS:
        return True
    if node.op in ("sg", "gt", "lt") or not node.args:
        return False
    if node.op == "where":  # the condition is piecewise constant
        return has_policy_gradient(node.args[1]) or has_policy_gradient(node.args[2])
    return any(has_policy_gradient(a) for a in node.args)


# ---- JSON form (what genome ids hash) ------------------------------------------------------------
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
