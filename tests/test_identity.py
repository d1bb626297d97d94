"""A campaign's identity and the settings a resume may not change (evolve/identity.py)."""
from __future__ import annotations

from evolve.identity import FREE_ON_RESUME, config_changes, identity, result_affecting, same_identity
from tests.conftest import compose_config


def _cfg(overrides):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose_config(overrides), resolve=True)


def test_identity_is_the_set_of_domains_the_scale_and_the_seed():
    stored = {"domains": ["arch", "rl", "data"], "scale": "tiny", "seed": 0}  # as an older run listed them
    assert same_identity(stored, identity(["arch", "data", "rl"], "tiny", 0))
    assert identity(["rl", "arch"], "tiny", 3) == {"domains": ["arch", "rl"], "scale": "tiny", "seed": 3}
    assert not same_identity(stored, identity(["arch", "data"], "tiny", 0))
    assert not same_identity(stored, identity(["arch", "data", "rl"], "small", 0))
    assert not same_identity(stored, identity(["arch", "data", "rl"], "tiny", 1))


def test_corpus_domain_settings_and_training_budgets_count_as_changes():
    base = _cfg(["+domain=data"])
    assert config_changes(base, _cfg(["+domain=data"])) == []
    changed = _cfg(["+domain=data", "domains.data.corpus=/data/other.jsonl", "scale.stages.isolated.fraction=0.2",
                    "campaign.p_pass=0.5"])
    assert config_changes(base, changed) == [
        "campaign.p_pass: 0.34 -> 0.5",
        "domains.data.corpus: 'offline' -> '/data/other.jsonl'",
        "scale.stages.isolated.fraction: 0.15 -> 0.2"]
    steps = _cfg(["+domain=arch", "domains.arch.scales.tiny.lm.steps=50"])
    assert config_changes(_cfg(["+domain=arch"]), steps) == ["domains.arch.scales.tiny.lm.steps: 100 -> 50"]


def test_going_further_running_elsewhere_and_logging_are_free_on_resume():
    base = _cfg(["+domain=arch"])
    free = _cfg(["+domain=arch", "campaign.cycles=9", "campaign.budget.evaluations=40", "executor=ray",
                 "tracking.enabled=false", "progress=false", "llm=none", "campaign.allow_config_change=true"])
    assert config_changes(base, free) == []
    # another scale's budgets do not concern a tiny run
    assert config_changes(base, _cfg(["+domain=arch", "domains.arch.scales.small.d_model=768"])) == []
    assert all(not k.startswith(FREE_ON_RESUME) for k in result_affecting(base))
