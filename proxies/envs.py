"""The JAX environments the RL proxy trains on: gymnax tasks plus one partially observable variant.

Every environment is a gymnax `Environment` (stateless object, state and params passed in and
out, auto-reset inside `step`), so a whole training run over it jits and vmaps. `EnvSpec` carries
the few numbers the proxy and the domain need (sizes, episode cap, the return that counts as the
top of the normalised scale). Image observations (MinAtar's 10x10xC grids) are flattened, so
every torso sees a vector.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment


@dataclass(frozen=True)
class EnvSpec:
    name: str
    obs_dim: int
    num_actions: int
    horizon: int  # longest possible episode: the final evaluation runs this many steps
    max_return: float  # top of the normalised scale: a perfect agent's return, or (MinAtar) a nominal scale
    partially_observable: bool  # memory over recent observations helps


class MaskedObservation(environment.Environment):
    """Wraps an environment, flattens its observation and keeps only some components (all if `keep` is None).

    CartPole without its two velocities is the classic POMDP: the agent has to infer velocity
    from successive positions, so a network with memory over recent frames beats a memoryless one.
    MinAtar's (10, 10, C) images go through with `keep=None`: flattened to 100*C features.
    """

    def __init__(self, env: environment.Environment, keep: tuple[int, ...] | None, params: Any):
        super().__init__()
        self._env = env
        self._keep = None if keep is None else jnp.asarray(keep, dtype=jnp.int32)
        self._n = int(np.prod(env.observation_space(params).shape)) if keep is None else len(keep)

    @property
    def default_params(self) -> Any:
        return self._env.default_params

    @property
    def name(self) -> str:
        return f"Masked{self._env.name}"

    @property
    def num_actions(self) -> int:
        return self._env.num_actions

    def action_space(self, params: Any):
        return self._env.action_space(params)

    def observation_space(self, params: Any):
        inner = self._env.observation_space(params)
        low, high = (self._view(jnp.broadcast_to(jnp.asarray(b), inner.shape)) for b in (inner.low, inner.high))
        return gymnax.environments.spaces.Box(low, high, (self._n,), inner.dtype)

    def _view(self, obs: jax.Array) -> jax.Array:
        flat = obs.reshape(-1)
        return flat if self._keep is None else flat[self._keep]

    def reset(self, key: jax.Array, params: Any = None):
        obs, state = self._env.reset(key, params)
        return self._view(obs), state

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        if "final_observation" in info:
            info = {**info, "final_observation": self._view(info["final_observation"])}
        return self._view(obs), state, reward, terminated, truncated, info


# name -> (gymnax id, observation view: None (as is), "flat" or kept components, max return, partially observable).
# The max return is the top of the normalised scale: a perfect agent's return where one exists (CartPole's
# cap, Acrobot's bound 0 — the fastest swing-up still costs some steps, so it is out of reach —, MemoryChain's
# +1). MinAtar games have no ceiling (episodes last up to 1,000 steps, 2,500 for Freeway): their max is a
# nominal scale, not a bound (the normalised score can pass 1), not yet calibrated against a `small` GPU run.
_REGISTRY: dict[str, tuple[str, str | tuple[int, ...] | None, float, bool]] = {
    "CartPole-v1": ("CartPole-v1", None, 500.0, False),
    "Acrobot-v1": ("Acrobot-v1", None, 0.0, False),
    # x and theta only: velocities must be inferred from the observation history.
    "CartPoleNoVel-v1": ("CartPole-v1", (0, 2), 500.0, True),
    # bsuite memory task: context bits shown at t=0, one of them (the query, shown at the end) must be
    # recalled at the end of the chain (episodes last memory_length + 1 steps; num_bits context bits).
    "MemoryChain-bsuite": ("MemoryChain-bsuite", None, 1.0, True),
    # MinAtar (Young & Tian 2019), as in PureJaxRL and Lu et al. 2022 (Discovered Policy Optimisation).
    "Breakout-MinAtar": ("Breakout-MinAtar", "flat", 100.0, False),
    "Asterix-MinAtar": ("Asterix-MinAtar", "flat", 100.0, False),
    "SpaceInvaders-MinAtar": ("SpaceInvaders-MinAtar", "flat", 400.0, False),
    "Freeway-MinAtar": ("Freeway-MinAtar", "flat", 100.0, False),
}


def _horizon(params: Any) -> int:
    if hasattr(params, "memory_length"):
        return int(params.memory_length) + 1
    return int(params.max_steps_in_episode)

ENV_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _overrides(text: str) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError as e:
            raise KeyError(f"bad environment parameter {item!r}") from e
    return out


def make_env(name: str) -> tuple[environment.Environment, Any, EnvSpec]:
    """The environment object, its params and its spec; KeyError for unknown names.

    `name` is a registered name, optionally followed by parameter overrides:
    "MemoryChain-bsuite:memory_length=7,num_bits=3" (fields of the env's gymnax EnvParams, or arguments of
    its constructor).
    """
    base, _, extra = name.partition(":")
    if base not in _REGISTRY:
        raise KeyError(f"unknown environment {base!r}; known: {', '.join(ENV_NAMES)}")
    gym_id, view, max_return, pomdp = _REGISTRY[base]
    env, params = gymnax.make(gym_id)
    overrides = _overrides(extra)
    # EnvParams fields go to the params; the rest to the env's constructor (MemoryChain's num_bits).
    ctor = {k: v for k, v in overrides.items() if k not in vars(params)}
    accepted = set(inspect.signature(type(env).__init__).parameters) - {"self"}
    unknown = set(ctor) - accepted
    if unknown:
        raise KeyError(f"{base} has no parameters {sorted(unknown)}; it has {sorted({*vars(params), *accepted})}")
    if ctor:
        env, _ = gymnax.make(gym_id, **ctor)
    params = params.replace(**{k: v for k, v in overrides.items() if k not in ctor})
    if view is not None:
        env = MaskedObservation(env, None if view == "flat" else view, params)
    obs_dim = int(env.observation_space(params).shape[0])
    spec = EnvSpec(name, obs_dim, int(env.num_actions), _horizon(params), max_return, pomdp)
    return env, params, spec
