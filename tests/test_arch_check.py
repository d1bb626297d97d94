"""Compilation to NNX and the dynamic check: exact parameter counts, leaks and NaNs are caught."""
import domains  # noqa: F401

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from domains.arch import ArchDomain
from domains.arch import compile as comp
from domains.arch import genome as G
from domains.arch.describe import n_params
from proxies import blocks

DOMAIN = ArchDomain({"d_model": 32, "n_layers": 2, "check_seq_len": 40, "chunk": 16})


class LookAheadConv(nnx.Module):
    """Test-only, deliberately non-causal: mixes in the NEXT token (y_t = x_t + w * x_{t+1})."""

    def __init__(self, d_model: int, *, rngs: nnx.Rngs):
        self.w = nnx.Param(jnp.ones((d_model,)))

    def __call__(self, x):
        nxt = jnp.concatenate([x[:, 1:], jnp.zeros_like(x[:, :1])], axis=1)
        return x + self.w[...] * nxt


def test_param_count_matches_compiled_model():
    rng = np.random.default_rng(0)
    genomes = list(DOMAIN.baselines().values()) + [DOMAIN.sample(rng) for _ in range(12)]
    w = comp.Width(48, 2)
    for g in genomes:
        for tied in (True, False):
            g2 = dataclasses.replace(g, tied=tied)
            model = nnx.eval_shape(lambda: comp.model_fn(g2, w, vocab_size=97, max_len=64)(nnx.Rngs(0)))
            assert blocks.count_params(model) == n_params(g2, d_model=48, n_layers=2, vocab_size=97)


def test_provided_factories_have_the_contract_shapes():
    g = DOMAIN.parse("rms > par(conv(kernel=3), attn(heads=8, window=16)) > gate(sigmoid(x)) ; rms > glu()")
    lm = DOMAIN.provide("model_fn", g, vocab_size=50, max_len=24)(nnx.Rngs(0))
    assert nnx.jit(lambda m, t: m(t))(lm, jnp.zeros((2, 24), jnp.int32)).shape == (2, 24, 50)
    block = DOMAIN.provide("sequence_block", g, d_model=12, max_len=24)(nnx.Rngs(1))  # 8 heads -> 6 fit 12
    assert nnx.jit(lambda m, x: m(x))(block, jnp.ones((3, 24, 12))).shape == (3, 24, 12)
    with pytest.raises(KeyError):
        DOMAIN.provide("policy", g)


def test_dynamic_check_passes_a_baseline():
    # (not a delta-rule baseline: see docs/domains/arch.md, "Known issue", for an XLA CPU hang)
    assert DOMAIN.dynamic_check(DOMAIN.baselines()["gla"]).ok


def test_dynamic_check_catches_a_leaking_mixer(monkeypatch):
    g = DOMAIN.parse("rms > conv(kernel=4) ; rms > mlp(expansion=2.0)")
    assert DOMAIN.dynamic_check(g).ok
    monkeypatch.setitem(comp.BUILDERS, G.ShortConv, lambda m, w, rngs: LookAheadConv(w.d_model, rngs=rngs))
    res = DOMAIN.dynamic_check(g)
    assert not res.ok and "leaks the future" in res.reason


def test_dynamic_check_catches_non_finite_outputs():
    res = DOMAIN.dynamic_check(DOMAIN.parse("rms > linattn(heads=2, feature_map=exp(exp(exp(x))))"))
    assert not res.ok and "non-finite" in res.reason


def test_dynamic_check_catches_a_parameter_without_gradient():
    # relu(neg(abs(x))) is identically 0 <= 0 -> relu gives 0: q and k projections get no gradient.
    res = DOMAIN.dynamic_check(DOMAIN.parse("rms > linattn(heads=2, feature_map=relu(neg(abs(x)))) ; rms > mlp()"))
    assert not res.ok and "receives no gradient" in res.reason


def test_dynamic_check_reports_build_errors(monkeypatch):
    def broken(m, w, rngs):
        raise ValueError("no such kernel")
    monkeypatch.setitem(comp.BUILDERS, G.ShortConv, broken)
    res = DOMAIN.dynamic_check(DOMAIN.parse("rms > conv(kernel=4)"))
    assert not res.ok and res.reason.startswith("does not build") and "no such kernel" in res.reason
