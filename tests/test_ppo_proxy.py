"""The PPO proxy: exact pure functions, environments, and short jitted runs (guard, lr, chunking)."""
from __future__ import annotations

import proxies  # noqa: F401,I001  (sets XLA flags before JAX starts)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from domains.rl.evaluate import algo_of as _algo, seed_keys as _seed_keys
from domains.rl import RLGenome
from domains.rl import genome as G
from domains.rl.genome import baselines
from domains.rl.program import encode, run_program
from proxies.envs import make_env
from proxies.ppo import (
    PPOConfig, Transition, _gae, _group_normalise, group_relative, make_train, objective_inputs, random_return,
)
from proxies.ppo_nets import mlp_network

TINY = PPOConfig(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 3, eval_envs=4)


def test_gae_exact_values():
    ones = jnp.ones((3, 1))
    traj = Transition(
        window=jnp.zeros((3, 1, 1, 1)), action=jnp.zeros((3, 1), jnp.int32), log_prob=jnp.zeros((3, 1)),
        value=0.5 * ones, reward=ones, done=jnp.array([[0.0], [1.0], [0.0]]), ep_return=jnp.zeros((3, 1)),
    )  # fmt: skip
    adv, ret = _gae(traj, jnp.array([2.0]), gamma=0.9, lam=0.8)
    # t=2: 1 + .9*2 - .5 = 2.3; t=1 (episode ends): 1 - .5 = .5; t=0: (1 + .9*.5 - .5) + .9*.8*.5 = 1.31
    np.testing.assert_allclose(np.asarray(adv[:, 0]), [1.31, 0.5, 2.3], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ret[:, 0]), [1.81, 1.0, 2.8], rtol=1e-6)


def test_group_normalise_uses_the_whole_minibatch():
    x = jnp.array([[1.0, 3.0], [5.0, 7.0]])
    np.testing.assert_allclose(np.asarray(_group_normalise(x, jnp.array([0, 0]))), (np.asarray(x) - 4.0) / np.sqrt(5.0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(_group_normalise(x, jnp.array([0, 1]))), [[-1, 1], [-1, 1]], rtol=1e-6)


def test_group_relative_advantage_exact_values():
    """GRPO: each step's returns normalised over the group of parallel rollouts (last axis), population std."""
    ret = jnp.array([[1.0, 3.0, 5.0, 7.0], [2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 4.0]])  # (T=3, N=4)
    got = np.asarray(group_relative(ret))
    np.testing.assert_allclose(got[0], np.array([-3.0, -1.0, 1.0, 3.0]) / np.sqrt(5.0), rtol=1e-6)
    np.testing.assert_allclose(got[1], [0.0, 0.0, 0.0, 0.0], atol=1e-6)  # a group that all did the same: no signal
    np.testing.assert_allclose(got[2], [-1 / np.sqrt(3.0)] * 3 + [np.sqrt(3.0)], rtol=1e-6)


def test_objective_inputs_exact():
    x = objective_inputs(
        jnp.array([0.0, np.log(2.0)]), jnp.zeros(2), jnp.ones(2), jnp.ones(2), jnp.ones(2), jnp.ones(2), jnp.ones(2), jnp.ones(2),
        jnp.full(2, 3.0),
    )
    np.testing.assert_allclose(np.asarray(x["gadv"]), [3.0, 3.0])
    np.testing.assert_allclose(np.asarray(x["ratio"]), [1.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x["logratio"]), [0.0, np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x["kl"]), [0.0, 1.0 - np.log(2.0)], rtol=1e-6)


def test_masked_cartpole_keeps_positions_only():
    env, params, spec = make_env("CartPoleNoVel-v1")
    full, full_params, _ = make_env("CartPole-v1")
    key = jax.random.key(0)
    obs, _ = env.reset(key, params)
    full_obs, _ = full.reset(key, full_params)
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(full_obs)[[0, 2]])
    assert (spec.obs_dim, spec.partially_observable, spec.horizon) == (2, True, 500)


def test_environment_parameters_can_be_overridden_by_name():
    _, params, spec = make_env("MemoryChain-bsuite:memory_length=3")
    assert (params.memory_length, spec.horizon, spec.partially_observable) == (3, 4, True)
    env, params, spec = make_env("MemoryChain-bsuite:memory_length=7,num_bits=3")  # a constructor argument
    assert (env.num_bits, params.memory_length, spec.obs_dim) == (3, 7, 5)
    with pytest.raises(KeyError, match="no parameters"):
        make_env("MemoryChain-bsuite:length=3")
    with pytest.raises(KeyError, match="unknown environment"):
        make_env("Pong-v0")


def test_random_policy_returns():
    assert 15.0 < random_return("CartPole-v1", jax.random.key(0), 256) < 30.0
    assert abs(random_return("MemoryChain-bsuite", jax.random.key(0), 1024)) < 0.1


@pytest.fixture(scope="module")
def run_cartpole():
    """One compiled, seed-vmapped CartPole train (objective and budget as data), reused below."""
    train = make_train(TINY, run_program, mlp_network(4, 2, 16), "CartPole-v1")
    exe = jax.jit(jax.vmap(train, in_axes=(0, None, None)))
    return lambda g, updates=TINY.num_updates: exe(_seed_keys(0, 2), _algo(g, encode(g.objective, 32)), jnp.int32(updates))


def _ppo(objective: str | None = None, **genes) -> RLGenome:
    ppo = baselines()["ppo_clip"]
    return G.make(objective or ppo.objective, **{**{k: getattr(ppo, k) for k in G.GENE_NAMES}, **genes})


def test_short_run_shapes_and_sanity(run_cartpole):
    m = run_cartpole(_ppo())["metrics"]
    assert m["loss"].shape == (2, TINY.num_updates) and m["eval_return"].shape == (2,)
    assert not bool(m["diverged"].any())
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(m))
    assert np.all((np.asarray(m["eval_return"]) >= 8) & (np.asarray(m["eval_return"]) <= 500))
    assert float(m["episode_count"].sum()) > 0


def test_a_smaller_budget_runs_a_prefix_of_the_updates(run_cartpole):
    m = run_cartpole(_ppo(), updates=1)["metrics"]
    assert np.all(np.asarray(m["loss"][:, 0]) != 0) and np.all(np.asarray(m["loss"][:, 1:]) == 0)
    assert float(m["episode_count"][:, 1:].sum()) == 0


def test_guard_stops_updates_on_an_exploding_loss(run_cartpole):
    frozen = run_cartpole(_ppo(lr=1e-5))  # the smallest lr: parameters barely move
    boom = run_cartpole(_ppo("mul(10000000.0, ratio)", lr=1e-5))  # |loss| ~ 1e7 > loss_limit at the first step
    assert bool(boom["metrics"]["diverged"][:, 0].all())
    init = jax.tree.leaves(boom["state"])
    trained = jax.tree.leaves(run_cartpole(_ppo())["state"])
    drift = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(frozen["state"]), init))
    assert 0 < drift < 1e-3  # boom never updated: it sits at the init that lr=1e-5 barely left
    assert all(float(jnp.abs(a - b).max()) > 1e-3 for a, b in zip(trained, init))


@pytest.mark.slow
def test_one_minibatch_of_accumulated_chunks_equals_one_big_minibatch(run_cartpole):
    """Gradient accumulation over 4 chunks == one step on the whole batch (same permutation)."""
    g = _ppo(minibatches=1, epochs=1)
    chunked = run_cartpole(g)
    whole_cfg = PPOConfig(**{**TINY.__dict__, "num_minibatches": 1})
    train = make_train(whole_cfg, run_program, mlp_network(4, 2, 16), "CartPole-v1")
    whole = jax.jit(jax.vmap(train, in_axes=(0, None)))(_seed_keys(0, 2), _algo(g, encode(g.objective, 32)))
    for a, b in zip(jax.tree.leaves(chunked["state"]), jax.tree.leaves(whole["state"])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_minatar_frames_are_flattened():
    env, params, spec = make_env("Breakout-MinAtar")
    raw, raw_params = __import__("gymnax").make("Breakout-MinAtar")
    key = jax.random.key(0)
    obs, state = env.reset(key, params)
    raw_obs, _ = raw.reset(key, raw_params)
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(raw_obs).reshape(-1))
    assert (spec.obs_dim, spec.num_actions, spec.horizon, spec.partially_observable) == (400, 3, 1000, False)
    obs, *_ = env.step(key, state, jnp.int32(1), params)
    assert obs.shape == (400,)


def test_the_grpo_baseline_trains_finite(run_cartpole):
    """Critic-free, group-relative: no divergence, finite metrics, and it moves the policy off its init."""
    out = run_cartpole(baselines()["grpo"])
    m = out["metrics"]
    assert not bool(m["diverged"].any())
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(out))
    assert float(jnp.abs(m["objective"]).max()) > 0 and float(m["approx_kl"].max()) > 0


@pytest.mark.slow
def test_ppo_trains_on_a_minatar_game():
    """small's envs: flattened MinAtar frames through the MLP torso, a few updates, finite and learning-shaped."""
    cfg = PPOConfig(num_envs=8, num_steps=16, total_timesteps=8 * 16 * 3, eval_envs=2)
    train = make_train(cfg, run_program, mlp_network(400, 3, 16), "Breakout-MinAtar")
    g = baselines()["ppo_clip"]
    out = jax.jit(jax.vmap(train, in_axes=(0, None)))(_seed_keys(0, 2), _algo(g, encode(g.objective, 32)))
    m = out["metrics"]
    assert m["loss"].shape == (2, 3) and not bool(m["diverged"].any())
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(out))
    assert np.all(np.asarray(m["eval_return"]) >= 0)
