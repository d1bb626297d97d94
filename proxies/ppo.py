"""PPO-family trainer in the PureJaxRL shape, with the policy objective supplied as a function.

`make_train(cfg, objective_fn, network_fn, env_name)` returns a pure `train(key, algo)`; the
whole run (rollouts, GAE, epochs of minibatch updates, a final evaluation) is one jitted
function and seeds are vmapped: `jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, algo)`.

What varies between algorithms is split in two so that one compilation serves many of them:
- static (`PPOConfig`): anything that fixes a shape or a loop length — envs, rollout length,
  number of updates, observation window, the chunk count of an epoch;
- traced (`Algo`): learning rate, GAE lambda, coefficients, epochs, minibatches, advantage
  normalisation, value-loss form, and `objective` — an arbitrary pytree handed to
  `objective_fn`. When the objective is data (an encoded expression program) rather than a
  closure, a new algorithm reuses the compiled train function (XLA compiles take seconds on CPU).

Minibatches are traced too: each epoch's batch is split into `cfg.num_minibatches` equal chunks
and gradients are accumulated over `num_minibatches // algo.minibatches` chunks per optimiser
step, which is exactly a minibatch of that size (the loss is a mean over samples; "minibatch"
advantage normalisation uses the statistics of the whole minibatch).

`objective_fn(objective, inputs) -> (B,)` gets the per-sample inputs named in `INPUT_NAMES`
(see `objective_inputs`) and returns a per-sample loss to minimise. One of them, `gadv`, is
group-relative (GRPO, Shao et al. 2024): each step's return target normalised over the group of
parallel rollouts at the same step (`group_relative`), computed once per rollout before shuffling. The trainer adds the value
loss and the entropy bonus, and guards the run: a non-finite or exploding loss or gradient
stops all further updates and is reported in `metrics["diverged"]`.

Episode ends (termination or the time limit) cut the bootstrap, as in PureJaxRL.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

from proxies.envs import make_env
from proxies.ppo_nets import NetworkFn

# Per-sample inputs of an objective, in a fixed order (objective programs index them).
INPUT_NAMES: tuple[str, ...] = ("ratio", "logratio", "adv", "nadv", "value", "old_value", "ret", "entropy", "kl", "gadv")
ADV_NORMS: tuple[str, ...] = ("none", "batch", "minibatch")
VALUE_LOSSES: tuple[str, ...] = ("mse", "clipped", "huber")

ObjectiveFn = Callable[[Any, dict[str, jax.Array]], jax.Array]


@dataclass(frozen=True)
class PPOConfig:
    """Static settings of a run (they fix shapes and loop lengths, so they key compilation)."""

    num_envs: int = 16  # parallel environments per seed
    num_steps: int = 32  # rollout length per update
    total_timesteps: int = 65_536  # env steps per seed
    num_minibatches: int = 4  # chunks per epoch; an algorithm's minibatch count must divide it
    gamma: float = 0.99  # discount
    max_grad_norm: float = 0.5  # global-norm gradient clipping
    anneal_lr: bool = True  # linear decay of the learning rate to 0 over the run
    window: int = 1  # observations the network sees (K); 1 for memoryless torsos
    eval_envs: int = 16  # episodes in the final evaluation (one per env)
    greedy_eval: bool = False  # evaluate argmax actions instead of sampling the policy
    value_clip: float = 0.2  # range of the "clipped" value loss
    huber_delta: float = 1.0  # delta of the "huber" value loss
    loss_limit: float = 1e6  # |loss| above this counts as an explosion

    @property
    def num_updates(self) -> int:
        return max(1, self.total_timesteps // (self.num_envs * self.num_steps))

    @property
    def env_steps(self) -> int:
        """Env steps one seed actually trains on (a whole number of rollouts)."""
        return self.num_updates * self.num_envs * self.num_steps

    @classmethod
    def tiny(cls, **overrides: Any) -> "PPOConfig":
        """2 CPU cores: CartPole-v1 solved in 64k steps."""
        return cls(**{**dict(num_envs=16, num_steps=32, total_timesteps=65_536), **overrides})

    @classmethod
    def small(cls, **overrides: Any) -> "PPOConfig":
        """One GPU: more parallel envs, longer runs."""
        return cls(**{**dict(num_envs=64, num_steps=64, total_timesteps=1_048_576), **overrides})


class Algo(NamedTuple):
    """Traced algorithm settings: changing them does not recompile."""

    objective: Any  # pytree for objective_fn (e.g. an encoded expression program)
    lr: jax.Array | float = 4e-3
    gae_lambda: jax.Array | float = 0.95
    vf_coef: jax.Array | float = 0.5
    ent_coef: jax.Array | float = 0.01
    epochs: jax.Array | int = 4
    minibatches: jax.Array | int = 4  # must divide cfg.num_minibatches
    adv_norm: jax.Array | int = 2  # index into ADV_NORMS
    value_loss: jax.Array | int = 1  # index into VALUE_LOSSES


class Transition(NamedTuple):
    window: jax.Array  # (N, K, obs_dim) what the policy saw
    action: jax.Array  # (N,)
    log_prob: jax.Array  # (N,)
    value: jax.Array  # (N,)
    reward: jax.Array  # (N,)
    done: jax.Array  # (N,) episode ended with this step (terminated or truncated)
    ep_return: jax.Array  # (N,) the finished episode's return where done, else 0


def objective_inputs(
    log_prob: jax.Array,
    old_log_prob: jax.Array,
    adv: jax.Array,
    nadv: jax.Array,
    value: jax.Array,
    old_value: jax.Array,
    ret: jax.Array,
    entropy: jax.Array,
    gadv: jax.Array,
) -> dict[str, jax.Array]:
    """The per-sample inputs an objective sees; `ratio`, `logratio` and `kl` carry the policy gradient."""
    logratio = log_prob - old_log_prob
    ratio = jnp.exp(jnp.clip(logratio, -20.0, 20.0))
    kl = (ratio - 1.0) - logratio  # k3 estimator of KL(old || new), >= 0
    return dict(
        ratio=ratio, logratio=logratio, adv=adv, nadv=nadv, value=value,
        old_value=old_value, ret=ret, entropy=entropy, kl=kl, gadv=gadv,
    )  # fmt: skip


def _normalise(x: jax.Array) -> jax.Array:
    return (x - x.mean()) / (x.std() + 1e-8)


def group_relative(x: jax.Array) -> jax.Array:
    """GRPO's advantage: (x - mean) / std over each group of rollouts, the last axis of a (T, N) array.

    The N parallel rollouts at one step are the group (as GRPO compares the G completions of one
    prompt): each is scored against the others, so no critic is needed (std without Bessel's correction).
    """
    return (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + 1e-8)


def _group_normalise(x: jax.Array, group: jax.Array) -> jax.Array:
    """Normalise rows of x (chunks, m) within groups of chunks (group id per chunk)."""
    g = x.shape[0]
    count = jax.ops.segment_sum(jnp.full((g,), x.shape[1], x.dtype), group, g)
    mean = jax.ops.segment_sum(x.sum(1), group, g) / jnp.maximum(count, 1)
    centred = x - mean[group][:, None]
    var = jax.ops.segment_sum(jnp.square(centred).sum(1), group, g) / jnp.maximum(count, 1)
    return centred / (jnp.sqrt(var)[group][:, None] + 1e-8)


def _value_loss(algo: Algo, cfg: PPOConfig, value: jax.Array, old_value: jax.Array, ret: jax.Array) -> jax.Array:
    mse = 0.5 * jnp.square(value - ret)
    clipped_v = old_value + jnp.clip(value - old_value, -cfg.value_clip, cfg.value_clip)
    clipped = jnp.maximum(mse, 0.5 * jnp.square(clipped_v - ret))
    huber = optax.huber_loss(value, ret, delta=cfg.huber_delta)
    return jnp.stack([mse, clipped, huber])[algo.value_loss]  # (B,)


def _gae(traj: Transition, last_value: jax.Array, gamma: float, lam: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a (T, N) rollout; episode ends cut the bootstrap."""

    def step(carry, t):
        gae, next_value = carry
        nonterminal = 1.0 - t.done
        delta = t.reward + gamma * next_value * nonterminal - t.value
        gae = delta + gamma * lam * nonterminal * gae
        return (gae, t.value), gae

    _, adv = jax.lax.scan(step, (jnp.zeros_like(last_value), last_value), traj, reverse=True)
    return adv, adv + traj.value  # advantages, return targets


def _push(window: jax.Array, obs: jax.Array, done: jax.Array) -> jax.Array:
    """Append obs to each env's window; an episode end clears the history first."""
    window = jnp.where(done[:, None, None], jnp.zeros_like(window), window)
    return jnp.concatenate([window[:, 1:], obs[:, None]], axis=1)


def make_train(
    cfg: PPOConfig, objective_fn: ObjectiveFn, network_fn: NetworkFn, env_name: str
) -> Callable[..., dict[str, Any]]:
    """A pure `train(key, algo, num_updates=None) -> {"state": params, "metrics": {...}}` for one seed.

    `num_updates` (default `cfg.num_updates`, at most that) may be traced: one executable then
    serves every stage budget. metrics: per update (leading axis `cfg.num_updates`; entries past
    `num_updates` are 0) `episode_return_sum`, `episode_count` (episodes finished in that
    rollout), `loss`, `objective`, `value_loss`, `entropy`, `approx_kl`, `diverged`; and
    `eval_return`, the final policy's mean episode return (sampled, or greedy with cfg.greedy_eval).
    """
    env, env_params, spec = make_env(env_name)
    n, t_len, k_win, chunks = cfg.num_envs, cfg.num_steps, cfg.window, cfg.num_minibatches
    batch = n * t_len
    if batch % chunks:
        raise ValueError(f"num_envs*num_steps={batch} not divisible by num_minibatches={chunks}")
    chunk = batch // chunks
    max_updates = cfg.num_updates
    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset_envs = jax.vmap(env.reset, in_axes=(0, None))
    evaluate = make_evaluate(cfg, env_name)

    def train(key: jax.Array, algo: Algo, num_updates: jax.Array | int | None = None) -> dict[str, Any]:
        num_updates = jnp.minimum(jnp.asarray(max_updates if num_updates is None else num_updates, jnp.int32), max_updates)
        key, k_net, k_reset = jax.random.split(key, 3)
        graphdef, params, rest = nnx.split(network_fn(nnx.Rngs(k_net)), nnx.Param, ...)
        # One flat parameter vector: optimiser, guard and gradient are single arrays,
        # which keeps the compiled program (and its compile time) small.
        flat_params, unravel = ravel_pytree(params)

        def policy(p: jax.Array, window: jax.Array) -> tuple[jax.Array, jax.Array]:
            return nnx.merge(graphdef, unravel(p), rest)(window)  # (B, A), (B,)

        epochs = jnp.asarray(algo.epochs, jnp.int32)
        per_step = chunks // jnp.asarray(algo.minibatches, jnp.int32)  # chunks per optimiser step
        steps_per_update = jnp.asarray(algo.minibatches, jnp.int32) * epochs

        def lr_scale(count: jax.Array) -> jax.Array:
            frac = 1.0 - (count // steps_per_update) / num_updates if cfg.anneal_lr else 1.0
            return -algo.lr * frac

        tx = optax.chain(
            optax.clip_by_global_norm(cfg.max_grad_norm),
            optax.scale_by_adam(eps=1e-5),
            optax.scale_by_schedule(lr_scale),
        )
        obs, env_state = reset_envs(jax.random.split(k_reset, n), env_params)
        window = _push(jnp.zeros((n, k_win, spec.obs_dim)), obs, jnp.zeros((n,), bool))

        # ---- rollout -------------------------------------------------------------------
        def env_step(carry, _):
            p, env_state, window, ep_ret, key = carry
            key, k_act, k_step = jax.random.split(key, 3)
            logits, value = policy(p, window)  # (N, A), (N,)
            action = jax.random.categorical(k_act, logits)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=1)[:, 0]
            obs, env_state, reward, term, trunc, _ = step_envs(jax.random.split(k_step, n), env_state, action, env_params)
            done = jnp.logical_or(term, trunc)
            ep_ret = ep_ret + reward
            tr = Transition(window, action, log_prob, value, reward, done.astype(jnp.float32), ep_ret * done)
            return (p, env_state, _push(window, obs, done), ep_ret * (1.0 - done), key), tr

        # ---- loss over one chunk ---------------------------------------------------------
        def loss_fn(p: jax.Array, mb: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
            logits, value = policy(p, mb["window"])
            logp_all = jax.nn.log_softmax(logits)  # (m, A)
            log_prob = jnp.take_along_axis(logp_all, mb["action"][:, None], axis=1)[:, 0]
            entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1)
            nadv = jnp.stack([mb["adv"], mb["adv_batch"], mb["adv_minibatch"]])[algo.adv_norm]
            inputs = objective_inputs(
                log_prob, mb["log_prob"], mb["adv"], nadv, value, mb["value"], mb["ret"], entropy, mb["gadv"]
            )
            obj = jnp.broadcast_to(objective_fn(algo.objective, inputs), log_prob.shape).mean()
            v_loss = _value_loss(algo, cfg, value, mb["value"], mb["ret"]).mean()
            total = obj + algo.vf_coef * v_loss - algo.ent_coef * entropy.mean()
            return total, jnp.stack([total, obj, v_loss, entropy.mean(), inputs["kl"].mean()])

        def chunk_step(carry, xs):
            p, opt_state, diverged, acc = carry
            i, mb = xs
            (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, mb)
            healthy = jnp.isfinite(loss) & jnp.all(jnp.isfinite(grads)) & (jnp.abs(loss) < cfg.loss_limit)
            diverged = diverged | ~healthy
            acc = acc + grads / per_step
            apply = ((i + 1) % per_step == 0) & ~diverged  # the minibatch is complete
            upd, new_opt = tx.update(acc, opt_state, p)
            p = jnp.where(apply, p + upd, p)
            opt_state = jax.tree.map(lambda a, b: jnp.where(apply, a, b), new_opt, opt_state)
            acc = jnp.where((i + 1) % per_step == 0, jnp.zeros_like(acc), acc)
            return (p, opt_state, diverged, acc), stats

        # ---- one update: rollout, advantages, epochs of minibatch steps ------------------
        def update(runner):
            p, opt_state, env_state, window, ep_ret, key, diverged = runner
            (p, env_state, window, ep_ret, key), traj = jax.lax.scan(
                env_step, (p, env_state, window, ep_ret, key), None, t_len
            )
            _, last_value = policy(p, window)
            adv, ret = _gae(traj, last_value, cfg.gamma, algo.gae_lambda)  # (T, N)
            flat = lambda x: x.reshape((batch,) + x.shape[2:])  # noqa: E731
            data = dict(
                window=flat(traj.window), action=flat(traj.action), log_prob=flat(traj.log_prob),
                value=flat(traj.value), adv=flat(adv), adv_batch=_normalise(flat(adv)), ret=flat(ret),
                gadv=flat(group_relative(ret)),
            )  # fmt: skip
            group = jnp.arange(chunks) // per_step  # the minibatch each chunk belongs to

            def epoch(_, carry):
                p, opt_state, diverged, key, stats = carry
                key, k_perm = jax.random.split(key)
                perm = jax.random.permutation(k_perm, batch)
                mbs = jax.tree.map(lambda x: x[perm].reshape((chunks, chunk) + x.shape[1:]), data)
                mbs["adv_minibatch"] = _group_normalise(mbs["adv"], group)
                acc = jnp.zeros_like(p)
                (p, opt_state, diverged, _), s = jax.lax.scan(
                    chunk_step, (p, opt_state, diverged, acc), (jnp.arange(chunks), mbs)
                )
                return p, opt_state, diverged, key, stats + s.mean(0)

            p, opt_state, diverged, key, stats = jax.lax.fori_loop(
                0, epochs, epoch, (p, opt_state, diverged, key, jnp.zeros(5))
            )
            stats = stats / epochs
            metrics = dict(
                episode_return_sum=traj.ep_return.sum(), episode_count=traj.done.sum(),
                loss=stats[0], objective=stats[1], value_loss=stats[2], entropy=stats[3],
                approx_kl=stats[4], diverged=diverged,
            )  # fmt: skip
            return (p, opt_state, env_state, window, ep_ret, key, diverged), metrics

        def loop(i, carry):
            runner, metrics = carry
            runner, m = update(runner)
            return runner, jax.tree.map(lambda buf, v: buf.at[i].set(v), metrics, m)

        runner = (flat_params, tx.init(flat_params), env_state, window, jnp.zeros((n,)), key, jnp.array(False))
        metrics = jax.tree.map(lambda v: jnp.zeros((max_updates,), v.dtype), jax.eval_shape(update, runner)[1])
        runner, metrics = jax.lax.fori_loop(0, num_updates, loop, (runner, metrics))
        flat_params, key = runner[0], runner[5]
        def act(window: jax.Array, k: jax.Array) -> jax.Array:
            logits = policy(flat_params, window)[0]
            return jnp.argmax(logits, axis=-1) if cfg.greedy_eval else jax.random.categorical(k, logits)

        metrics["eval_return"] = evaluate(act, key)
        return {"state": unravel(flat_params), "metrics": metrics}

    return train


def make_evaluate(cfg: PPOConfig, env_name: str) -> Callable[[Callable, jax.Array], jax.Array]:
    """`evaluate(act_fn, key)`: mean return of one episode in each of `cfg.eval_envs` envs.

    `act_fn(window (M, K, obs_dim), key) -> actions (M,)`; episodes run to `spec.horizon` steps,
    rewards after an episode's end are ignored.
    """
    env, env_params, spec = make_env(env_name)
    m, k_win = cfg.eval_envs, cfg.window
    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset_envs = jax.vmap(env.reset, in_axes=(0, None))

    def evaluate(act_fn: Callable[[jax.Array, jax.Array], jax.Array], key: jax.Array) -> jax.Array:
        key, k_reset = jax.random.split(key)
        obs, env_state = reset_envs(jax.random.split(k_reset, m), env_params)
        window = _push(jnp.zeros((m, k_win, spec.obs_dim)), obs, jnp.zeros((m,), bool))

        def step(carry, _):
            env_state, window, ret, alive, key = carry
            key, k_act, k_step = jax.random.split(key, 3)
            action = act_fn(window, k_act)
            obs, env_state, reward, term, trunc, _ = step_envs(jax.random.split(k_step, m), env_state, action, env_params)
            done = jnp.logical_or(term, trunc)
            return (env_state, _push(window, obs, done), ret + reward * alive, alive & ~done, key), None

        init = (env_state, window, jnp.zeros((m,)), jnp.ones((m,), bool), key)
        (_, _, ret, _, _), _ = jax.lax.scan(step, init, None, spec.horizon)
        return ret.mean()

    return evaluate


def random_return(env_name: str, key: jax.Array, episodes: int = 256) -> float:
    """Mean return of the uniform-random policy: the 0 of the normalised return."""
    _, _, spec = make_env(env_name)
    evaluate = make_evaluate(PPOConfig(eval_envs=episodes), env_name)
    act = lambda w, k: jax.random.randint(k, (w.shape[0],), 0, spec.num_actions)  # noqa: E731
    return float(jax.jit(lambda k: evaluate(act, k))(key))
