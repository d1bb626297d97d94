"""RLDomain: evolves PPO-family algorithms; evaluates them with the JAX PPO proxy.

Evaluation of the rl member of a triple, per environment of the campaign:
1. the objective tree is encoded as a fixed-size program and probed on random batches
   (finite value, finite non-zero gradient w.r.t. the policy log-prob);
2. `proxies.ppo` trains `seeds` agents (vmapped, one jitted run) for the stage's share of
   the env-step budget; partially observable envs give the agent a memory torso over the
   last `window` observations built from the triple's architecture (`partners["arch"]`
   provides the "sequence_block"), others an MLP;
3. the final policy's return is normalised per env — random policy = 0, the PPO-clip
   baseline with the default network at the same budget = 1 — then IQM over seeds and mean
   over envs give the score. The random and PPO-clip returns are computed here, once per
   process and budget (cached), so `normalise` returns the score unchanged.

Compiled training functions are cached per process (and by JAX's persistent compilation
cache across processes when `compile_cache_dir` is set): the objective and every gene are
traced inputs, so only a new environment, budget or architecture compiles.
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from domains.base import CheckResult, EvaluationError, GenomeError, Metrics, genome_id
from domains.rl import expr, genome as G
from domains.rl.genome import RLGenome
from domains.rl.ops import OPS
from domains.rl.program import check_program, encode, run_program
from proxies.envs import EnvSpec, make_env
from proxies.ppo import ADV_NORMS, INPUT_NAMES, VALUE_LOSSES, Algo, PPOConfig, make_train, random_return
from proxies.ppo_nets import default_block, memory_network, mlp_network

_ENGINE_KEYS = {"plugin", "scale", "device"}
_CACHE_SIZE = 48
_COMPILED: "OrderedDict[tuple, Any]" = OrderedDict()  # (env, PPOConfig, network key, seeds, nodes) -> executable
_RANDOM: dict[tuple, float] = {}  # (env, episodes, seed) -> random-policy return
_REFERENCE: dict[tuple, float] = {}  # (env, PPOConfig, network key, seeds, seed) -> PPO-clip IQM return


@dataclass(frozen=True)
class RLSettings:
    """The domain's config section (conf/domain/rl.yaml) after the scale is merged in."""

    envs: tuple[str, ...] = ("CartPole-v1", "Acrobot-v1", "MemoryChain-bsuite:memory_length=7")
    timesteps: Mapping[str, int] = field(default_factory=dict)  # full-stage env steps per agent, per env
    default_timesteps: int = 65_536  # for envs missing from `timesteps`
    min_timesteps: int = 4_096  # floor after scaling by Budget.fraction
    seeds: int = 4  # agents per env per evaluation (vmapped; IQM over them)
    num_envs: int = 16
    num_steps: int = 32
    gamma: float = 0.99
    eval_envs: int = 32  # evaluation episodes per agent
    greedy_eval: bool = False  # evaluate argmax actions (else sample the policy, as it was trained)
    memory: str = "partial"  # which envs use the memory torso: partial | all | none
    window: int = 8  # observations the memory torso sees
    d_model: int = 16  # width of the memory torso (the arch block's d_model)
    hidden: int = 64  # width of the MLP torso and of the heads
    max_nodes: int = 32  # objective size limit = interpreter program length
    max_depth: int = 8
    reference_seed: int = 10_007  # seeds of the PPO-clip normalisation runs
    random_episodes: int = 1024
    compile_cache_dir: str | None = None  # JAX persistent compilation cache (shared by processes)
    scale: str = "tiny"
    device: str = "cpu"

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> "RLSettings":
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known - _ENGINE_KEYS
        if unknown:
            raise ValueError(f"unknown rl domain settings: {sorted(unknown)}")
        kw = {k: v for k, v in cfg.items() if k in known}
        if "envs" in kw:
            kw["envs"] = tuple(kw["envs"])
        if "timesteps" in kw:
            kw["timesteps"] = dict(kw["timesteps"] or {})
        s = cls(**kw)
        if s.memory not in ("partial", "all", "none"):
            raise ValueError(f"memory must be partial, all or none, got {s.memory!r}")
        for env in s.envs:
            make_env(env)  # KeyError for unknown names
        return s


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: drop the lowest and highest quarter (floor(n/4) each), average the rest."""
    x = np.sort(np.asarray(x, dtype=float).ravel())
    k = len(x) // 4
    return float(x[k : len(x) - k].mean())


class RLDomain:
    name = "rl"
    reference = "ppo_clip"

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        self.settings = RLSettings.from_cfg(cfg)
        if self.settings.compile_cache_dir:
            _enable_compile_cache(os.path.expanduser(self.settings.compile_cache_dir))

    # ---- the genome space ----------------------------------------------------------------------
    def baselines(self) -> dict[str, RLGenome]:
        return G.baselines()

    def sample(self, rng: np.random.Generator) -> RLGenome:
        """Half fresh random trees with random genes, half baselines mutated 2-4 times."""
        for _ in range(100):
            if rng.random() < 0.5:
                g = G.make(expr.random_tree(rng, expr.R, int(rng.integers(2, 5))), **G.random_genes(rng))
            else:
                g = list(self.baselines().values())[int(rng.integers(3))]
                for _ in range(int(rng.integers(2, 5))):
                    g = self.mutate(g, rng)
            if self.check(g).ok:
                return g
        return self.baselines()["ppo_clip"]

    def mutate(self, genome: RLGenome, rng: np.random.Generator) -> RLGenome:
        """One GP operator on the objective (70%) or one gene (30%); retried until valid."""
        for _ in range(50):
            if rng.random() < 0.3:
                return G.mutate_gene(genome, rng)
            op = expr.MUTATIONS[int(rng.integers(len(expr.MUTATIONS)))]
            obj = op(genome.objective, rng)
            if obj != genome.objective and self._objective_ok(obj) is None:
                return G.make(obj, **{k: getattr(genome, k) for k in G.GENE_NAMES})
        return G.mutate_gene(genome, rng)

    def crossover(self, a: RLGenome, b: RLGenome, rng: np.random.Generator) -> RLGenome:
        """Subtree crossover of the objectives plus uniform crossover of the genes."""
        genes = G.cross_genes(a, b, rng)
        for _ in range(20):
            obj = expr.subtree_crossover(a.objective, b.objective, rng)
            if self._objective_ok(obj) is None:
                return G.make(obj, **genes)
        return G.make(a.objective, **genes)

    # ---- forms ---------------------------------------------------------------------------------
    def to_json(self, genome: RLGenome) -> dict[str, Any]:
        return G.to_json(genome)

    def from_json(self, data: Any) -> RLGenome:
        return G.from_json(data)

    def to_text(self, genome: RLGenome) -> str:
        return G.to_text(genome)

    def parse(self, text: str) -> RLGenome:
        return G.parse(text)

    def grammar(self) -> str:
        return _grammar(self.settings)

    # ---- analysis ------------------------------------------------------------------------------
    def check(self, genome: RLGenome) -> CheckResult:
        try:
            G.validate(genome)
        except GenomeError as e:
            return CheckResult.failed(str(e))
        reason = self._objective_ok(genome.objective)
        return CheckResult.failed(reason) if reason else CheckResult.passed()

    def _objective_ok(self, obj: expr.Node) -> str | None:
        s = self.settings
        try:
            expr.type_of(obj)
        except GenomeError as e:
            return str(e)
        if expr.node_type(obj) != expr.R:
            return "the objective must be real-valued, not a comparison"
        if expr.size(obj) > s.max_nodes:
            return f"objective has {expr.size(obj)} nodes (limit {s.max_nodes})"
        if expr.depth(obj) > s.max_depth:
            return f"objective is {expr.depth(obj)} deep (limit {s.max_depth})"
        if not expr.has_policy_gradient(obj):
            return "no gradient reaches the policy: use ratio, logratio or kl outside sg() and comparisons"
        return None

    def descriptor(self, genome: RLGenome) -> np.ndarray:
        return np.asarray(list(self.features(genome).values()), dtype=np.float64)

    def features(self, genome: RLGenome) -> dict[str, float]:
        nodes = [n for _, n in expr.walk(genome.objective)]
        f: dict[str, float] = {
            "size": float(len(nodes)),
            "depth": float(expr.depth(genome.objective)),
            "n_const": float(sum(n.op == expr.CONST for n in nodes)),
        }
        f.update({f"uses_{name}": float(sum(n.op == name for n in nodes)) for name in OPS})
        f.update({f"reads_{name}": float(sum(n.op == name for n in nodes)) for name in INPUT_NAMES})
        f["clips_ratio"] = float(any(n.op == "clip" and n.args[0].op == "ratio" for n in nodes))
        f.update(
            gae_lambda=genome.gae_lambda,
            vf_coef=genome.vf_coef,
            ent_coef=genome.ent_coef,
            epochs=float(genome.epochs),
            log2_minibatches=float(np.log2(genome.minibatches)),
            log10_lr=float(np.log10(genome.lr)),
        )
        f.update({f"adv_norm_{k}": float(genome.adv_norm == k) for k in ADV_NORMS})
        f.update({f"value_loss_{k}": float(genome.value_loss == k) for k in VALUE_LOSSES})
        return f

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(self, triple: Mapping[str, Any], budget: Any, partners: Mapping[str, Any]) -> Metrics:
        s = self.settings
        genome = triple[self.name]
        chk = self.check(genome)
        if not chk.ok:
            raise EvaluationError(f"invalid rl genome: {chk.reason}")
        program = encode(genome.objective, s.max_nodes)
        reason = check_program(program, seed=budget.seed)
        if reason:
            raise EvaluationError(reason)
        algo = _algo(genome, program)
        keys = _seed_keys(budget.seed, s.seeds)

        score_parts, behaviour = [], []
        cost = {"seconds": 0.0, "env_steps": 0.0, "params": 0.0}
        details: dict[str, float] = {"compile_seconds": 0.0, "reference_seconds": 0.0}
        curves: dict[str, list[float]] = {}
        for env in s.envs:
            spec = make_env(env)[2]
            cfg = self._ppo_config(env, spec)
            updates = self._updates(env, cfg, budget.fraction)
            net_key, net_fn = self._network(spec, triple, partners)
            run, compile_s = self._compiled(env, cfg, net_key, net_fn)
            details["compile_seconds"] += compile_s
            t0 = time.perf_counter()
            out = jax.block_until_ready(run(keys, algo, jnp.int32(updates)))
            cost["seconds"] += time.perf_counter() - t0
            m = {k: (v if k == "eval_return" else v[:, :updates]) for k, v in jax.tree.map(np.asarray, out["metrics"]).items()}
            if m["diverged"].any():
                seed, update = np.argwhere(m["diverged"])[0]
                raise EvaluationError(
                    f"training diverged on {env} (agent {seed}, update {update}/{updates}): "
                    "non-finite or exploding loss or gradient"
                )
            lo = self._random(env)
            t0 = time.perf_counter()
            hi = self._reference(env, spec, cfg, updates)
            details["reference_seconds"] += time.perf_counter() - t0
            gap = max(hi - lo, 0.1 * (spec.max_return - lo), 1e-6)
            norm = (m["eval_return"] - lo) / gap  # (seeds,)
            score_parts.append(iqm(norm))
            curve = _training_curve(m)  # (updates,) mean over seeds
            curves[f"return/{env}"] = [float(v) for v in curve]
            behaviour += [iqm(norm), *((np.interp([0.25, 0.5, 0.75, 1.0], np.linspace(0, 1, len(curve)), curve) - lo) / gap)]
            cost["env_steps"] += float(s.seeds * updates * cfg.num_envs * cfg.num_steps)
            cost["params"] += float(_param_count(out["state"]) / s.seeds)
            details.update(
                {
                    f"return/{env}": iqm(m["eval_return"]),
                    f"mean_return/{env}": float(m["eval_return"].mean()),
                    f"norm/{env}": iqm(norm),
                    f"random/{env}": lo,
                    f"reference/{env}": hi,
                    f"entropy/{env}": float(m["entropy"][:, -1].mean()),
                    f"approx_kl/{env}": float(m["approx_kl"].mean()),
                }
            )
        return Metrics(
            score=float(np.mean(score_parts)),
            cost=cost,
            details=details,
            behaviour=[float(b) for b in behaviour],
            curves=curves,
        )

    def provide(self, resource: str, genome: Any, **kwargs: Any) -> Any:
        raise KeyError(f"the rl domain provides nothing (asked for {resource!r})")

    def normalise(self, score: float, reference_score: float) -> float:
        """The score is already normalised per env (random = 0, PPO-clip = 1) inside evaluate."""
        return float(score)

    # ---- helpers -------------------------------------------------------------------------------
    def _uses_memory(self, spec: EnvSpec) -> bool:
        return self.settings.memory == "all" or (self.settings.memory == "partial" and spec.partially_observable)

    def _ppo_config(self, env: str, spec: EnvSpec) -> PPOConfig:
        """The full-stage run; smaller stages run its first `_updates(...)` updates (same executable)."""
        s = self.settings
        full = max(int(s.timesteps.get(env, s.default_timesteps)), s.min_timesteps)
        per_update = s.num_envs * s.num_steps
        return PPOConfig(
            num_envs=s.num_envs,
            num_steps=s.num_steps,
            total_timesteps=-(-full // per_update) * per_update,
            num_minibatches=max(G.MINIBATCHES),
            gamma=s.gamma,
            window=s.window if self._uses_memory(spec) else 1,
            eval_envs=s.eval_envs,
            greedy_eval=s.greedy_eval,
        )

    def _updates(self, env: str, cfg: PPOConfig, fraction: float) -> int:
        """Updates at this budget fraction: the env-step budget scaled, floored at min_timesteps."""
        s = self.settings
        steps = max(s.min_timesteps, round(fraction * int(s.timesteps.get(env, s.default_timesteps))))
        per_update = cfg.num_envs * cfg.num_steps
        return int(min(cfg.num_updates, max(1, -(-steps // per_update))))

    def _network(self, spec: EnvSpec, triple: Mapping[str, Any], partners: Mapping[str, Any]) -> tuple[tuple, Any]:
        """(cache key, network_fn): an MLP, or a memory torso around the triple's architecture."""
        s = self.settings
        if not self._uses_memory(spec):
            return ("mlp", spec.obs_dim, spec.num_actions, s.hidden), mlp_network(spec.obs_dim, spec.num_actions, s.hidden)
        arch, arch_genome = partners.get("arch"), triple.get("arch")
        if arch is not None and arch_genome is not None:
            block = arch.provide("sequence_block", arch_genome, d_model=s.d_model, max_len=s.window)
            block_id = genome_id("arch", arch.to_json(arch_genome))
        else:
            block, block_id = default_block(s.d_model), "default"
        key = ("memory", block_id, spec.obs_dim, spec.num_actions, s.window, s.d_model, s.hidden)
        return key, memory_network(block, spec.obs_dim, spec.num_actions, s.window, s.d_model, s.hidden)

    def _compiled(self, env: str, cfg: PPOConfig, net_key: tuple, net_fn: Any) -> tuple[Any, float]:
        """The seed-vmapped, jitted, compiled train for these shapes; (executable, compile seconds)."""
        s = self.settings
        key = (env, cfg, net_key, s.seeds, s.max_nodes)
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            return _COMPILED[key], 0.0
        t0 = time.perf_counter()
        train = make_train(cfg, run_program, net_fn, env)
        example = _algo(G.baselines()["ppo_clip"], encode(G.baselines()["ppo_clip"].objective, s.max_nodes))
        try:
            exe = jax.jit(jax.vmap(train, in_axes=(0, None, None))).lower(_seed_keys(0, s.seeds), example, jnp.int32(1)).compile()
        except Exception as e:  # a partner's block that does not build, shape errors...
            raise EvaluationError(f"building the agent for {env} failed: {type(e).__name__}: {e}") from e
        _COMPILED[key] = exe
        while len(_COMPILED) > _CACHE_SIZE:
            _COMPILED.popitem(last=False)
        return exe, time.perf_counter() - t0

    def _random(self, env: str) -> float:
        s = self.settings
        key = (env, s.random_episodes, s.reference_seed)
        if key not in _RANDOM:
            _RANDOM[key] = random_return(env, jax.random.key(s.reference_seed), s.random_episodes)
        return _RANDOM[key]

    def _reference(self, env: str, spec: EnvSpec, cfg: PPOConfig, updates: int) -> float:
        """IQM return of PPO-clip with the default network at this budget (cached)."""
        s = self.settings
        net_key, net_fn = self._network(spec, {}, {})
        key = (env, cfg, updates, net_key, s.seeds, s.reference_seed)
        if key not in _REFERENCE:
            ppo = G.baselines()["ppo_clip"]
            run, _ = self._compiled(env, cfg, net_key, net_fn)
            algo = _algo(ppo, encode(ppo.objective, s.max_nodes))
            out = jax.block_until_ready(run(_seed_keys(s.reference_seed, s.seeds), algo, jnp.int32(updates)))
            _REFERENCE[key] = iqm(np.asarray(out["metrics"]["eval_return"]))
        return _REFERENCE[key]


def _algo(g: RLGenome, program: Any) -> Algo:
    """The traced algorithm inputs; fixed dtypes so one executable serves every genome."""
    return Algo(
        objective=jax.tree.map(jnp.asarray, program),
        lr=jnp.float32(g.lr),
        gae_lambda=jnp.float32(g.gae_lambda),
        vf_coef=jnp.float32(g.vf_coef),
        ent_coef=jnp.float32(g.ent_coef),
        epochs=jnp.int32(g.epochs),
        minibatches=jnp.int32(g.minibatches),
        adv_norm=jnp.int32(ADV_NORMS.index(g.adv_norm)),
        value_loss=jnp.int32(VALUE_LOSSES.index(g.value_loss)),
    )


def _seed_keys(seed: int, n: int) -> jax.Array:
    # RngBitGenerator keys: much less code to compile than threefry, and fine for RL noise.
    return jax.random.split(jax.random.key(seed, impl="unsafe_rbg"), n)


def _training_curve(m: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mean over seeds of the return of episodes finished in each update, carried forward when none did."""
    ret = m["episode_return_sum"] / np.maximum(m["episode_count"], 1)  # (seeds, updates)
    has = m["episode_count"] > 0
    out = np.zeros_like(ret)
    last = np.zeros(ret.shape[0])
    for u in range(ret.shape[1]):
        last = np.where(has[:, u], ret[:, u], last)
        out[:, u] = last
    return out.mean(0)


def _param_count(state: Any) -> int:
    return int(sum(np.asarray(x).size for x in jax.tree.leaves(state)))


def _enable_compile_cache(path: str) -> None:
    """Share compiled executables between worker processes (only if nobody configured a cache)."""
    if jax.config.jax_compilation_cache_dir:
        return
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def _grammar(s: RLSettings) -> str:
    ops = "\n".join(
        f"  {name}({', '.join(op.args)}) -> {op.ret}: {op.doc}" for name, op in OPS.items()
    )
    from domains.rl.ops import INPUT_DOCS

    inputs = "\n".join(f"  {k}: {v}" for k, v in INPUT_DOCS.items())
    examples = "\n\n".join(f"# {name}\n{G.to_text(g)}" for name, g in G.baselines().items())
    return f"""An RL algorithm of the PPO family, one `key = value` per line, all keys required:

objective = <expression>   per-sample loss to MINIMISE; the trainer minimises
                           mean(objective) + vf_coef * value_loss - ent_coef * mean(entropy)
gae_lambda = <0..1>        GAE lambda (0: one-step TD, 1: Monte Carlo)
adv_norm = none | batch | minibatch    how `nadv` is normalised
value_loss = mse | clipped | huber     critic loss (clipped: PPO's, range 0.2; huber: delta 1)
vf_coef = <0..2>
ent_coef = <0..0.1>
epochs = <1..8>            passes over each rollout
minibatches = 1 | 2 | 4    optimiser steps per pass
lr = <1e-05..0.01>         Adam learning rate, linearly annealed to 0

Expressions are nested calls over per-sample inputs and decimal constants. Types: R (real),
B (boolean, only from gt/lt, only consumed by where). The objective must be R, have at most
{s.max_nodes} nodes and depth {s.max_depth}, and let a gradient reach the policy through ratio,
logratio or kl (entropy alone does not count: it does not depend on the action taken).

Inputs (all R):
{inputs}

Operators (argument types -> result type), all protected against overflow:
{ops}

Examples:
{examples}
"""
