"""Turning an objective tree into JAX: a direct tree walk, and a fixed-size program + interpreter.

`tree_fn(tree)` walks the tree once at trace time and returns a plain jnp function — the
reference semantics. `encode(tree, n)` flattens the tree to a postfix `Program` of arrays with
a fixed length n, and `run_program(program, inputs)` interprets it inside jit. Because the
program is *data*, the PPO trainer compiled once serves every objective of at most n nodes:
a new algorithm costs a run, not an XLA compilation (which takes seconds on CPU).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from domains.base import GenomeError
from domains.expr_tree import CONST, Node, compile_tree, size
from domains.rl.ops import EPS_DIV, EXP_MAX, INPUT_NAMES, LOG1P_MIN, OP_NAMES, OPS
from proxies import ppo

OP_INPUT, OP_CONST = 0, 1  # opcodes of leaves; operator i of OP_NAMES is opcode 2 + i


def _safe_div(x: jax.Array, y: jax.Array) -> jax.Array:
    return x / jnp.where(y >= 0, jnp.maximum(y, EPS_DIV), jnp.minimum(y, -EPS_DIV))


def _bool(c: jax.Array) -> jax.Array:
    return c.astype(jnp.float32)


# jnp semantics of every operator over (B,) arrays; booleans are 0./1. floats.
JNP: dict[str, Callable[..., jax.Array]] = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": _safe_div,
    "min": jnp.minimum,
    "max": jnp.maximum,
    "clip": lambda x, lo, hi: jnp.minimum(jnp.maximum(x, lo), hi),
    "neg": lambda x: -x,
    "abs": jnp.abs,
    "square": jnp.square,
    "exp": lambda x: jnp.exp(jnp.minimum(x, EXP_MAX)),
    "log1p": lambda x: jnp.log1p(jnp.maximum(x, LOG1P_MIN)),
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "sg": jax.lax.stop_gradient,
    "where": lambda c, x, y: jnp.where(c > 0.5, x, y),
    "gt": lambda x, y: _bool(x > y),
    "lt": lambda x, y: _bool(x < y),
}
assert tuple(JNP) == OP_NAMES, "program.JNP and ops.OPS list different operators"
assert INPUT_NAMES == ppo.INPUT_NAMES, "ops.INPUT_DOCS and proxies.ppo.INPUT_NAMES disagree"


def tree_fn(tree: Node) -> Callable[[dict[str, jax.Array]], jax.Array]:
    """Reference semantics: inputs (per-sample arrays) -> per-sample loss."""

    return compile_tree(tree, JNP, leaf=lambda name: lambda inputs: inputs[name],
                        const=lambda c: lambda inputs: jnp.full_like(inputs["adv"], c))


class Program(NamedTuple):
    """A postfix program: node k computes op[k] over nodes a[k], b[k], c[k] (all < k)."""

    op: np.ndarray  # (n,) int32 opcodes
    a: np.ndarray  # (n,) int32 first argument, or the input index for OP_INPUT
    b: np.ndarray  # (n,) int32
    c: np.ndarray  # (n,) int32
    value: np.ndarray  # (n,) float32 constants
    root: np.ndarray  # () int32 index of the result node


def encode(tree: Node, n: int) -> Program:
    """Flatten a tree into a program of exactly n slots (unused slots are zero constants)."""
    if size(tree) > n:
        raise GenomeError(f"objective has {size(tree)} nodes, the program holds {n}")
    op, args, value = [], [], []

    def emit(node: Node) -> int:
        kids = [emit(a) for a in node.args]
        if node.op == CONST:
            op.append(OP_CONST)
        elif not node.args:
            op.append(OP_INPUT)
            kids = [INPUT_NAMES.index(node.op)]
        else:
            op.append(2 + OP_NAMES.index(node.op))
        args.append((kids + [0, 0, 0])[:3])
        value.append(node.value if node.op == CONST else 0.0)
        return len(op) - 1

    root = emit(tree)
    pad = n - len(op)
    arr = np.asarray(args + [[0, 0, 0]] * pad, dtype=np.int32)
    return Program(
        op=np.asarray(op + [OP_CONST] * pad, dtype=np.int32),
        a=arr[:, 0], b=arr[:, 1], c=arr[:, 2],
        value=np.asarray(value + [0.0] * pad, dtype=np.float32),
        root=np.asarray(root, dtype=np.int32),
    )  # fmt: skip


def run_program(program: Program, inputs: dict[str, jax.Array]) -> jax.Array:
    """Interpret a program over per-sample inputs; differentiable, jit- and vmap-friendly."""
    program = Program(*(jnp.asarray(x) for x in program))
    leaves = jnp.stack([inputs[k] for k in INPUT_NAMES])  # (num_inputs, B)
    return _interpret(program, leaves)


# The gradient is hand-rolled (a reverse sweep over the nodes with each operator's own VJP) so
# that only the node values are kept for the backward pass — differentiating the forward loop
# would store every operator's residuals for every node.
@jax.custom_vjp
def _interpret(program: Program, leaves: jax.Array) -> jax.Array:
    return _forward(program, leaves)[program.root]


def _forward(program: Program, leaves: jax.Array) -> jax.Array:
    """All node values, (n, B)."""
    branches = [lambda x, y, z, v, i: leaves[i], lambda x, y, z, v, i: jnp.full_like(x, v)]
    branches += [_apply(JNP[name], len(OPS[name].args)) for name in OP_NAMES]
    n = program.op.shape[0]

    def body(k: jax.Array, buf: jax.Array) -> jax.Array:
        x, y, z = buf[program.a[k]], buf[program.b[k]], buf[program.c[k]]
        return buf.at[k].set(jax.lax.switch(program.op[k], branches, x, y, z, program.value[k], program.a[k]))

    return jax.lax.fori_loop(0, n, body, jnp.zeros((n,) + leaves.shape[1:], leaves.dtype))


def _interpret_fwd(program: Program, leaves: jax.Array) -> tuple[jax.Array, tuple]:
    buf = _forward(program, leaves)
    return buf[program.root], (program, leaves, buf)


def _interpret_bwd(res: tuple, g: jax.Array) -> tuple[None, jax.Array]:
    program, leaves, buf = res
    zero = jnp.zeros_like(g)
    # Each branch returns cotangents for (arg1, arg2, arg3, the input leaf).
    branches = [lambda x, y, z, gk: (zero, zero, zero, gk), lambda x, y, z, gk: (zero, zero, zero, zero)]
    branches += [_vjp(JNP[name], len(OPS[name].args), zero) for name in OP_NAMES]
    n = program.op.shape[0]

    def body(j: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        cot, leaf_cot = carry
        k = n - 1 - j
        a, b, c = program.a[k], program.b[k], program.c[k]
        gx, gy, gz, gl = jax.lax.switch(program.op[k], branches, buf[a], buf[b], buf[c], cot[k])
        return cot.at[a].add(gx).at[b].add(gy).at[c].add(gz), leaf_cot.at[a].add(gl)

    cot = jnp.zeros_like(buf).at[program.root].set(g)
    _, leaf_cot = jax.lax.fori_loop(0, n, body, (cot, jnp.zeros_like(leaves)))
    return None, leaf_cot


_interpret.defvjp(_interpret_fwd, _interpret_bwd)


def _apply(fn: Callable[..., jax.Array], arity: int) -> Callable[..., jax.Array]:
    return lambda x, y, z, v, i: fn(*(x, y, z)[:arity])


def _vjp(fn: Callable[..., jax.Array], arity: int, zero: jax.Array) -> Callable[..., tuple]:
    def branch(x: jax.Array, y: jax.Array, z: jax.Array, gk: jax.Array) -> tuple:
        grads = jax.vjp(fn, *(x, y, z)[:arity])[1](gk)
        return (*grads, *([zero] * (3 - arity)), zero)

    return branch


# ---- numerical health check on random batches ---------------------------------------------------
@jax.jit
def _probe(program: Program, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Loss and d loss / d log-prob on one random batch per scale (rows: advantage scales)."""

    def one(key: jax.Array, scale: jax.Array) -> tuple[jax.Array, jax.Array]:
        k = jax.random.split(key, 6)
        m = 256
        old = -jnp.abs(jax.random.normal(k[0], (m,))) - 0.1  # log-probs of the sampled actions
        adv = scale * jax.random.normal(k[2], (m,))
        value = scale * jax.random.normal(k[3], (m,))
        old_value = value + 0.1 * scale * jax.random.normal(k[4], (m,))
        entropy = jax.random.uniform(k[5], (m,), minval=0.05, maxval=0.7)

        def loss(log_prob: jax.Array) -> jax.Array:
            nadv = (adv - adv.mean()) / (adv.std() + 1e-8)
            ret = adv + old_value
            inputs = ppo.objective_inputs(log_prob, old, adv, nadv, value, old_value, ret, entropy, ppo.group_relative(ret))
            return jnp.broadcast_to(run_program(program, inputs), (m,)).mean()

        log_prob = old + 0.2 * jax.random.normal(k[1], (m,))
        return jax.value_and_grad(loss)(log_prob)

    scales = jnp.array([0.1, 1.0, 10.0, 100.0])
    return jax.vmap(one)(jax.random.split(key, scales.shape[0]), scales)


def check_program(program: Program, seed: int = 0) -> str | None:
    """Why the objective cannot train a policy (non-finite value or gradient, no gradient), or None."""
    values, grads = _probe(Program(*(jnp.asarray(x) for x in program)), jax.random.key(seed))
    values, grads = np.asarray(values), np.asarray(grads)
    if not np.all(np.isfinite(values)):
        return "objective is non-finite on random batches"
    if not np.all(np.isfinite(grads)):
        return "gradient w.r.t. the policy log-prob is non-finite on random batches"
    if not np.any(np.abs(grads) > 1e-9):
        return "gradient w.r.t. the policy log-prob is zero on random batches (the objective cannot move the policy)"
    return None
