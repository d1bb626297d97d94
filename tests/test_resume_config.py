"""Resuming a run directory: the same campaign (a set of domains, a scale, a seed) under the same
result-affecting configuration, or a refusal that lists the differences (evolve/identity.py)."""
from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from evolve.campaign import Campaign
from evolve.config import resolve
from evolve.knowledge import KnowledgeBase, KnowledgeBaseError
from tests.conftest import ROOT, compose_config

QUIET = ["llm=none", "progress=false", "tracking.enabled=false"]


def _corpus(path, word):
    path.write_text("\n".join(f'{{"text": "{word} document {i} with a handful of words"}}' for i in range(200)) + "\n")
    return path


def _data_cfg(corpus, *more):
    return resolve(compose_config(["+domain=data", *QUIET, f"domains.data.corpus={corpus}", *more]))


def test_a_changed_corpus_or_budget_is_refused_with_the_difference_named(tmp_path):
    a, b = _corpus(tmp_path / "a.jsonl", "alpha"), _corpus(tmp_path / "b.jsonl", "beta")
    run = tmp_path / "run"
    Campaign(_data_cfg(a), run, ROOT).open().close()  # the campaign's first session stores its configuration
    with pytest.raises(KnowledgeBaseError, match=rf"domains.data.corpus: '{a}' -> '{b}'"):
        Campaign(_data_cfg(b), run, ROOT).open()
    with pytest.raises(KnowledgeBaseError, match=r"scale.stages.full.fraction: 1.0 -> 0.5") as refused:
        Campaign(_data_cfg(a, "scale.stages.full.fraction=0.5"), run, ROOT).open()
    assert "campaign.allow_config_change=true" in str(refused.value)
    # going further is not a change; an explicit override continues and records what changed
    Campaign(_data_cfg(a, "campaign.cycles=9", "campaign.budget.evaluations=50"), run, ROOT).open().close()
    Campaign(_data_cfg(b, "campaign.allow_config_change=true"), run, ROOT).open().close()
    kb = KnowledgeBase.existing(run / "knowledge.db")
    assert kb.get_meta("config_changes")[0]["changes"] == [f"domains.data.corpus: '{a}' -> '{b}'"]
    assert kb.get_meta("config")["domains"]["data"]["corpus"] == str(b)  # the settings now in force
    kb.close()


def test_the_identity_compares_the_set_of_domains_not_their_order(tmp_path, numeric_cfg):
    one = numeric_cfg(QUIET, hostile=False)
    one["domains"]["other"] = {**one["domains"]["numeric"], "plugin": "tests.hostile_domain:SecondNumericDomain"}
    Campaign(one, tmp_path / "run", ROOT).open().close()
    swapped = {**one, "domains": {"other": one["domains"]["other"], "numeric": one["domains"]["numeric"]}}
    Campaign(swapped, tmp_path / "run", ROOT).open().close()  # the same campaign
    fewer = {**one, "domains": {"numeric": one["domains"]["numeric"]}}
    with pytest.raises(KnowledgeBaseError, match="holds a campaign with"):
        Campaign(fewer, tmp_path / "run", ROOT).open()


def test_allow_config_change_must_be_a_boolean():
    from evolve.config import ConfigError

    with pytest.raises(ConfigError, match="campaign.allow_config_change must be true or false"):
        resolve(compose_config(["+domain=arch", "campaign.allow_config_change=maybe"]))
    assert OmegaConf.select(compose_config(["+domain=arch"]), "campaign.allow_config_change") is False
