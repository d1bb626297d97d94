"""A domain's start set: the designs a campaign begins from (rediscovery benchmarks, docs/ablation.md).

`campaign.start_set.<domain>` takes three optional keys:

- `withhold`: baseline names kept out of the campaign: not in the seed archive, not in `domain.sample`
  draws that start from baselines (rl mutates baselines to sample), not offered as parents;
- `add`: extra start designs, name -> the genome in the domain's text form (e.g. an MLP-only block);
- `reference`: the baseline that defines perf 0 and the cost unit instead of the domain's own. The
  reference triple is evaluated at every stage, so a withheld reference would put the withheld design
  in the archive: withholding the domain's reference requires naming a start-set baseline here.

Why on the domain object: the seed archive and the domain's own `sample()` both read `baselines()`;
shadowing it on the instance keeps withheld designs out of both with no change to either. Workers
build their own domains and never see a start set (evaluation does not depend on it). The withheld
genomes stay reachable by the operators and are kept on `domain.withheld` for the report.
"""
from __future__ import annotations

from typing import Any, Mapping

from evolve.config import ConfigError

KEYS = ("withhold", "add", "reference")


def apply(name: str, domain: Any, spec: Mapping[str, Any] | None) -> Any:
    """Restrict `domain` to its start set in place (and return it); ConfigError for a spec that cannot run."""
    domain.withheld = {}
    if not spec:
        return domain
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise ConfigError(f"campaign.start_set.{name}: unknown keys {unknown}; use {', '.join(KEYS)}")
    full = dict(domain.baselines())
    withhold = [str(w) for w in (spec.get("withhold") or [])]
    missing = [w for w in withhold if w not in full]
    if missing:
        raise ConfigError(f"campaign.start_set.{name}.withhold names {missing}, not baselines of {name!r}; "
                          f"its baselines are {sorted(full)}")
    start = {k: g for k, g in full.items() if k not in withhold}
    for key, text in (spec.get("add") or {}).items():
        if key in full:
            raise ConfigError(f"campaign.start_set.{name}.add.{key}: {key!r} is already a baseline of {name!r}")
        try:
            genome = domain.parse(str(text))
        except Exception as exc:  # a domain's parse errors are its own types; the message is what matters
            raise ConfigError(f"campaign.start_set.{name}.add.{key} does not parse: {exc}") from None
        check = domain.check(genome)
        if not check.ok:
            raise ConfigError(f"campaign.start_set.{name}.add.{key} fails the domain's check: {check.reason}")
        start[str(key)] = genome
    reference = str(spec.get("reference") or domain.reference)
    if reference not in start:
        why = "is withheld" if reference in withhold else "is not in the start set"
        raise ConfigError(f"campaign.start_set.{name}: the reference {reference!r} {why}; name a start-set design "
                          f"as campaign.start_set.{name}.reference (one of {sorted(start)})")
    domain.withheld = {w: full[w] for w in withhold}
    domain.baselines = lambda: dict(start)  # instance attribute: the domain's own self.baselines() sees it too
    domain.reference = reference
    return domain


def apply_all(domains: Mapping[str, Any], specs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every domain of a campaign under its start set; a spec for a domain the campaign lacks is an error."""
    specs = dict(specs or {})
    extra = sorted(set(specs) - set(domains))
    if extra:
        raise ConfigError(f"campaign.start_set names {extra}, not domains of this campaign ({sorted(domains)})")
    return {n: apply(n, d, specs.get(n)) for n, d in domains.items()}
