"""Evaluating the rl member of a triple with the PPO proxy (runs in a worker process).

Per environment of the campaign:
1. the objective tree is encoded as a fixed-size program and probed on random batches
   (finite value, finite non-zero gradient w.r.t. the policy log-prob);
2. `proxies.ppo` trains `seeds` agents (vmapped, one jitted run) for the stage's share of the
   env-step budget; partially observable envs give the agent a memory torso over the last
   `window` observations built from the triple's architecture (the partner that
   provides "sequence_block", the arch domain), others an MLP;
3. the score is sample efficiency: the normalised area under each agent's learning curve — the mean,
   over the stage's updates, of the return of the training episodes that ended in that update, as
   `(R - R_random) / (R_max - R_random)` with the uniform-random policy's return and the env's max
   return (`EnvSpec.max_return`) — then IQM over seeds and mean over envs. An agent that is perfect
   from its first update scores 1; one that learns late pays for every update it spent learning, so
   PPO-clip sits well below the top even where its final policy is perfect. The final policy's
   return is reported too (details, behaviour) but is not the score. Random returns are computed
   here, once per process.

Compiled training functions are cached per process, and across processes by JAX's persistent
compilation cache (`$EVOLVE_CACHE/jax`) when `compile_cache` is on. The objective, every gene and the stage's
update count are traced inputs, so only a new environment or architecture compiles.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from domains.base import Budget, EvaluationError, Metrics, genome_id, partner_providing
from domains.rl import genome as G
from domains.rl.genome import RLGenome
from domains.rl.program import Program, check_program, encode, run_program
from proxies import ppo
from proxies.cache import enable_compile_cache
from proxies.envs import EnvSpec, make_env
from proxies.ppo import Algo, PPOConfig, make_train, random_return
from proxies.ppo_nets import NetworkFn, default_block, memory_network, mlp_network

assert G.ADV_NORMS == ppo.ADV_NORMS and G.VALUE_LOSSES == ppo.VALUE_LOSSES, "genome and proxy enums disagree"

_CACHE_SIZE = 48
_COMPILED: "OrderedDict[tuple, Any]" = OrderedDict()  # (env, PPOConfig, network key, seeds, nodes, batch) -> executable
_RANDOM: dict[tuple, float] = {}  # (env, episodes, seed) -> random-policy return


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: drop the lowest and highest quarter (floor(n/4) each), average the rest."""
    x = np.sort(np.asarray(x, dtype=float).ravel())
    k = len(x) // 4
    return float(x[k : len(x) - k].mean())


def evaluate(s: Any, genome: RLGenome, triple: Mapping[str, Any], budget: Budget, partners: Mapping[str, Any]) -> Metrics:
    """Train and score `genome` on every env of the settings `s` (an RLSettings)."""
    result = evaluate_batch(s, [(genome, triple, budget)], partners)[0]
    if isinstance(result, BaseException):
        raise result
    return result


def evaluate_batch(
    s: Any, items: Sequence[tuple[RLGenome, Mapping[str, Any], Budget]], partners: Mapping[str, Any]
) -> list[Metrics | EvaluationError]:
    """Train and score several (genome, triple, budget) at once: one Metrics or EvaluationError per item, in order.

    Per env, the items that share a network (same architecture partner, or none) train in ONE compiled program,
    vmapped over the items (and over their seeds inside): each keeps its own keys (`budget.seed`), genes and
    program, so its numbers are those it gets alone, up to float reassociation. An item that fails (dynamic
    check, divergence, no memory block) fails alone and leaves the later envs' batches. Items must share
    `budget.fraction` (one update count per program); the batch's wall time is shared out as each item's
    `cost.seconds` in proportion to its work, (1 + epochs): a rollout costs about one epoch of updates.
    """
    if s.compile_cache:
        enable_compile_cache()
    if len({b.fraction for _, _, b in items}) > 1:
        raise ValueError("a batch of rl evaluations must share one budget fraction")
    runs: list[_Run | EvaluationError] = []
    for genome, triple, budget in items:
        program = encode(genome.objective, s.max_nodes)
        reason = check_program(program, seed=budget.seed)
        runs.append(EvaluationError(reason) if reason else _Run(genome, triple, algo_of(genome, program), seed_keys(budget.seed, s.seeds)))
    fraction = items[0][2].fraction if items else 1.0
    for env in s.envs:
        spec = make_env(env)[2]
        cfg = ppo_config(s, env, spec)
        updates = stage_updates(s, env, cfg, fraction)
        groups: dict[tuple, list[int]] = {}
        nets: dict[tuple, NetworkFn] = {}
        for i, run in enumerate(runs):
            if isinstance(run, _Run):
                try:
                    net_key, nets[net_key] = network(s, spec, run.triple, partners)
                except (KeyError, ValueError) as e:  # the partner cannot provide a block for this genome
                    runs[i] = EvaluationError(f"no memory block for {env}: {type(e).__name__}: {e}")
                    continue
                groups.setdefault(net_key, []).append(i)
        for net_key, members in groups.items():
            try:
                run_fn, compile_s = compiled(s, env, cfg, net_key, nets[net_key], batch=_bucket(len(members)))
            except EvaluationError as e:
                for i in members:
                    runs[i] = e
                continue
            outs, seconds = _train(run_fn, [runs[i] for i in members], updates)
            work = np.asarray([1.0 + runs[i].genome.epochs for i in members])
            for j, i in enumerate(members):
                share = float(work[j] / work.sum())
                runs[i].details["compile_seconds"] += compile_s * share
                runs[i].cost["seconds"] += seconds * share
                failure = _score_env(s, env, spec, cfg, updates, outs[j], runs[i])
                if failure is not None:
                    runs[i] = failure
    return [_finish(run) for run in runs]


def _finish(run: "_Run | EvaluationError") -> Metrics | EvaluationError:
    if isinstance(run, EvaluationError):
        return run
    try:
        return run.metrics()
    except EvaluationError as e:  # a non-finite score fails this item alone
        return e


class _Run:
    """One item's inputs and the parts of its Metrics gathered env by env."""

    def __init__(self, genome: RLGenome, triple: Mapping[str, Any], algo: Algo, keys: jax.Array):
        self.genome, self.triple, self.algo, self.keys = genome, triple, algo, keys
        self.score_parts: list[float] = []
        self.behaviour: list[float] = []
        self.cost = {"seconds": 0.0, "env_steps": 0.0, "params": 0.0}
        self.details: dict[str, float] = {"compile_seconds": 0.0}
        self.curves: dict[str, list[float]] = {}

    def metrics(self) -> Metrics:
        return Metrics(score=float(np.mean(self.score_parts)), cost=self.cost, details=self.details,
                       behaviour=[float(b) for b in self.behaviour], curves=self.curves)


def _bucket(n: int) -> int:
    """Batch sizes are padded to powers of two (one item: the unbatched program), so few sizes compile."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _train(run_fn: Any, runs: list[_Run], updates: int) -> tuple[list[dict[str, Any]], float]:
    """Run the (possibly batched) executable; per item its output pytree (numpy) and the wall seconds of the run."""
    t0 = time.perf_counter()
    if len(runs) == 1:
        out = jax.block_until_ready(run_fn(runs[0].keys, runs[0].algo, jnp.int32(updates)))
        outs = [jax.tree.map(np.asarray, out)]
    else:
        padded = runs + [runs[0]] * (_bucket(len(runs)) - len(runs))  # padding repeats the first item
        keys = jnp.stack([r.keys for r in padded])
        algo = jax.tree.map(lambda *xs: jnp.stack(xs), *[r.algo for r in padded])
        out = jax.tree.map(np.asarray, jax.block_until_ready(run_fn(keys, algo, jnp.int32(updates))))
        outs = [jax.tree.map(lambda x: x[j], out) for j in range(len(runs))]
    return outs, time.perf_counter() - t0


def _score_env(s: Any, env: str, spec: EnvSpec, cfg: PPOConfig, updates: int, out: Mapping[str, Any],
               run: _Run) -> EvaluationError | None:
    """Add one env's score, behaviour, cost and details to `run`; the error when its training diverged."""
    m = {k: (v if k == "eval_return" else v[:, :updates]) for k, v in out["metrics"].items()}
    if m["diverged"].any():
        seed, update = np.argwhere(m["diverged"])[0]
        return EvaluationError(
            f"training diverged on {env} (agent {seed}, update {update}/{updates}): "
            "non-finite or exploding loss or gradient"
        )
    lo = random_policy_return(s, env)
    span = max(spec.max_return - lo, 1e-6)
    per_seed = training_curves(m, lo)  # (seeds, updates)
    auc = (per_seed.mean(1) - lo) / span  # (seeds,) normalised area under the learning curve
    final = (m["eval_return"] - lo) / span  # (seeds,) the final policy, normalised the same way
    run.score_parts.append(iqm(auc))
    curve = per_seed.mean(0)
    run.curves[f"return/{env}"] = [float(v) for v in curve]
    shape = (np.interp([0.25, 0.5, 0.75, 1.0], np.linspace(0, 1, len(curve)), curve) - lo) / span
    run.behaviour += [iqm(final), *shape]
    run.cost["env_steps"] += float(s.seeds * updates * cfg.num_envs * cfg.num_steps)
    run.cost["params"] += float(sum(np.asarray(x).size for x in jax.tree.leaves(out["state"])) / s.seeds)
    run.details.update(
        {
            f"norm/{env}": iqm(auc),
            f"final_norm/{env}": iqm(final),
            f"return/{env}": iqm(m["eval_return"]),
            f"mean_return/{env}": float(m["eval_return"].mean()),
            f"random/{env}": lo,
            f"max/{env}": spec.max_return,
            f"entropy/{env}": float(m["entropy"][:, -1].mean()),
            f"approx_kl/{env}": float(m["approx_kl"].mean()),
        }
    )
    return None


# ---- configuration of one env's run ---------------------------------------------------------------
def uses_memory(s: Any, spec: EnvSpec) -> bool:
    return s.memory == "all" or (s.memory == "partial" and spec.partially_observable)


def ppo_config(s: Any, env: str, spec: EnvSpec) -> PPOConfig:
    """The full-stage run; smaller stages run its first `stage_updates(...)` updates (same executable)."""
    full = max(int(s.timesteps.get(env, s.default_timesteps)), s.min_timesteps)
    per_update = s.num_envs * s.num_steps
    return PPOConfig(
        num_envs=s.num_envs,
        num_steps=s.num_steps,
        total_timesteps=-(-full // per_update) * per_update,
        num_minibatches=max(G.MINIBATCHES),
        gamma=s.gamma,
        window=s.window if uses_memory(s, spec) else 1,
        eval_envs=s.eval_envs,
        greedy_eval=s.greedy_eval,
    )


def stage_updates(s: Any, env: str, cfg: PPOConfig, fraction: float) -> int:
    """Updates at this budget fraction: the env-step budget scaled, floored at min_timesteps."""
    steps = max(s.min_timesteps, round(fraction * int(s.timesteps.get(env, s.default_timesteps))))
    per_update = cfg.num_envs * cfg.num_steps
    return int(min(cfg.num_updates, max(1, -(-steps // per_update))))


def network(s: Any, spec: EnvSpec, triple: Mapping[str, Any], partners: Mapping[str, Any]) -> tuple[tuple, NetworkFn]:
    """(cache key, network_fn): an MLP, or a memory torso around the triple's architecture block."""
    if not uses_memory(s, spec):
        return ("mlp", spec.obs_dim, spec.num_actions, s.hidden), mlp_network(spec.obs_dim, spec.num_actions, s.hidden)
    found = partner_providing("sequence_block", triple, partners)
    if found is not None:
        arch, arch_genome = found
        block = arch.provide("sequence_block", arch_genome, d_model=s.d_model, max_len=s.window)
        block_id = genome_id(arch.name, arch.to_json(arch_genome))
    else:
        block, block_id = default_block(s.d_model), "default"
    key = ("memory", block_id, spec.obs_dim, spec.num_actions, s.window, s.d_model, s.hidden)
    return key, memory_network(block, spec.obs_dim, spec.num_actions, s.window, s.d_model, s.hidden)


# ---- cached executables and normalisation points -------------------------------------------------
def compiled(s: Any, env: str, cfg: PPOConfig, net_key: tuple, net_fn: NetworkFn, batch: int = 1) -> tuple[Any, float]:
    """The seed-vmapped, jitted, compiled train for these shapes: (executable, compile seconds). With
    `batch` > 1 it is vmapped over `batch` items too (keys (batch, seeds), every Algo leaf (batch, ...))."""
    key = (env, cfg, net_key, s.seeds, s.max_nodes, batch)
    if key in _COMPILED:
        _COMPILED.move_to_end(key)
        return _COMPILED[key], 0.0
    t0 = time.perf_counter()
    train = make_train(cfg, run_program, net_fn, env)
    ppo_clip = G.baselines()["ppo_clip"]
    example = algo_of(ppo_clip, encode(ppo_clip.objective, s.max_nodes))
    try:
        seeds_fn = jax.vmap(train, in_axes=(0, None, None))
        if batch == 1:
            exe = jax.jit(seeds_fn).lower(seed_keys(0, s.seeds), example, jnp.int32(1)).compile()
        else:
            keys = jnp.stack([seed_keys(0, s.seeds)] * batch)
            algos = jax.tree.map(lambda x: jnp.stack([x] * batch), example)
            exe = jax.jit(jax.vmap(seeds_fn, in_axes=(0, 0, None))).lower(keys, algos, jnp.int32(1)).compile()
    except Exception as e:  # a partner's block that does not build, shape errors...
        raise EvaluationError(f"building the agent for {env} failed: {type(e).__name__}: {e}") from e
    _COMPILED[key] = exe
    while len(_COMPILED) > _CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return exe, time.perf_counter() - t0


def random_policy_return(s: Any, env: str) -> float:
    key = (env, s.random_episodes, s.reference_seed)
    if key not in _RANDOM:
        _RANDOM[key] = random_return(env, jax.random.key(s.reference_seed), s.random_episodes)
    return _RANDOM[key]


# ---- small pieces ------------------------------------------------------------------------------
def algo_of(g: RLGenome, program: Program) -> Algo:
    """The traced algorithm inputs; fixed dtypes so one executable serves every genome."""
    return Algo(
        objective=jax.tree.map(jnp.asarray, program),
        lr=jnp.float32(g.lr),
        gae_lambda=jnp.float32(g.gae_lambda),
        vf_coef=jnp.float32(g.vf_coef),
        ent_coef=jnp.float32(g.ent_coef),
        epochs=jnp.int32(g.epochs),
        minibatches=jnp.int32(g.minibatches),
        adv_norm=jnp.int32(G.ADV_NORMS.index(g.adv_norm)),
        value_loss=jnp.int32(G.VALUE_LOSSES.index(g.value_loss)),
    )


def seed_keys(seed: int, n: int) -> jax.Array:
    """Threefry keys: vmap-invariant, so an agent's noise depends on its own key only, never on its lane in a batch.

    (RngBitGenerator keys, `unsafe_rbg`, compiled ~10% faster, but under vmap JAX draws every lane's bits from the
    first lane's key: an item's numbers in a batch would depend on its batch-mates and its position.)"""
    return jax.random.split(jax.random.key(seed, impl="threefry2x32"), n)


def training_curves(m: Mapping[str, np.ndarray], before: float) -> np.ndarray:
    """Per seed, the mean return of the episodes that ended in each update, carried forward through updates
    where none ended; `before` (the random policy's return) until the first one ends. (seeds, updates)."""
    count = m["episode_count"]
    has = count > 0
    ret = np.where(has, m["episode_return_sum"] / np.maximum(count, 1), before)
    last = np.maximum.accumulate(np.where(has, np.arange(ret.shape[1]), -1), axis=1)  # latest update with an episode
    return np.where(last >= 0, np.take_along_axis(ret, np.maximum(last, 0), axis=1), before)
