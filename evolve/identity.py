"""What a campaign is, and which of its settings a resume may not change.

Why: a run directory holds one campaign, and results measured under two configurations must not mix
silently. The *identity* (the set of domains, the scale, the seed) names the campaign; the
*result-affecting configuration* is every setting that changes what an evaluation measures or which
candidates are made, and a resume that changes it is refused with the differences listed (unless
`campaign.allow_config_change=true`). Everything is result-affecting except the keys in
`FREE_ON_RESUME`: how far to go (cycles, budgets that stop the run), where and how it runs (executor
placement, retries), what is logged and shown, and the LLM connection (a server that went away must not
stop a resume; GP fills in).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from evolve.config import flatten

# Dotted prefixes a resume may change freely (documented in the README, "Resume").
FREE_ON_RESUME: tuple[str, ...] = (
    "campaign.cycles", "campaign.budget", "campaign.allow_config_change", "campaign.name",
    "executor.kind", "executor.workers", "executor.max_auto_workers", "executor.pin_cpus", "executor.address", "executor.num_cpus", "executor.num_gpus",
    "executor.max_retries", "executor.startup_allowance_s", "executor.batch_size",
    "tracking", "progress", "llm", "hydra",
)


def identity(domains: Iterable[str], scale: str, seed: int) -> dict[str, Any]:
    """The campaign's identity: the *set* of domains (stored sorted), the scale and the seed."""
    return {"domains": sorted(domains), "scale": str(scale), "seed": int(seed)}


def same_identity(stored: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Equal identities; the domains compare as sets, so `arch, rl, data` is `arch, data, rl`."""
    return (set(stored.get("domains") or ()) == set(current.get("domains") or ())
            and stored.get("scale") == current.get("scale") and stored.get("seed") == current.get("seed"))


def _free(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in FREE_ON_RESUME)


def _at_scale(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """cfg with each domain's budgets cut to the run's scale: other scales' settings do not matter to it."""
    scale = (cfg.get("scale") or {}).get("name")
    domains = {}
    for name, raw in (cfg.get("domains") or {}).items():
        raw = dict(raw)
        scales = raw.pop("scales", None) or {}
        domains[name] = {**raw, "scales": {scale: scales.get(scale)}}
    return {**cfg, "domains": domains}


def result_affecting(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened settings a resume must keep: every key outside FREE_ON_RESUME, domains at the run's scale."""
    return {k: v for k, v in flatten(_at_scale(cfg)).items() if not _free(k)}


def config_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """`key: old -> new` for every result-affecting setting that differs (`(unset)` where one side lacks it)."""
    old, new = result_affecting(stored), result_affecting(current)
    missing = object()
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, missing), new.get(key, missing)
        if a != b:
            show = lambda v: "(unset)" if v is missing else repr(v)  # noqa: E731
            lines.append(f"{key}: {show(a)} -> {show(b)}")
    return lines
