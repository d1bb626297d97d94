"""The operator table of the objective grammar: signatures (for typing) and jnp semantics.

Two types: `R` (a real per sample) and `B` (a boolean per sample, produced by comparisons and
consumed by `where`). Every operator is *protected* — finite for every finite input, with finite
derivatives — so that GP can compose them freely and a program interpreter may evaluate them
side by side; the protection is part of the documented meaning (see `grammar()` in domain.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp

from proxies.ppo import INPUT_NAMES

R, B = "R", "B"
EPS_DIV = 1e-3  # |denominator| is raised to at least this
EXP_MAX = 20.0  # exp argument is capped here
LOG1P_MIN = -0.99  # log1p argument is floored here


@dataclass(frozen=True)
class Op:
    name: str
    args: tuple[str, ...]  # argument types
    ret: str  # result type
    fn: Callable[..., jax.Array]  # jnp semantics over (B,) arrays; booleans are 0./1. floats
    doc: str


def _safe_div(x: jax.Array, y: jax.Array) -> jax.Array:
    y_safe = jnp.where(y >= 0, jnp.maximum(y, EPS_DIV), jnp.minimum(y, -EPS_DIV))
    return x / y_safe


def _bool(c: jax.Array) -> jax.Array:
    return c.astype(jnp.float32)


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("add", (R, R), R, lambda x, y: x + y, "x + y"),
        Op("sub", (R, R), R, lambda x, y: x - y, "x - y"),
        Op("mul", (R, R), R, lambda x, y: x * y, "x * y"),
        Op("div", (R, R), R, _safe_div, f"x / y, |y| raised to >= {EPS_DIV}"),
        Op("min", (R, R), R, jnp.minimum, "elementwise minimum"),
        Op("max", (R, R), R, jnp.maximum, "elementwise maximum"),
        Op("clip", (R, R, R), R, lambda x, lo, hi: jnp.minimum(jnp.maximum(x, lo), hi), "min(max(x, lo), hi)"),
        Op("neg", (R,), R, lambda x: -x, "-x"),
        Op("abs", (R,), R, jnp.abs, "|x|"),
        Op("square", (R,), R, jnp.square, "x * x"),
        Op("exp", (R,), R, lambda x: jnp.exp(jnp.minimum(x, EXP_MAX)), f"exp(min(x, {EXP_MAX}))"),
        Op("log1p", (R,), R, lambda x: jnp.log1p(jnp.maximum(x, LOG1P_MIN)), f"log(1 + max(x, {LOG1P_MIN}))"),
        Op("tanh", (R,), R, jnp.tanh, "tanh(x)"),
        Op("sigmoid", (R,), R, jax.nn.sigmoid, "1 / (1 + exp(-x))"),
        Op("sg", (R,), R, jax.lax.stop_gradient, "x, with no gradient flowing through it (stop-gradient)"),
        Op("where", (B, R, R), R, lambda c, x, y: jnp.where(c > 0.5, x, y), "x where c holds, else y"),
        Op("gt", (R, R), B, lambda x, y: _bool(x > y), "x > y"),
        Op("lt", (R, R), B, lambda x, y: _bool(x < y), "x < y"),
    ]
}
OP_NAMES: tuple[str, ...] = tuple(OPS)

INPUT_DOCS: dict[str, str] = {
    "ratio": "pi(a|s) / pi_old(a|s), the probability ratio (carries the policy gradient)",
    "logratio": "log pi(a|s) - log pi_old(a|s) (carries the policy gradient)",
    "adv": "GAE advantage, raw",
    "nadv": "GAE advantage after the genome's adv_norm (none / batch / minibatch)",
    "value": "the critic's current value V(s) (carries the value gradient)",
    "old_value": "V(s) when the data was collected",
    "ret": "return target (advantage + old value)",
    "entropy": "entropy of pi(.|s) (carries the policy gradient)",
    "kl": "k3 estimate of KL(pi_old || pi): (ratio - 1) - logratio, >= 0 (carries the policy gradient)",
}
assert tuple(INPUT_DOCS) == INPUT_NAMES
# Inputs that depend on the log-prob of the action taken: a policy-gradient objective needs one
# (entropy also moves the policy, but not towards better actions).
POLICY_INPUTS: frozenset[str] = frozenset({"ratio", "logratio", "kl"})
