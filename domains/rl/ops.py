"""The vocabulary of the objective grammar: inputs, operator signatures and their meaning.

Plain Python (the driver samples, mutates and checks genomes without JAX); the jnp semantics
live in `program.py`, which checks it implements exactly these names.

Two types: `R` (a real per sample) and `B` (a boolean per sample, produced by comparisons and
consumed by `where`). Every operator is *protected* — finite for every finite input, with finite
derivatives — so that GP can compose them freely; the protection is part of the documented
meaning (the `doc` strings below are what the LLM designer reads).
"""
from __future__ import annotations

from domains.expr_tree import REAL, Op

R, B = REAL, "B"
EPS_DIV = 1e-3  # |denominator| is raised to at least this
EXP_MAX = 20.0  # exp argument is capped here
LOG1P_MIN = -0.99  # log1p argument is floored here


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("add", (R, R), R, "x + y"),
        Op("sub", (R, R), R, "x - y"),
        Op("mul", (R, R), R, "x * y"),
        Op("div", (R, R), R, f"x / y, |y| raised to >= {EPS_DIV}"),
        Op("min", (R, R), R, "elementwise minimum"),
        Op("max", (R, R), R, "elementwise maximum"),
        Op("clip", (R, R, R), R, "min(max(x, lo), hi)"),
        Op("neg", (R,), R, "-x"),
        Op("abs", (R,), R, "|x|"),
        Op("square", (R,), R, "x * x"),
        Op("exp", (R,), R, f"exp(min(x, {EXP_MAX}))"),
        Op("log1p", (R,), R, f"log(1 + max(x, {LOG1P_MIN}))"),
        Op("tanh", (R,), R, "tanh(x)"),
        Op("sigmoid", (R,), R, "1 / (1 + exp(-x))"),
        Op("sg", (R,), R, "x, with no gradient flowing through it (stop-gradient)"),
        Op("where", (B, R, R), R, "x where c holds, else y"),
        Op("gt", (R, R), B, "x > y"),
        Op("lt", (R, R), B, "x < y"),
    ]
}
OP_NAMES: tuple[str, ...] = tuple(OPS)

# The per-sample inputs, in the order of proxies.ppo.INPUT_NAMES (program.py asserts it).
INPUT_DOCS: dict[str, str] = {
    "ratio": "pi(a|s) / pi_old(a|s), the probability ratio (carries the policy gradient)",
    "logratio": "log pi(a|s) - log pi_old(a|s) (carries the policy gradient)",
    "adv": "GAE advantage, raw",
    "nadv": "GAE advantage after the genome's adv_norm (none / batch / minibatch)",
    "value": "the critic's current value V(s) (carries the value gradient)",
    "old_value": "V(s) when the data was collected",
    "ret": "return target (advantage + old value)",
    "entropy": "entropy of pi(.|s) (moves the policy, but not towards better actions)",
    "kl": "k3 estimate of KL(pi_old || pi): (ratio - 1) - logratio, >= 0 (carries the policy gradient)",
    "gadv": "group-relative advantage (GRPO): ret normalised over the group of parallel rollouts at the same "
    "step, (ret - mean) / std; critic-free when gae_lambda = 1",
}
INPUT_NAMES: tuple[str, ...] = tuple(INPUT_DOCS)
# Inputs that depend on the log-prob of the action taken: a policy-gradient objective needs one.
POLICY_INPUTS: frozenset[str] = frozenset({"ratio", "logratio", "kl"})
