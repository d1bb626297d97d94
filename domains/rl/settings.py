"""The rl domain's settings (conf/domain/rl.yaml documents each key), typed and closed: an unknown key is an
error that names the valid ones (domains/settings.py). Defaults are the `tiny` scale."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from domains.settings import SettingsError, from_config


@dataclass(frozen=True)
class RLSettings:
    """The domain's config section (conf/domain/rl.yaml) after the scale is merged in."""

    envs: tuple[str, ...] = ("CartPole-v1", "Acrobot-v1", "MemoryChain-bsuite:memory_length=7,num_bits=3")
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
    reference_seed: int = 10_007  # seed of the cached random-policy runs (the 0 of the normalised score)
    random_episodes: int = 1024
    compile_cache: bool = False  # JAX persistent compilation cache under $EVOLVE_CACHE/jax (shared by processes)
    scale: str = "tiny"
    device: str = "cpu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "envs", tuple(self.envs))
        object.__setattr__(self, "timesteps", dict(self.timesteps or {}))
        if self.memory not in ("partial", "all", "none"):
            raise SettingsError(f"rl setting memory must be partial, all or none, got {self.memory!r}")

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> "RLSettings":
        s = from_config(cls, cfg, domain="rl")
        from proxies.envs import make_env  # imports gymnax: only when the domain is built

        for env in s.envs:
            make_env(env)  # KeyError for unknown names
        return s
