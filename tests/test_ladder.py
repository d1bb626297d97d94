"""scale=ladder: each stage evaluates at its own rung (model size), configured per domain."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolve.campaign import Campaign
from evolve.config import resolve
from evolve.plugins import PluginError, domain_config
from evolve.stages import stage_specs
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parent.parent


def test_ladder_maps_stages_to_rungs_with_growing_models():
    cfg = resolve(compose_config(["+domain=all", "scale=ladder"]))
    specs = stage_specs(cfg["scale"])
    assert [specs[s].rung for s in ("isolated", "cross", "full")] == ["r1", "r2", "r3"]
    assert specs["isolated"].fraction < specs["full"].fraction and specs["isolated"].seeds < specs["full"].seeds
    from domains.arch import ArchDomain

    params = []
    for stage in ("isolated", "cross", "full"):
        arch = domain_config(cfg["domains"]["arch"], "ladder", "gpu", specs[stage].rung)
        assert arch["dtype"] == "bfloat16" and arch["rung"] == specs[stage].rung
        dom = ArchDomain(arch)
        params.append(dom.n_params(dom.baselines()["transformer"]))
        data = domain_config(cfg["domains"]["data"], "ladder", "gpu", specs[stage].rung)
        assert data["model"]["kind"] == "gpt" and data["lm"]["preset"] == "small"  # deep merge keeps siblings
        rl = domain_config(cfg["domains"]["rl"], "ladder", "gpu", specs[stage].rung)
        assert rl["seeds"] == 16 and "rungs" not in rl
    assert params[0] < params[1] < params[2] and 2e6 < params[0] < 5e6 and 20e6 < params[2] < 30e6


def test_a_missing_rung_is_a_clear_error():
    raw = {"plugin": "x", "scales": {"ladder": {"d_model": 1, "rungs": {"r1": {"d_model": 2}}}}}
    assert domain_config(raw, "ladder", "gpu", "r1")["d_model"] == 2
    assert domain_config(raw, "ladder", "gpu")["d_model"] == 1
    with pytest.raises(PluginError, match="no settings for rung 'r9'.*r1"):
        domain_config(raw, "ladder", "gpu", "r9")


def test_workers_get_each_stages_rung_config(tmp_path, numeric_cfg, monkeypatch):
    log = tmp_path / "evals.log"
    monkeypatch.setenv("EVOLVE_TEST_LOG", str(log))
    cfg = numeric_cfg(["campaign.cycles=1", "tracking.enabled=false"], hostile=False)
    for stage, rung in (("isolated", "r1"), ("cross", "r2"), ("full", "r3")):
        cfg["scale"]["stages"][stage]["rung"] = rung
    cfg["domains"]["numeric"]["scales"] = {"tiny": {"rungs": {r: {"tag": r} for r in ("r1", "r2", "r3")}}}
    Campaign(cfg, tmp_path / "run", ROOT).run()
    seen = {tuple(json.loads(line)[i] for i in (0, 3)) for line in log.read_text().splitlines()}
    assert seen == {("isolated", "r1"), ("cross", "r2"), ("full", "r3")}
