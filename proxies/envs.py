"""The JAX environments the RL proxy trains on: gymnax tasks plus one partially observable variant.

Every environment is a gymnax `Environment` (stateless object, state and params passed in and
out, auto-reset inside `step`), so a whole training run over it jits and vmaps. `EnvSpec` carries
the few numbers the proxy and the domain need (sizes, episode cap, the return a perfect agent gets).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnax
import jax
import jax.numpy as jnp
from gymnax.environments import environment


@dataclass(frozen=True)
class EnvSpec:
    name: str
    obs_dim: int
    num_actions: int
    horizon: int  # longest possible episode: the final evaluation runs this many steps
    max_return: float  # return of a perfect agent; bounds normalisation
    partially_observable: bool  # memory over recent observations helps


class MaskedObservation(environment.Environment):
    """Wraps an environment and keeps only some observation components.

    CartPole without its two velocities is the classic POMDP: the agent has to infer velocity
    from successive positions, so a network with memory over recent frames beats a memoryless one.
    """

    def __init__(self, env: environment.Environment, keep: tuple[int, ...]):
        super().__init__()
        self._env = env
        self._keep = jnp.asarray(keep, dtype=jnp.int32)
        self._n = len(keep)

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
        return gymnax.environments.spaces.Box(inner.low[self._keep], inner.high[self._keep], (self._n,), inner.dtype)

    def reset(self, key: jax.Array, params: Any = None):
        obs, state = self._env.reset(key, params)
        return obs[self._keep], state

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        info = {**info, "final_observation": info["final_observation"][self._keep]}
        return obs[self._keep], state, reward, terminated, truncated, info


# name -> (gymnax id, kept observation components or None, perfect return, partially observable)
_REGISTRY: dict[str, tuple[str, tuple[int, ...] | None, float, bool]] = {
    "CartPole-v1": ("CartPole-v1", None, 500.0, False),
    "Acrobot-v1": ("Acrobot-v1", None, 0.0, False),
    # x and theta only: velocities must be inferred from the observation history.
    "CartPoleNoVel-v1": ("CartPole-v1", (0, 2), 500.0, True),
    # bsuite memory task: a context bit shown at t=0 must be recalled at the end of the chain
    # (episodes last memory_length + 1 steps).
    "MemoryChain-bsuite": ("MemoryChain-bsuite", None, 1.0, True),
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
    "MemoryChain-bsuite:memory_length=7" (fields of the env's gymnax EnvParams).
    """
    base, _, extra = name.partition(":")
    if base not in _REGISTRY:
        raise KeyError(f"unknown environment {base!r}; known: {', '.join(ENV_NAMES)}")
    gym_id, keep, max_return, pomdp = _REGISTRY[base]
    env, params = gymnax.make(gym_id)
    overrides = _overrides(extra)
    unknown = set(overrides) - set(vars(params))
    if unknown:
        raise KeyError(f"{base} has no parameters {sorted(unknown)}; it has {sorted(vars(params))}")
    params = params.replace(**overrides)
    if keep is not None:
        env = MaskedObservation(env, keep)
    obs_dim = int(env.observation_space(params).shape[0])
    spec = EnvSpec(name, obs_dim, int(env.num_actions), _horizon(params), max_return, pomdp)
    return env, params, spec
