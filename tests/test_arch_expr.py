"""The expression sub-grammar: exact values of compiled trees, forms, bounds."""
import domains  # noqa: F401  (sets XLA flags before JAX starts)

import math

import numpy as np
import pytest

from domains.arch import expr as ex
from domains.base import GenomeError

X = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=np.float32)


def _ref(name, v):
    v = v.astype(np.float64)
    sig = 1 / (1 + np.exp(-v))
    elu = np.where(v > 0, v, np.expm1(v))
    table = {
        "identity": v, "relu": np.maximum(v, 0), "elu1": elu + 1, "elu": elu, "exp": np.exp(v), "sigmoid": sig,
        "silu": v * sig, "softplus": np.log1p(np.exp(v)), "tanh": np.tanh(v), "square": v * v, "abs": np.abs(v),
        "neg": -v, "relu2": np.maximum(v, 0) ** 2, "sin": np.sin(v), "cos": np.cos(v), "logsigmoid": np.log(sig),
        "gelu": 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))),
    }
    return table[name]


@pytest.mark.parametrize("op", ex.UNARY_OPS)
def test_unary_ops_compile_to_exact_values(op):
    f = ex.compile_expr(ex.parse(f"{op}(x)"))
    np.testing.assert_allclose(np.asarray(f(X)), _ref(op, X), rtol=1e-5, atol=1e-6)


def test_nested_tree_value():
    # mul(sigmoid(x), add(x, 1.0)) at x = 2: sigmoid(2) * 3
    f = ex.compile_expr(ex.parse("mul(sigmoid(x), add(x, 1.0))"))
    assert float(f(np.float32(2.0))) == pytest.approx(3 / (1 + math.exp(-2)), rel=1e-6)
    g = ex.compile_expr(ex.parse("max(sub(x, 0.5), min(x, neg(x)))"))
    np.testing.assert_allclose(np.asarray(g(X)), np.maximum(X - 0.5, np.minimum(X, -X)), rtol=1e-6)


def test_constant_broadcasts_even_over_inf():
    f = ex.compile_expr(ex.parse("add(mul(x, 0.0), 2.0)"))
    assert np.asarray(f(X)).shape == X.shape
    h = ex.compile_expr(ex.binary("max", ex.X, ex.const(2.0)))
    np.testing.assert_array_equal(np.asarray(h(np.array([np.inf, 0.0], np.float32))), [np.inf, 2.0])


def test_decay_is_in_unit_interval_for_any_tree():
    z = np.linspace(-50, 50, 101, dtype=np.float32)
    for text in ["x", "neg(x)", "exp(exp(x))", "square(x)", "sub(x, 4.0)"]:
        a = np.asarray(ex.compile_decay(ex.parse(text))(z))
        assert np.all(a >= 0) and np.all(a <= 1) and np.all(np.isfinite(a))
    # sub(x, 4.0) at z = 0: exp(-softplus(-4)) = sigmoid(4)
    a0 = float(ex.compile_decay(ex.parse("sub(x, 4.0)"))(np.float32(0.0)))
    assert a0 == pytest.approx(1 / (1 + math.exp(-4)), rel=1e-6)


def test_text_and_json_round_trip():
    for text in ["x", "elu1(x)", "mul(sigmoid(x), x)", "add(exp(neg(x)), -0.5)", "min(x, 4.0)"]:
        e = ex.parse(text)
        assert ex.to_text(e) == text
        assert ex.from_json(ex.to_json(e)) == e


def test_structure_helpers():
    e = ex.parse("mul(sigmoid(x), add(x, 1.0))")
    assert ex.depth(e) == 3 and ex.size(e) == 6
    assert ex.op_histogram(e) == {"mul": 1, "sigmoid": 1, "x": 2, "add": 1, "const": 1}
    assert ex.to_text(ex.replace_at(e, 4, ex.parse("tanh(x)"))) == "mul(sigmoid(x), add(tanh(x), 1.0))"


@pytest.mark.parametrize("text, message", [
    ("evil(x)", "unknown operator"), ("add(x)", "add takes 2 arguments, got 1"),
    ("relu(x, x)", "relu takes 1 argument, got 2"), ("add(x, 0.3)", "not in"), ("relu(x) x", "trailing input"),
    ("__import__(x)", "unknown operator"), ("y", "unknown input 'y'"), ("relu", "needs its arguments"),
])
def test_parse_rejects_bad_text(text, message):
    with pytest.raises(GenomeError, match=message):
        ex.parse(text)


@pytest.mark.parametrize("data, message", [
    ({"type": "unary", "op": "eval", "arg": {"type": "var"}}, "unknown unary op"),
    ({"type": "lambda"}, "unknown expression type"),
    ({"type": "var", "extra": 1}, "needs fields"),
    ({"type": "const", "value": 0.3}, "not in"),
    ({"type": "const", "value": True}, "not in"),
])
def test_from_json_rejects_bad_nodes(data, message):
    with pytest.raises(GenomeError, match=message):
        ex.from_json(data)


def test_validate_bounds_and_dependence_on_x():
    ok = ex.parse("exp(exp(exp(x)))")
    ex.validate(ok, max_depth=4, max_size=9)
    with pytest.raises(GenomeError, match="depth 5"):
        ex.validate(ex.parse("exp(exp(exp(exp(x))))"), max_depth=4, max_size=9)
    with pytest.raises(GenomeError, match="size"):
        ex.validate(ex.parse("add(add(x, x), add(x, x))"), max_depth=4, max_size=5)
    with pytest.raises(GenomeError, match="does not depend on x"):
        ex.validate(ex.parse("exp(1.0)"), max_depth=4, max_size=9)


def test_random_trees_respect_depth():
    rng = np.random.default_rng(0)
    for _ in range(200):
        e = ex.random_expr(rng, 4)
        assert ex.depth(e) <= 4
        assert ex.parse(ex.to_text(e)) == e
