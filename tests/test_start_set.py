"""`campaign.start_set`: withheld designs stay out of the seed archive and the domain's own samples; the
reference must be a start-set design; extra start designs are parsed and checked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evolve.campaign import Campaign
from evolve.config import ConfigError
from evolve.knowledge import KnowledgeBase
from evolve.start_set import apply, apply_all
from tests.hostile_domain import HostileDomain

ROOT = Path(__file__).resolve().parent.parent
POINTS = {"good": [0.9, 0.1, 0.1, 0.1, 0.1], "fair": [0.6, 0.4, 0.4, 0.4, 0.4]}


def _numeric() -> HostileDomain:
    return HostileDomain({"n_var": 5, "hostile": False, "points": POINTS})


def test_withheld_baselines_leave_the_start_set_and_are_kept_aside():
    dom = apply("numeric", _numeric(), {"withhold": ["good"], "add": {"low": "x = [0.1, 0.5, 0.5, 0.5, 0.5]"}})
    assert set(dom.baselines()) == {"centre", "fair", "low"}
    assert set(dom.withheld) == {"good"} and dom.withheld["good"].x == (0.9, 0.1, 0.1, 0.1, 0.1)
    assert dom.reference == "centre"
    untouched = apply("numeric", _numeric(), None)
    assert set(untouched.baselines()) == {"centre", "good", "fair"} and untouched.withheld == {}


def test_a_withheld_reference_needs_a_start_set_reference():
    with pytest.raises(ConfigError, match="reference 'centre' is withheld"):
        apply("numeric", _numeric(), {"withhold": ["centre"]})
    dom = apply("numeric", _numeric(), {"withhold": ["centre", "good"], "reference": "fair"})
    assert dom.reference == "fair" and set(dom.baselines()) == {"fair"}


@pytest.mark.parametrize("spec, message", [
    ({"withhold": ["best"]}, "not baselines"),
    ({"add": {"good": "x = [0.2, 0.2, 0.2, 0.2, 0.2]"}}, "already a baseline"),
    ({"add": {"bad": "y = 3"}}, "does not parse"),
    ({"add": {"big": "x = [0.1, 0.2]"}}, "add.big .*expected 5 values"),
    ({"withold": ["good"]}, "unknown keys"),
])
def test_specs_that_cannot_run_are_refused(spec, message):
    with pytest.raises(ConfigError, match=message):
        apply("numeric", _numeric(), spec)


def test_a_start_set_for_a_domain_not_in_the_campaign_is_refused():
    with pytest.raises(ConfigError, match="not domains of this campaign"):
        apply_all({"numeric": _numeric()}, {"rl": {"withhold": ["ppo_clip"]}})


def test_rl_samples_never_start_from_withheld_algorithms():
    from domains.rl import RLDomain

    withhold = [n for n in RLDomain({}).baselines() if n != "a2c"]  # PPO-clip, PPO-KL, GRPO...
    dom = apply("rl", RLDomain({}), {"withhold": withhold, "reference": "a2c"})
    rng = np.random.default_rng(0)
    texts = [dom.to_text(dom.sample(rng)) for _ in range(60)]
    assert not any("clip(ratio, 0.8, 1.2)" in t for t in texts)  # no mutated PPO-clip or GRPO
    assert "clip(ratio" not in dom.grammar() and "clip(ratio" in RLDomain({}).grammar()  # the LLM's examples too
    full = RLDomain({})
    withheld = {full.to_text(g) for n, g in full.baselines().items() if n != "a2c"}
    assert not withheld & set(texts)


def test_the_seed_archive_lacks_withheld_designs(tmp_path, numeric_cfg):
    cfg = numeric_cfg(["campaign.cycles=1"], hostile=False, points=POINTS)
    cfg["campaign"]["start_set"] = {"numeric": {"withhold": ["good", "centre"], "reference": "fair"}}
    Campaign(cfg, tmp_path / "run", ROOT).run()
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", cfg["campaign"]["name"]).open()
    origins = {g["origin"] for g in kb.genomes("numeric")}
    assert {o for o in origins if o.startswith("baseline:")} == {"baseline:fair"}
    xs = {tuple(g["json"]) for g in kb.genomes("numeric")}
    assert tuple(POINTS["good"]) not in xs and (0.5,) * 5 not in xs
