"""Designers: who proposes the next genomes. `build_designer` picks one from the config.

`campaign.designer` chooses the base designer — `gp` (typed variation of Pareto-selected parents) or
`random` (domain samples, the ablation's control) — and the LLM designer wraps it when an LLM client is
connected (`evolve.llm.connect`).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from evolve.designers.gp import GPDesigner
from evolve.designers.random import RandomDesigner

DESIGNERS = {"gp": GPDesigner, "random": RandomDesigner}


def base_designer(campaign_cfg: Mapping[str, Any]) -> GPDesigner:
    """The designer named by `campaign.designer` (default gp), with the campaign's GP settings."""
    name = str(campaign_cfg.get("designer", "gp"))
    if name not in DESIGNERS:
        raise ValueError(f"campaign.designer must be one of {sorted(DESIGNERS)}, got {name!r}")
    return DESIGNERS[name](float(campaign_cfg["crossover_rate"]), int(campaign_cfg["max_design_attempts"]))


def build_designer(cfg: Mapping[str, Any], connection: Any, context_fn: Callable[[str], Any]) -> Any:
    """The base designer, wrapped by the LLM designer when an LLM client is connected."""
    base = base_designer(cfg["campaign"])
    if connection is None or connection.client is None:
        return base
    from evolve.designers.llm import LLMDesigner

    return LLMDesigner(connection.client, connection.settings, base, context_fn)
