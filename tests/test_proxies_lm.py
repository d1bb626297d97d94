"""proxies.lm: the trainer learns, guards against NaN, is deterministic and vmappable; GPT is exact."""
import proxies  # noqa: F401  (sets XLA_FLAGS before jax starts)

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from proxies.blocks import count_params
from proxies.lm import GPT, LMConfig, eval_windows, make_train, measure, restore

CFG = LMConfig.tiny().replace(seq_len=16, batch_size=8, steps=60, eval_batches=2, lr=1e-2)
PERIOD = np.arange(23) * 7 % 64  # 23 distinct tokens: the next token is a function of the current one
TOKENS = np.tile(PERIOD, 400).astype(np.int32)


def gpt_fn(rngs):
    return GPT(64, 32, 1, 2, CFG.seq_len, rngs=rngs)


@pytest.fixture(scope="module")
def train():
    return make_train(CFG, gpt_fn, TOKENS, {"clean": TOKENS[:2000], "shifted": TOKENS[5:3000]})


def test_config_presets_and_replace():
    assert LMConfig.tiny().seq_len == 128 and LMConfig.tiny().batch_size == 16
    small = LMConfig.small()
    assert (small.seq_len, small.dtype) == (1024, "bfloat16") and 32 <= small.batch_size <= 64
    assert LMConfig.tiny().replace(steps=7).steps == 7 and LMConfig.tiny().steps == 200
    with pytest.raises(Exception):
        LMConfig.tiny().steps = 3  # frozen


def test_eval_windows_exact():
    cfg = LMConfig(seq_len=9, batch_size=2, eval_batches=2)
    w = eval_windows(np.arange(100), cfg)
    assert w.shape == (2, 2, 10) and w.dtype == np.int32
    np.testing.assert_array_equal(w[:, :, 0], [[0, 30], [60, 90]])
    np.testing.assert_array_equal(w[1, 1], np.arange(90, 100))
    with pytest.raises(ValueError):
        eval_windows(np.arange(5), cfg)


@pytest.mark.slow
def test_loss_falls_on_repetitive_stream_and_eval_is_deterministic(train):
    key = jax.random.key(0)
    out = train(key, CFG.steps)
    m = out["metrics"]
    losses = np.asarray(m["train_loss"])
    assert losses.shape == (CFG.steps,)
    assert losses[0] > 3.5  # ~ log(64) at initialisation
    assert losses[-5:].mean() < 0.5
    assert set(m["eval_loss"]) == {"clean", "shifted"}
    assert float(m["eval_loss"]["clean"]) < 0.5
    assert not bool(m["diverged"])
    again = train(key, CFG.steps)["metrics"]
    np.testing.assert_array_equal(again["train_loss"], losses)
    assert float(again["eval_loss"]["clean"]) == float(m["eval_loss"]["clean"])
    other = train(jax.random.key(1), CFG.steps)["metrics"]
    assert not np.array_equal(np.asarray(other["train_loss"]), losses)
    # the returned state rebuilds a model that predicts the stream
    model = restore(gpt_fn, out["state"])
    logits = model(jnp.asarray(TOKENS[None, :16]))
    np.testing.assert_array_equal(np.asarray(logits.argmax(-1))[0, :-1], TOKENS[1:16])


@pytest.mark.slow
def test_vmap_over_keys_matches_single_runs(train):
    keys = jax.random.split(jax.random.key(3), 2)
    out = jax.vmap(train, in_axes=(0, None))(keys, CFG.steps)
    assert out["metrics"]["train_loss"].shape == (2, CFG.steps)
    assert out["metrics"]["eval_loss"]["clean"].shape == (2,)
    for i in range(2):
        single = train(keys[i], CFG.steps)["metrics"]
        np.testing.assert_allclose(out["metrics"]["train_loss"][i], single["train_loss"], rtol=1e-3, atol=1e-3)


class _InfModel(nnx.Module):
    """A model whose logits are inf: every loss is NaN."""

    def __init__(self, rngs):
        self.embed = nnx.Embed(64, 8, rngs=rngs)

    def __call__(self, tokens):
        x = self.embed(tokens)
        return x.sum(-1, keepdims=True) * jnp.inf + jnp.zeros((64,))


def test_nan_guard_flags_divergence_and_keeps_finite_state():
    cfg = CFG.replace(steps=5)
    out = make_train(cfg, _InfModel, TOKENS, {"clean": TOKENS[:500]})(jax.random.key(0), cfg.steps)
    assert bool(out["metrics"]["diverged"])
    assert not np.isfinite(np.asarray(out["metrics"]["train_loss"])).any()
    leaves = jax.tree.leaves(out["state"]["params"])
    assert leaves and all(bool(jnp.all(jnp.isfinite(p))) for p in leaves)
    init = nnx.state(_InfModel(nnx.Rngs(jax.random.split(jax.random.key(0))[0])), nnx.Param)
    for a, b in zip(jax.tree.leaves(init), leaves):  # no update was ever applied
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_measure_reports_costs():
    cfg = CFG.replace(steps=5)
    r = measure(cfg, gpt_fn, TOKENS, {"clean": TOKENS[:500]}, jax.random.key(0), peak_flops=1e12)
    assert r["params"] == count_params(gpt_fn(nnx.Rngs(0)))
    assert r["train_loss"].shape == (5,) and not r["diverged"]
    assert r["compile_seconds"] > 0 and r["train_seconds"] > 0
    assert r["tokens_per_second"] == pytest.approx(5 * cfg.tokens_per_step / r["train_seconds"])
    # XLA's count of a train step is within a small factor of the 6N rule (attention adds some)
    assert 0.5 * r["flops_per_token_6n"] < r["flops_per_token"] < 10 * r["flops_per_token_6n"]
    assert r["mfu"] == pytest.approx(r["flops_per_token"] * r["tokens_per_second"] / 1e12)


def test_mfu_needs_a_known_peak():
    """MFU only against a peak the table knows; an unknown device or dtype reports None, not a guess."""
    from proxies.trainer import PEAK_FLOPS, peak_flops

    assert peak_flops("NVIDIA H100 80GB HBM3", "bfloat16") == PEAK_FLOPS["NVIDIA H100 80GB HBM3"]["bfloat16"]
    assert peak_flops("NVIDIA H100 80GB HBM3", "float32") is None
    assert peak_flops("cpu", "float32") is None
    r = measure(CFG.replace(steps=2), gpt_fn, TOKENS, {"clean": TOKENS[:500]}, jax.random.key(0))
    kind = getattr(jax.devices()[0], "device_kind", "cpu")
    if peak_flops(kind, CFG.dtype) is None:
        assert r["mfu"] is None and r["peak_flops"] is None
    else:
        assert 0 < r["mfu"] < 1


def test_gpt_param_count_causality_and_bf16():
    V, D, L, H, M = 64, 32, 2, 4, 16
    gpt = GPT(V, D, L, H, M, rngs=nnx.Rngs(0))
    per_block = 3 * D * D + D * D + 4 * D * D * 2 + 2 * (2 * D)  # qkv, proj, MLP, two LayerNorms
    assert count_params(gpt) == V * D + M * D + L * per_block + 2 * D
    tokens = jax.random.randint(jax.random.key(0), (2, M), 0, V)
    logits = gpt(tokens)
    assert logits.shape == (2, M, V) and logits.dtype == jnp.float32
    changed = gpt(tokens.at[:, 9:].set((tokens[:, 9:] + 1) % V))
    np.testing.assert_allclose(changed[:, :9], logits[:, :9], atol=1e-5)
    bf16 = GPT(V, D, L, H, M, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(bf16(tokens), logits, atol=0.05)


@pytest.mark.parametrize("steps", [1, 7, 15, 40, 100])
def test_schedule_matches_optax_warmup_cosine(steps):
    from optax import warmup_cosine_decay_schedule

    from proxies.lm import warmup_cosine

    warmup = max(1, round(0.1 * steps))
    ref = warmup_cosine_decay_schedule(0.0, 3e-3, warmup, max(steps, warmup + 1), 3e-4)
    ours = warmup_cosine(lr=3e-3, steps=jnp.int32(steps), warmup_frac=0.1, min_lr_frac=0.1)
    counts = np.arange(steps + 2)
    np.testing.assert_allclose([float(ours(c)) for c in counts], [float(ref(c)) for c in counts], rtol=1e-5, atol=1e-9)


def test_step_count_is_a_runtime_argument():
    """One compiled program serves every run length up to max_steps, and a short run inside the
    long buffer is the same run as a dedicated short trainer."""
    short = CFG.replace(steps=12)
    data = {"clean": TOKENS[:2000]}
    key = jax.random.key(3)
    roomy = make_train(short, gpt_fn, TOKENS, data, max_steps=CFG.steps)
    exact = make_train(short, gpt_fn, TOKENS, data)
    a, b = roomy(key, 12)["metrics"], exact(key, 12)["metrics"]
    assert a["train_loss"].shape == (CFG.steps,) and b["train_loss"].shape == (12,)
    np.testing.assert_allclose(a["train_loss"][:12], b["train_loss"], rtol=1e-5)
    assert np.isnan(np.asarray(a["train_loss"][12:])).all()
    np.testing.assert_allclose(a["eval_loss"]["clean"], b["eval_loss"]["clean"], rtol=1e-5)
    longer = roomy(key, 30)["metrics"]["train_loss"]
    assert np.isfinite(np.asarray(longer[:30])).all() and np.isnan(np.asarray(longer[30:])).all()
    assert roomy.func._cache_size() == 1  # 12 and 30 steps: one trace, one compilation
    with pytest.raises(ValueError, match="max_steps"):
        make_train(CFG, gpt_fn, TOKENS, data, max_steps=CFG.steps - 1)


def test_measure_returns_only_the_steps_run():
    out = measure(CFG.replace(steps=9), gpt_fn, TOKENS, {"clean": TOKENS[:2000]}, jax.random.key(0), max_steps=40)
    assert out["train_loss"].shape == (9,) and np.isfinite(out["train_loss"]).all()
