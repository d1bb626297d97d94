"""Actor-critic networks for the RL proxy (Flax NNX).

Every network maps a window of the last K observations `(B, K, obs_dim)` to
`(logits (B, num_actions), value (B,))`, so the trainer never cares which torso it holds:

- `MLPActorCritic` looks at the newest observation only (PureJaxRL's CartPole network);
- `MemoryActorCritic` embeds the whole window and runs a causal sequence block over it — the
  block is any `Callable[[nnx.Rngs], nnx.Module]` mapping `(B, K, D) -> (B, K, D)`, which is how
  an evolved architecture becomes the agent's memory on partially observable tasks.

`mlp_network` / `memory_network` return `network_fn(rngs) -> module` factories, the form
`proxies.ppo.make_train` takes (it builds the module inside the jitted, seed-vmapped run).
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from proxies import blocks

BlockFn = Callable[[nnx.Rngs], nnx.Module]
NetworkFn = Callable[[nnx.Rngs], nnx.Module]


def _dense(d_in: int, d_out: int, scale: float, rngs: nnx.Rngs) -> nnx.Linear:
    """Orthogonal init as in PureJaxRL: sqrt(2) for hidden layers, small for the policy head."""
    return nnx.Linear(
        d_in, d_out, kernel_init=nnx.initializers.orthogonal(scale), bias_init=nnx.initializers.zeros, rngs=rngs
    )


class Head(nnx.Module):
    """features -> tanh hidden -> output."""

    def __init__(self, d_in: int, hidden: int, d_out: int, out_scale: float, *, rngs: nnx.Rngs):
        self.hidden = _dense(d_in, hidden, math.sqrt(2), rngs)
        self.out = _dense(hidden, d_out, out_scale, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jnp.tanh(self.hidden(x)))


class MLPActorCritic(nnx.Module):
    """Separate actor and critic MLPs over the newest observation (no memory)."""

    def __init__(self, obs_dim: int, num_actions: int, hidden: int = 64, *, rngs: nnx.Rngs):
        self.actor_in = _dense(obs_dim, hidden, math.sqrt(2), rngs)
        self.actor = Head(hidden, hidden, num_actions, 0.01, rngs=rngs)
        self.critic_in = _dense(obs_dim, hidden, math.sqrt(2), rngs)
        self.critic = Head(hidden, hidden, 1, 1.0, rngs=rngs)

    def __call__(self, window: jax.Array) -> tuple[jax.Array, jax.Array]:
        obs = window[:, -1]  # (B, obs_dim)
        logits = self.actor(jnp.tanh(self.actor_in(obs)))  # (B, A)
        value = self.critic(jnp.tanh(self.critic_in(obs)))[:, 0]  # (B,)
        return logits, value


class CausalSelfAttention(nnx.Module):
    """A pre-norm causal attention + MLP block: the default memory when no architecture is given."""

    def __init__(self, d_model: int, num_heads: int = 2, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(d_model, rngs=rngs)
        self.attn = blocks.CausalSelfAttention(d_model, num_heads, rope=False, bias=True, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d_model, rngs=rngs)
        self.up = nnx.Linear(d_model, 2 * d_model, rngs=rngs)
        self.down = nnx.Linear(2 * d_model, d_model, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.attn(self.norm1(x))  # proxies.blocks' causal attention, no positions (MemoryActorCritic adds them)
        return x + self.down(jax.nn.gelu(self.up(self.norm2(x))))


class MemoryActorCritic(nnx.Module):
    """Embeds the observation window, runs the (evolved) causal block over it, reads the last step."""

    def __init__(
        self,
        block_fn: BlockFn,
        obs_dim: int,
        num_actions: int,
        window: int,
        d_model: int = 32,
        hidden: int = 64,
        *,
        rngs: nnx.Rngs,
    ):
        self.embed = _dense(obs_dim, d_model, 1.0, rngs)
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (window, d_model)))
        self.block = block_fn(rngs)
        self.norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.actor = Head(d_model, hidden, num_actions, 0.01, rngs=rngs)
        self.critic = Head(d_model, hidden, 1, 1.0, rngs=rngs)

    def __call__(self, window: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = self.embed(window) + self.pos[...]  # (B, K, D)
        x = self.block(x)  # (B, K, D), causal
        z = self.norm(x[:, -1])  # (B, D): the newest step has seen the whole window
        return self.actor(z), self.critic(z)[:, 0]


def default_block(d_model: int, num_heads: int = 2) -> BlockFn:
    return lambda rngs: CausalSelfAttention(d_model, num_heads, rngs=rngs)


def mlp_network(obs_dim: int, num_actions: int, hidden: int = 64) -> NetworkFn:
    return lambda rngs: MLPActorCritic(obs_dim, num_actions, hidden, rngs=rngs)


def memory_network(
    block_fn: BlockFn, obs_dim: int, num_actions: int, window: int, d_model: int = 32, hidden: int = 64
) -> NetworkFn:
    return lambda rngs: MemoryActorCritic(block_fn, obs_dim, num_actions, window, d_model, hidden, rngs=rngs)
