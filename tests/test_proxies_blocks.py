"""proxies.blocks: chunked cores equal naive recurrences; every mixer is causal; shapes, grads, bf16."""
import proxies  # noqa: F401  (sets XLA_FLAGS before jax starts)

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from proxies import blocks as B

D, H, T = 16, 2, 11  # T deliberately not a multiple of the chunk
elu1 = lambda x: jax.nn.elu(x) + 1.0  # noqa: E731


def _rand(key, *shape):
    return jax.random.normal(jax.random.key(key), shape, jnp.float32)


# ------------------------------------------------------------------ naive recurrent references


def _ref_linear_attention(q, k, v, normalize, eps=1e-6):
    def one(q, k, v):  # (T, d) for one batch/head
        def step(c, x):
            S, z = c
            qt, kt, vt = x
            S, z = S + jnp.outer(kt, vt), z + kt
            o = qt @ S
            return (S, z), (o / (jnp.abs(qt @ z) + eps) if normalize else o)
        init = (jnp.zeros((q.shape[-1], v.shape[-1])), jnp.zeros(q.shape[-1]))
        return jax.lax.scan(step, init, (q, k, v))[1]
    return jax.vmap(jax.vmap(one))(q, k, v)


def _ref_gla(q, k, v, log_a):
    def one(q, k, v, la):
        def step(S, x):
            qt, kt, vt, lt = x
            S = jnp.exp(lt)[:, None] * S + jnp.outer(kt, vt)
            return S, qt @ S
        return jax.lax.scan(step, jnp.zeros((q.shape[-1], v.shape[-1])), (q, k, v, la))[1]
    return jax.vmap(jax.vmap(one))(q, k, v, log_a)


def _ref_delta(q, k, v, beta, log_a):
    def one(q, k, v, b, la):
        def step(S, x):
            qt, kt, vt, bt, lt = x
            S = jnp.exp(lt) * S
            S = S + bt * jnp.outer(kt, vt - kt @ S)
            return S, qt @ S
        return jax.lax.scan(step, jnp.zeros((q.shape[-1], v.shape[-1])), (q, k, v, b, la))[1]
    return jax.vmap(jax.vmap(one))(q, k, v, beta, log_a)


@pytest.mark.parametrize("chunk", [4, 64])
@pytest.mark.parametrize("normalize,fmap", [(True, elu1), (False, lambda x: x), (True, lambda x: x)])
def test_linear_attention_matches_recurrence(chunk, normalize, fmap):
    q, k, v = fmap(_rand(0, 2, H, T, 8)), fmap(_rand(1, 2, H, T, 8)), _rand(2, 2, H, T, 6)
    got = B.linear_attention(q, k, v, chunk=chunk, normalize=normalize)
    want = _ref_linear_attention(q, k, v, normalize)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("chunk", [4, 64])
@pytest.mark.parametrize("decay_scale", [0.1, 8.0])  # slow and very fast forgetting
def test_gla_matches_recurrence(chunk, decay_scale):
    q, k, v = _rand(0, 2, H, T, 8), _rand(1, 2, H, T, 8), _rand(2, 2, H, T, 6)
    log_a = -decay_scale * jax.random.uniform(jax.random.key(3), (2, H, T, 8))
    got = B.gated_linear_attention(q, k, v, log_a, chunk=chunk)
    np.testing.assert_allclose(got, _ref_gla(q, k, v, log_a), rtol=2e-4, atol=2e-4)


def _delta_inputs(b, h, t, dk, dv, gated, seed=0):
    q, k = B._l2norm(_rand(seed, b, h, t, dk)), B._l2norm(_rand(seed + 1, b, h, t, dk))
    v = _rand(seed + 2, b, h, t, dv)
    beta = jax.nn.sigmoid(_rand(seed + 3, b, h, t))
    log_a = -3.0 * jax.random.uniform(jax.random.key(seed + 4), (b, h, t)) if gated else jnp.zeros((b, h, t))
    return q, k, v, beta, log_a


@pytest.mark.parametrize("form", ["chunked", "recurrent", "auto"])
@pytest.mark.parametrize("chunk", [4, 64])
@pytest.mark.parametrize("gated", [False, True])
def test_delta_rule_matches_recurrence(chunk, gated, form):
    args = _delta_inputs(2, H, T, 8, 6, gated)
    got = B.delta_rule(*args, chunk=chunk, form=form)
    np.testing.assert_allclose(got, _ref_delta(*args), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("form", ["chunked", "recurrent"])
@pytest.mark.parametrize("t,dk,chunk", [(11, 8, 16), (37, 4, 16), (8, 2, 16), (21, 16, 8)])
def test_delta_rule_gradients_match_recurrence(form, t, dk, chunk):
    # one chunk (t <= chunk: the RL memory's window) and several, the last one short
    args = _delta_inputs(2, 3, t, dk, 5, gated=True, seed=t)
    w = _rand(9, 2, 3, t, 5)
    loss = lambda f: lambda *a: jnp.sum(w * f(*a))  # noqa: E731
    got = jax.jit(jax.grad(loss(lambda *a: B.delta_rule(*a, chunk=chunk, form=form)), argnums=range(5)))(*args)
    want = jax.jit(jax.grad(loss(_ref_delta), argnums=range(5)))(*args)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5 * float(jnp.abs(r).max()))


@pytest.mark.parametrize("c", [1, 5, 8, 16, 40])
def test_unit_lower_inverse_matches_numpy(c):
    N = np.tril(np.asarray(_rand(c, 3, c, c)), -1)
    L = jnp.asarray(np.eye(c, dtype=np.float32) + N)
    np.testing.assert_allclose(B._unit_lower_inverse(L), np.linalg.inv(np.asarray(L, np.float64)), rtol=1e-4,
                               atol=1e-4)


def test_delta_rule_rejects_unknown_form():
    with pytest.raises(ValueError, match="form"):
        B.delta_rule(*_delta_inputs(1, 1, 4, 2, 2, False), chunk=4, form="fast")


@pytest.mark.parametrize("chunk", [16, 40, 64])
def test_delta_rule_long_chunk_with_correlated_keys(chunk):
    # chunks not a power of two; nearly parallel keys make the triangular system ill-conditioned,
    # which breaks matrix-power (Neumann product) inverses
    Tl = 50
    base = _rand(5, 1, H, 1, 8)
    q, k = B._l2norm(_rand(0, 1, H, Tl, 8)), B._l2norm(base + 0.1 * _rand(1, 1, H, Tl, 8))
    v = _rand(2, 1, H, Tl, 6)
    beta = jax.nn.sigmoid(3.0 * _rand(3, 1, H, Tl))
    log_a = -0.05 * jax.random.uniform(jax.random.key(4), (1, H, Tl))
    got = B.delta_rule(q, k, v, beta, log_a, chunk=chunk, form="chunked")
    np.testing.assert_allclose(got, _ref_delta(q, k, v, beta, log_a), rtol=1e-4, atol=1e-4)


def test_attention_matches_naive_softmax_with_window():
    x = _rand(0, 2, T, D)
    m = B.CausalSelfAttention(D, H, window=3, rope=False, rngs=nnx.Rngs(0))
    q, k, v = jnp.split(m.qkv(x), 3, axis=-1)
    q, k, v = (a.reshape(2, T, H, D // H) for a in (q, k, v))
    logits = jnp.einsum("bthd,bshd->bhts", q, k) / np.sqrt(D // H)
    t, s = np.arange(T)[:, None], np.arange(T)[None, :]
    logits = jnp.where((s <= t) & (s > t - 3), logits, -jnp.inf)
    y = jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(logits, -1), v).reshape(2, T, D)
    np.testing.assert_allclose(m(x), m.out(y), rtol=1e-5, atol=1e-5)


def test_one_attention_module_for_gpt_and_the_rl_memory():
    """The reference GPT and the RL agent's default memory block use this module (no copies):
    the RL block with biases and GPT-2 init options, both causal."""
    from proxies.lm import GPT
    from proxies.ppo_nets import CausalSelfAttention as MemoryBlock

    gpt = GPT(32, D, 1, H, T, rngs=nnx.Rngs(0))
    memory = MemoryBlock(D, H, rngs=nnx.Rngs(0))
    assert isinstance(gpt.blocks[0].attn, B.CausalSelfAttention) and isinstance(memory.attn, B.CausalSelfAttention)
    assert memory.attn.qkv.bias is not None and gpt.blocks[0].attn.qkv.bias is None
    x = _rand(0, 2, T, D)
    changed = x.at[:, 5:].set(_rand(1, 2, T - 5, D))
    np.testing.assert_allclose(memory(changed)[:, :5], memory(x)[:, :5], rtol=1e-5, atol=1e-5)


def test_rope_preserves_norm_and_is_relative():
    x = _rand(0, 1, T, 1, 8)
    r = B.apply_rope(x)
    np.testing.assert_allclose(jnp.linalg.norm(r, axis=-1), jnp.linalg.norm(x, axis=-1), rtol=1e-5)
    # the same vector at positions (i, j) and (i+1, j+1) gives the same dot product
    y = jnp.broadcast_to(x[:, :1], x.shape)
    ry = B.apply_rope(y)[0, :, 0]
    np.testing.assert_allclose(ry[2] @ ry[5], ry[3] @ ry[6], rtol=1e-5)


# ------------------------------------------------------------------ modules

MIXERS = {
    "attention": lambda r, dt: B.CausalSelfAttention(D, H, dtype=dt, rngs=r),
    "sliding_window": lambda r, dt: B.CausalSelfAttention(D, H, window=4, dtype=dt, rngs=r),
    "linear": lambda r, dt: B.LinearAttention(D, H, feature_map=elu1, chunk=4, dtype=dt, rngs=r),
    "gla": lambda r, dt: B.GatedLinearAttention(D, H, feature_map=elu1, decay=jax.nn.sigmoid, chunk=4,
                                                dtype=dt, rngs=r),
    "deltanet": lambda r, dt: B.DeltaNet(D, H, feature_map=jax.nn.silu, chunk=4, dtype=dt, rngs=r),
    "gated_deltanet": lambda r, dt: B.DeltaNet(D, H, feature_map=jax.nn.silu, decay=jax.nn.sigmoid, chunk=4,
                                               dtype=dt, rngs=r),
    "short_conv": lambda r, dt: B.ShortConv(D, kernel_size=3, dtype=dt, rngs=r),
    "parallel": lambda r, dt: B.Parallel([B.ShortConv(D, dtype=dt, rngs=r),
                                          B.CausalSelfAttention(D, H, dtype=dt, rngs=r)], D, rngs=r),
    "mlp": lambda r, dt: B.MLP(D, expansion=2.0, activation=jax.nn.relu, dtype=dt, rngs=r),
    "glu": lambda r, dt: B.GLU(D, expansion=2.0, activation=jax.nn.silu, dtype=dt, rngs=r),
}


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_mixer_is_causal_and_shaped(name):
    m = MIXERS[name](nnx.Rngs(0), jnp.float32)
    x = _rand(0, 2, T, D)
    cut = 6
    x2 = x.at[:, cut:].add(_rand(1, 2, T - cut, D) * 3.0)
    y, y2 = m(x), m(x2)
    assert y.shape == (2, T, D)
    assert bool(jnp.all(jnp.isfinite(y)))
    np.testing.assert_allclose(y[:, :cut], y2[:, :cut], rtol=0, atol=1e-5)
    assert float(jnp.abs(y[:, cut:] - y2[:, cut:]).max()) > 1e-3  # the perturbation does reach later outputs


def test_sliding_window_limits_receptive_field():
    m = MIXERS["sliding_window"](nnx.Rngs(0), jnp.float32)  # window 4: t sees t-3..t
    x = _rand(0, 1, T, D)
    y, y2 = m(x), m(x.at[:, 2].add(5.0))
    changed = np.asarray(jnp.abs(y - y2).max(axis=(0, 2)) > 1e-6)
    np.testing.assert_array_equal(changed, [t in (2, 3, 4, 5) for t in range(T)])


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_mixer_runs_in_bfloat16(name):
    m32 = MIXERS[name](nnx.Rngs(0), jnp.float32)
    m16 = MIXERS[name](nnx.Rngs(0), jnp.bfloat16)
    x = _rand(0, 2, T, D)
    y32, y16 = m32(x), m16(x)
    assert y16.dtype == jnp.bfloat16
    for p in jax.tree.leaves(nnx.state(m16, nnx.Param)):
        assert p.dtype == jnp.float32  # params stay float32
    err = float(jnp.abs(y16.astype(jnp.float32) - y32).max()) / (float(jnp.abs(y32).max()) + 1e-6)
    assert err < 0.1


def test_short_conv_exact_values():
    m = B.ShortConv(1, kernel_size=3, rngs=nnx.Rngs(0))
    m.kernel[...] = jnp.array([[1.0], [10.0], [100.0]])  # [t-2, t-1, t]
    m.bias[...] = jnp.array([0.5])
    x = jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    np.testing.assert_allclose(m(x)[0, :, 0], [100.5, 210.5, 321.5, 432.5])


def test_parallel_is_weighted_sum_initialised_uniform():
    r = nnx.Rngs(0)
    a, b = B.ShortConv(D, rngs=r), B.MLP(D, rngs=r)
    p = B.Parallel([a, b], D, rngs=r)
    np.testing.assert_allclose(p.weights[...], [0.5, 0.5])
    x = _rand(0, 2, T, D)
    np.testing.assert_allclose(p(x), 0.5 * a(x) + 0.5 * b(x), rtol=1e-6, atol=1e-6)


def test_residual_with_and_without_gate():
    r = nnx.Rngs(0)
    inner = B.MLP(D, rngs=r)
    x = _rand(0, 2, T, D)
    plain = B.Residual(D, inner, norm="layer", rngs=r)
    np.testing.assert_allclose(plain(x), x + inner(plain.norm(x)), rtol=1e-6, atol=1e-6)
    gated = B.Residual(D, inner, gate=jax.nn.sigmoid, rngs=r)
    h = gated.norm(x)
    np.testing.assert_allclose(gated(x), x + inner(h) * jax.nn.sigmoid(gated.gate(h)), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        B.Residual(D, inner, norm="batch", rngs=r)


def test_count_params_exact():
    r = nnx.Rngs(0)
    assert B.count_params(B.MLP(4, expansion=2.0, rngs=r)) == 4 * 8 + 8 * 4
    assert B.count_params(B.GLU(4, expansion=2.0, rngs=r)) == 4 * 16 + 8 * 4
    assert B.count_params(B.ShortConv(4, kernel_size=3, rngs=r)) == 3 * 4 + 4
    assert B.count_params(B.CausalSelfAttention(8, 2, rngs=r)) == 4 * 8 * 8
    stack = B.SequenceStack([B.Residual(4, B.MLP(4, expansion=2.0, rngs=r), rngs=r)], 4, rngs=r)
    tied = B.LanguageModel(10, 4, 16, stack, rngs=r)
    assert B.count_params(tied) == 10 * 4 + (4 + 64) + 4
    untied = B.LanguageModel(10, 4, 16, stack, tied=False, rngs=r)
    assert B.count_params(untied) == B.count_params(tied) + 4 * 10


def _lm(dtype):
    r = nnx.Rngs(0)
    layers = [B.Residual(D, MIXERS[name](r, dtype), dtype=dtype, rngs=r)
              for name in ("attention", "gla", "gated_deltanet", "linear", "parallel", "glu")]
    return B.LanguageModel(64, D, 32, B.SequenceStack(layers, D, rngs=r), dtype=dtype, rngs=r)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_language_model_logits_grads_and_causality(dtype):
    lm = _lm(dtype)
    tokens = jax.random.randint(jax.random.key(0), (2, T), 0, 64)
    graphdef, state = nnx.split(lm)

    def loss(state, tokens):
        logits = nnx.merge(graphdef, state)(tokens)
        return -jnp.mean(jax.nn.log_softmax(logits)[:, :-1].max(-1)), logits

    (value, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(state, tokens)
    assert logits.shape == (2, T, 64) and logits.dtype == jnp.float32
    assert np.isfinite(float(value))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    other = tokens.at[:, 7:].set((tokens[:, 7:] + 1) % 64)
    np.testing.assert_allclose(lm(other)[:, :7], logits[:, :7], atol=1e-4 if dtype == jnp.float32 else 2e-2)
    with pytest.raises(ValueError):
        lm(jnp.zeros((1, 33), jnp.int32))
