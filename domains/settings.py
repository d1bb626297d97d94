"""Typed domain settings: one frozen dataclass per domain, built from the engine's merged config dict.

Why: a typo in a domain's config (`domains.arch.scales.tiny.stepz=3`) must fail before anything runs,
naming the key and the valid ones, rather than being silently ignored. Every domain builds its settings
with `from_config(SettingsClass, cfg, domain=name)`; the engine builds each domain once while checking
inputs (`evolve.config.check_inputs`), so a bad key stops the run before a run directory exists.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

# Keys the engine adds to every domain's dict (evolve.plugins.domain_config): never a domain's to declare.
ENGINE_KEYS: frozenset[str] = frozenset({"plugin", "scale", "device", "rung"})

S = TypeVar("S")


class SettingsError(ValueError):
    """A domain setting that does not exist (or has a bad value); the message names the valid ones."""


def check_keys(given: Mapping[str, Any], valid: set[str] | frozenset[str], where: str) -> None:
    """Raise SettingsError naming every key of `given` that is not in `valid`, and the valid ones."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise SettingsError(f"unknown {where} setting{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))}; valid: {', '.join(sorted(valid))}")


def field_names(cls: type) -> frozenset[str]:
    """The fields a settings dataclass declares (the valid keys of a nested block built from it)."""
    return frozenset(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]


def from_config(cls: type[S], cfg: Mapping[str, Any] | None, *, domain: str) -> S:
    """`cls(**cfg)` for a frozen dataclass `cls`, with the engine's keys kept when `cls` declares them and
    dropped otherwise; any other key `cls` does not declare is a SettingsError."""
    cfg = dict(cfg or {})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    check_keys({k: v for k, v in cfg.items() if k not in ENGINE_KEYS}, known, domain)
    return cls(**{k: v for k, v in cfg.items() if k in known})


def as_dict(settings: Any, cfg: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings as a plain dict (for pure modules that take one), plus the engine's keys from `cfg`."""
    out = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    out.update({k: v for k, v in dict(cfg or {}).items() if k in ENGINE_KEYS and k not in out})
    return out
