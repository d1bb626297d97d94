"""Turning the Hydra config into a validated plain dict, with errors that say what to type instead."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the valid choices."""


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> dotted keys (`campaign.budget.evaluations`); leaves, and empty mappings, kept as they
    are. The one flattening of a config: identity comparisons and MLflow params both use it."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def domain_choices() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "domain").glob("*.yaml"))


def _positive(cfg: dict, path: str, kind: type = int, allow_zero: bool = False) -> None:
    node: Any = cfg
    for part in path.split("."):
        node = node[part]
    try:
        value = kind(node)
    except (TypeError, ValueError):
        raise ConfigError(f"{path} must be a {kind.__name__}, got {node!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{path} must be {'>= 0' if allow_zero else '> 0'}, got {node!r}")


def _check_executor(ecfg: dict) -> None:
    kind = ecfg.get("kind")
    if kind not in ("local", "ray"):
        raise ConfigError(f"executor.kind must be local or ray (executor=local|ray), got {kind!r}")
    if kind == "local":
        if ecfg.get("workers") != "auto":
            _positive({"executor": ecfg}, "executor.workers", int)
        if ecfg.get("max_auto_workers") is not None:
            _positive({"executor": ecfg}, "executor.max_auto_workers", int)
    else:
        _positive({"executor": ecfg}, "executor.max_retries", int, allow_zero=True)
        address = ecfg.get("address")
        if address is not None and not isinstance(address, str):
            raise ConfigError(f"executor.address must be null (start a local cluster), auto, or host:port; got {address!r}")
    if ecfg.get("batch_size") is not None:
        _positive({"executor": ecfg}, "executor.batch_size", int)
    for key in ("cpu_time_limit_s", "memory_limit_mb"):
        if ecfg.get(key) is not None:
            _positive({"executor": ecfg}, f"executor.{key}", float if key.endswith("_s") else int)


def _check_verdicts(plain: dict[str, Any]) -> None:
    """Hypothesis looks and FDR, and the coupled pairs (docs/selection.md, "Verdicts")."""
    acfg = plain["analysis"]
    looks, fdr, method = acfg.get("looks", 4), acfg.get("fdr", 0.05), acfg.get("fdr_method", "bh")
    if isinstance(looks, bool) or not isinstance(looks, int) or looks < 1:
        raise ConfigError(f"analysis.looks must be an integer >= 1, got {looks!r}")
    if isinstance(fdr, bool) or not isinstance(fdr, (int, float)) or not 0.0 < float(fdr) < 1.0:
        raise ConfigError(f"analysis.fdr must be in (0, 1), got {fdr!r}")
    if method not in ("bh", "by"):
        raise ConfigError(f"analysis.fdr_method must be bh or by, got {method!r}")
    for pair in acfg.get("coupling_pairs") or []:
        if not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1] or not all(isinstance(d, str) for d in pair):
            raise ConfigError(f"analysis.coupling_pairs holds pairs of two domain names, got {pair!r}")


def resolve(cfg: DictConfig) -> dict[str, Any]:
    """Validate and resolve; raises ConfigError with a fix-it message."""
    if "domains" not in cfg or not cfg.domains:
        raise ConfigError("no domain chosen: add +domain=<name> with one of: " + ", ".join(domain_choices()))
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    for path, kind, zero in (("campaign.cycles", int, False), ("campaign.proposals_per_cycle", int, False),
                             ("campaign.initial_samples", int, True), ("campaign.novelty_k", int, False),
                             ("campaign.cross_top_k", int, False), ("campaign.max_design_attempts", int, False),
                             ("executor.time_limit_s", float, False),
                             ("analysis.min_group", int, False), ("analysis.bootstrap", int, False)):
        _positive(plain, path, kind, zero)
    _check_executor(plain["executor"])
    for path in ("campaign.p_pass", "campaign.crossover_rate", "analysis.agenda_floor"):
        value = plain[path.split(".")[0]][path.split(".")[1]]
        if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"{path} must be a number in [0, 1], got {value!r}")
    camp = plain["campaign"]
    if camp.get("designer", "gp") not in ("gp", "random"):
        raise ConfigError(f"campaign.designer must be gp or random, got {camp['designer']!r}")
    for path, value in (("campaign.cross_stage", camp.get("cross_stage", True)),
                        ("campaign.allow_config_change", camp.get("allow_config_change", False)),
                        ("analysis.enabled", plain["analysis"].get("enabled", True))):
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, got {value!r}")
    evals = (camp.get("budget") or {}).get("evaluations")
    if evals is not None and (isinstance(evals, bool) or not isinstance(evals, int) or evals <= 0):
        raise ConfigError(f"campaign.budget.evaluations must be a positive integer or null, got {evals!r}")
    if int(plain["analysis"]["min_group"]) < 2:
        raise ConfigError("analysis.min_group must be >= 2 (a confidence interval needs two genomes per side)")
    if not 0.5 < float(plain["analysis"]["confidence"]) < 1.0:
        raise ConfigError(f"analysis.confidence must be in (0.5, 1), got {plain['analysis']['confidence']!r}")
    _check_verdicts(plain)
    try:
        from evolve.llm import LLMSettings

        LLMSettings.from_cfg(plain.get("llm"))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"llm: {exc}") from None
    for name, dcfg in plain["domains"].items():
        if not isinstance(dcfg, dict) or "scales" not in dcfg:
            raise ConfigError(f"domains.{name} needs a 'scales' section (see conf/domain/*.yaml)")
        if plain["scale"]["name"] not in dcfg["scales"]:
            raise ConfigError(f"domain {name!r} has no budgets for scale={plain['scale']['name']}; "
                              f"choose one of: {', '.join(sorted(dcfg['scales']))}")
    return plain


def check_inputs(plain: dict[str, Any]) -> None:
    """Everything the user points a run at (corpus files, an earlier run to replay), read and checked before a
    run directory, knowledge base or worker exists: each domain is built at the run's scale (and at each rung of
    a ladder), so a domain that validates its inputs in its constructor (typed settings reject unknown keys; the
    data domain reads the corpus it will use, line by line) fails here in one ConfigError."""
    from evolve.plugins import PluginError, build_domain, domain_config

    scale = plain["scale"]
    rungs = [None, *sorted({s["rung"] for s in (scale.get("stages") or {}).values() if s.get("rung")})]
    for name, raw in plain["domains"].items():
        try:
            for rung in rungs:  # a ladder's rungs too: a key misspelt in one of them fails here as well
                build_domain(name, domain_config(raw, scale["name"], scale.get("device", "cpu"), rung))
        except PluginError as exc:
            raise ConfigError(str(exc)) from None
        except (ValueError, TypeError, OSError) as exc:
            raise ConfigError(f"domain {name!r} rejected its configuration: {exc}") from None
    llm = plain.get("llm") or {}
    if llm.get("mode") == "replay" and llm.get("replay_from"):
        source = Path(str(llm["replay_from"])).expanduser()
        db = source / "knowledge.db" if source.is_dir() else source
        if not db.is_file():
            raise ConfigError(f"llm.replay_from: {db} does not exist (give an earlier run directory or its knowledge.db)")
