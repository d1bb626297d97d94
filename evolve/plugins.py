"""Finding domain plugins: the engine knows domains only by entry point (group `evolve.domains`).

A third party adds a domain by registering `name = "package.module:Class"` under that group
(or by naming `module:Class` directly as the domain's `plugin`); nothing in `evolve/` changes.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Mapping

GROUP = "evolve.domains"


class PluginError(LookupError):
    """A domain plugin cannot be found or built."""


def available() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def domain_class(plugin: str) -> type:
    """Resolve an entry-point name (`arch`) or an import path (`pkg.mod:Class`)."""
    if ":" in plugin:
        module, _, attr = plugin.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"cannot import domain plugin {plugin!r}: {exc}") from exc
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == plugin]
    if not matches:
        raise PluginError(f"unknown domain plugin {plugin!r}; installed: {', '.join(available()) or 'none'} "
                          f"(register one under the {GROUP!r} entry-point group)")
    return matches[0].load()


def build_domain(name: str, cfg: Mapping[str, Any]) -> Any:
    """Instantiate a domain from its resolved config dict (see `domain_config`)."""
    cls = domain_class(str(cfg.get("plugin", name)))
    return cls(dict(cfg))


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) \
            else value
    return out


def domain_config(raw: Mapping[str, Any], scale: str, device: str, rung: str | None = None) -> dict[str, Any]:
    """Merge a domain's settings with its budgets for `scale` (the contract in domains/base.py), and,
    on a ladder of scales, with the settings of one `rung` (`scales.<scale>.rungs.<rung>`, merged key
    by key over the scale's own settings: e.g. a larger d_model for the stage that uses that rung)."""
    settings = {k: v for k, v in raw.items() if k != "scales"}
    scales = raw.get("scales") or {}
    if scale not in scales:
        raise PluginError(f"domain {raw.get('plugin')!r} has no budgets for scale {scale!r}; "
                          f"it defines: {', '.join(sorted(scales)) or 'none'}")
    own = dict(scales[scale])
    rungs = own.pop("rungs", None) or {}
    merged = {**settings, **own}
    if rung is not None:
        if rung not in rungs:
            raise PluginError(f"domain {raw.get('plugin')!r} has no settings for rung {rung!r} of scale {scale!r}; "
                              f"it defines: {', '.join(sorted(rungs)) or 'none'}")
        merged = _deep_merge(merged, rungs[rung])
    return {**merged, "scale": scale, "device": device, **({"rung": rung} if rung is not None else {})}
