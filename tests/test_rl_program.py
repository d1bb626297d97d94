"""Objective programs: interpreter == tree walk (values and gradients), exact values, health checks."""
from __future__ import annotations

import domains  # noqa: F401,I001  (sets XLA flags before JAX starts)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domains.base import GenomeError
from domains.rl import expr
from domains.rl.program import OP_CONST, check_program, encode, run_program, tree_fn
from proxies.ppo import INPUT_NAMES

N = 32
PPO = "neg(min(mul(ratio, nadv), mul(clip(ratio, 0.8, 1.2), nadv)))"


def _inputs(seed: int, m: int = 64) -> dict[str, jax.Array]:
    rng = np.random.default_rng(seed)
    return {k: jnp.asarray(rng.normal(size=m) * 2.0, jnp.float32) for k in INPUT_NAMES}


_run = jax.jit(run_program)
_grad_run = jax.jit(jax.grad(lambda x, p: run_program(p, x).sum()))


def test_encoding_is_postfix_with_padding():
    p = encode(expr.parse("mul(ratio, 0.5)"), 5)
    assert p.op.tolist() == [0, 1, 2 + list(expr.OPS).index("mul"), OP_CONST, OP_CONST]
    assert p.a.tolist()[:3] == [INPUT_NAMES.index("ratio"), 0, 0]
    assert p.b.tolist()[2] == 1
    assert p.value.tolist() == [0.0, 0.5, 0.0, 0.0, 0.0]
    assert int(p.root) == 2
    with pytest.raises(GenomeError, match="holds 2"):
        encode(expr.parse("mul(ratio, 0.5)"), 2)


def test_ppo_clip_exact_values():
    x = {k: jnp.zeros(4) for k in INPUT_NAMES}
    x["ratio"] = jnp.array([1.5, 1.5, 0.5, 1.0])
    x["nadv"] = jnp.array([1.0, -1.0, 1.0, 2.0])
    got = _run(encode(expr.parse(PPO), N), x)
    # -min(r A, clip(r) A): [-1.2, 1.5, -0.5, -2.0]
    np.testing.assert_allclose(np.asarray(got), [-1.2, 1.5, -0.5, -2.0], rtol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_interpreter_matches_the_tree_walk_in_value_and_gradient(seed):
    rng = np.random.default_rng(seed)
    x = _inputs(seed)
    checked = 0
    while checked < 25:
        tree = expr.random_tree(rng, expr.R, 5)
        if expr.size(tree) > N:
            continue
        checked += 1
        p = encode(tree, N)
        want = tree_fn(tree)(x)
        np.testing.assert_allclose(np.asarray(_run(p, x)), np.asarray(want), rtol=1e-5, atol=1e-5)
        g_want = jax.grad(lambda x: tree_fn(tree)(x).sum())(x)
        g_got = _grad_run(x, p)
        for k in INPUT_NAMES:
            np.testing.assert_allclose(np.asarray(g_got[k]), np.asarray(g_want[k]), rtol=1e-4, atol=1e-4, err_msg=k)


def test_protected_operators_stay_finite_on_wild_inputs():
    x = {k: jnp.array([0.0, -5.0, 100.0, 1e-9]) for k in INPUT_NAMES}
    for text in ["div(ratio, adv)", "exp(ratio)", "log1p(ratio)", "div(1.0, sub(adv, adv))"]:
        p = encode(expr.parse(text), N)
        assert np.all(np.isfinite(np.asarray(_run(p, x)))), text
        assert all(np.all(np.isfinite(np.asarray(g))) for g in _grad_run(x, p).values()), text


def test_stop_gradient_and_where_route_gradients():
    x = _inputs(9)
    g = _grad_run(x, encode(expr.parse("add(sg(ratio), mul(2.0, adv))"), N))
    assert float(jnp.abs(g["ratio"]).sum()) == 0.0
    np.testing.assert_allclose(np.asarray(g["adv"]), 2.0)
    g = _grad_run(x, encode(expr.parse("where(gt(adv, 0.0), ratio, kl)"), N))
    np.testing.assert_array_equal(np.asarray(g["ratio"]), np.asarray(x["adv"] > 0, np.float32))
    np.testing.assert_array_equal(np.asarray(g["kl"]), np.asarray(x["adv"] <= 0, np.float32))


@pytest.mark.parametrize(
    "text, reason",
    [
        (PPO, None),
        ("sub(mul(1.0, kl), mul(ratio, nadv))", None),
        ("neg(mul(sg(ratio), nadv))", "gradient w.r.t. the policy log-prob is zero"),
        ("mul(0.0, ratio)", "gradient w.r.t. the policy log-prob is zero"),
        ("square(square(square(exp(mul(100.0, ratio)))))", "objective is non-finite"),
    ],
)
def test_health_check_on_random_batches(text, reason):
    got = check_program(encode(expr.parse(text), N))
    assert got == reason if reason is None else reason in got
