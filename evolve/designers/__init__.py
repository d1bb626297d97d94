"""Designers: who proposes the next genomes. `build_designer` picks one from the config."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from evolve.designers.gp import GPDesigner


def build_designer(cfg: Mapping[str, Any], connection: Any, context_fn: Callable[[str], Any]) -> Any:
    """The GP designer, wrapped by the LLM designer when an LLM client is connected (`evolve.llm.connect`)."""
    camp = cfg["campaign"]
    gp = GPDesigner(float(camp["crossover_rate"]), int(camp["max_design_attempts"]))
    if connection is None or connection.client is None:
        return gp
    from evolve.designers.llm import LLMDesigner

    return LLMDesigner(connection.client, connection.settings, gp, context_fn)
