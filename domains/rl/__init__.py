"""RL-algorithm domain: PPO-family objectives as typed expression trees plus algorithm genes.

See docs/domains/rl.md. `RLDomain` is the plugin (entry point `rl`).
"""
from domains.rl.domain import RLDomain
from domains.rl.genome import RLGenome
from domains.rl.settings import RLSettings

__all__ = ["RLDomain", "RLGenome", "RLSettings"]
