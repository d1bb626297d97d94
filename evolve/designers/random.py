"""The random designer: uniform samples from the domain, the ablation's `random` arm.

Why a subclass of the GP designer: the arm must differ from GP in one thing only, where
offspring come from. Duplicate retries, static checks, rejection records and the number
of proposals per cycle are inherited unchanged, so a gap between the arms measures
selection + variation, not bookkeeping.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from evolve.designers.gp import GPDesigner


@dataclass(frozen=True)
class RandomDesigner(GPDesigner):
    name: str = "random"

    def _offspring(self, domain: Any, parents: Sequence[tuple[str, Any]], ranks: np.ndarray,
                   crowding: np.ndarray, rng: np.random.Generator,
                   F: np.ndarray | None) -> tuple[Any, tuple[str, ...], str]:
        """Ignores the parents: every proposal is `domain.sample(rng)`."""
        return domain.sample(rng), (), "sample"
