"""The architecture domain: a typed block grammar over token/channel mixers, compiled to Flax NNX.

See docs/domains/arch.md. `ArchDomain` is the plugin (entry point `arch` in group `evolve.domains`).
"""
from domains.arch.domain import ArchDomain

__all__ = ["ArchDomain"]
