"""Batched rl evaluation: a population of objectives trains in one vmapped program per env, and each item's
numbers are exactly those it gets alone; a bad item fails alone."""
from __future__ import annotations

import pytest

import domains  # noqa: F401  (XLA flags before JAX starts)
from domains.base import Budget, EvaluationError, Metrics, batch_evaluator
from domains.rl import RLDomain
from domains.rl import genome as G

TINY = {  # the smallest run that still trains: CartPole, 4 updates of 4 envs x 8 steps, 2 agents
    "envs": ["CartPole-v1"], "timesteps": {"CartPole-v1": 128}, "min_timesteps": 64, "seeds": 2, "num_envs": 4,
    "num_steps": 8, "eval_envs": 2, "hidden": 8, "random_episodes": 8, "compile_cache": False,
}


def _with(g, objective: str | None = None, **genes):
    return G.make(objective or g.objective, **{**{k: getattr(g, k) for k in G.GENE_NAMES}, **genes})


@pytest.mark.slow  # two compiles of the PPO program (batched and alone): ~1 min idle, 5 min at load 15 on 2 cores
def test_a_batch_scores_each_objective_as_alone_and_a_bad_one_fails_alone():
    dom = RLDomain(TINY)
    base = dom.baselines()
    budget = Budget("isolated", 1.0, seed=3)
    items = [
        ({"rl": base["ppo_clip"]}, budget),  # the reference, first
        ({"rl": _with(base["ppo_clip"], "mul(10000000.0, ratio)")}, budget),  # explodes: diverges in training
        ({"rl": base["a2c"]}, budget),  # other epochs and minibatches: the batch runs them masked
        ({"rl": _with(base["ppo_clip"], "mul(0.0, ratio)")}, budget),  # fails the dynamic check, before training
        ({"rl": _with(base["ppo_clip"], lr=0.001)}, Budget("isolated", 1.0, seed=4)),  # another seed in the batch
    ]
    assert batch_evaluator(dom) is not None
    out = dom.evaluate_batch(items, {})
    assert len(out) == len(items)
    assert isinstance(out[1], EvaluationError) and "training diverged on CartPole-v1" in str(out[1])
    assert isinstance(out[3], EvaluationError) and "gradient w.r.t. the policy log-prob is zero" in str(out[3])
    for i in (0, 2, 4):
        alone = dom.evaluate(*items[i], {})
        assert isinstance(out[i], Metrics)
        # threefry keys are vmap-invariant: the same numbers, not merely close ones
        assert out[i].score == alone.score and out[i].behaviour == alone.behaviour and out[i].curves == alone.curves
        assert out[i].cost["env_steps"] == alone.cost["env_steps"] and out[i].cost["params"] == alone.cost["params"]
        assert 0 < out[i].cost["seconds"]
    assert out[0].score != out[4].score  # the items really differ
    with pytest.raises(EvaluationError, match="training diverged"):
        dom.evaluate(*items[1], {})
