"""Campaigns with the LLM designer, engineer and analyst against a scripted server on loopback."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from evolve.campaign import Campaign
from evolve.knowledge import KnowledgeBase
from tests.conftest import compose_config
from tests.llm_server import ScriptedLLM, schema_of
from tests.schema_sampler import sample

ROOT = Path(__file__).resolve().parent.parent
LLM_KEYS = {"calls", "ok", "valid_proposals", "repaired", "prompt_tokens", "completion_tokens"}


def llm_cfg(numeric_cfg, base_url: str | None, overrides=(), **llm):
    cfg = numeric_cfg(["campaign.cycles=2", "campaign.proposals_per_cycle=4", *overrides], hostile=False)
    base = OmegaConf.to_container(compose_config(["llm=vllm"]).llm)
    cfg["llm"] = {**base, "base_url": base_url, "timeout_s": 2.0, "retries": 1, "backoff_s": 0.0,
                  "gp_share": 0.0, **llm}
    return cfg


def adversary(seed: int):
    """Random schema instances mixed with every kind of bad reply."""
    rng = np.random.default_rng(seed)
    bad = [("text", "{oops"), ("status", 500), ("json", {"motivation": "m"}), ("huge", 300_000),
           ("length", '{"motivation": "'), ("body", "nonsense"), ("sleep", 2.5), ("drop",),
           ("json", {"motivation": "m", "hypothesis": "h", "genome": [2.0, -1, "x", None, 0.5]})]

    def default(req):
        if rng.random() < 0.5:
            return bad[int(rng.integers(len(bad)))]
        return ("json", sample(schema_of(req), rng))
    return default


def test_adversarial_server_never_crashes_a_campaign(tmp_path, numeric_cfg):
    with ScriptedLLM(default=adversary(0)) as server:
        summary = Campaign(llm_cfg(numeric_cfg, server.base_url), tmp_path / "run", ROOT).run()
        n_requests = len(server.requests)
    assert summary["cycles_done"] == 2 and summary["designer"] == "llm"
    assert LLM_KEYS <= set(summary["llm"]) and summary["llm"]["calls"] == n_requests > 0
    assert summary["llm"]["ok"] < summary["llm"]["calls"]
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", "evolve").open()
    outcomes = {c["outcome"] for c in kb.llm_calls()}
    assert {"ok", "invalid_json", "http_error"} <= outcomes
    assert kb.integrity_errors() == []
    llm_genomes = [g for g in kb.genomes() if g["provenance"].get("designer") == "llm"]
    assert llm_genomes and summary["llm"]["valid_proposals"] >= 1
    for g in llm_genomes:
        p = g["provenance"]
        assert p["role"] in ("designer", "engineer") and p["llm_calls"] and p["model"] == "scripted"
        assert {"motivation", "hypothesis", "hypotheses_used", "repairs"} <= set(p)
    # the budget is always spent: GP fills what the LLM could not
    assert summary["evaluations_by_stage"]["isolated"] >= 4 + 1


def test_engineer_repairs_a_refused_proposal(tmp_path, numeric_cfg):
    good = {"motivation": "fixed", "hypothesis": "h", "genome": [0.25, 0.5, 0.5, 0.5, 0.5]}
    script = [("json", {"motivation": "m", "hypothesis": "h", "genome": [0.25, 0.5]}),  # too short
              ("text", "still wrong"), ("json", good)]
    cfg = llm_cfg(numeric_cfg, None, ["campaign.cycles=1", "campaign.initial_samples=1"], analyst=False)
    with ScriptedLLM(script) as server:
        cfg["llm"]["base_url"] = server.base_url
        summary = Campaign(cfg, tmp_path / "run", ROOT).run()
        engineer_prompt = server.requests[1]["messages"][-1]["content"]
    assert "minItems" in engineer_prompt or "too short" in engineer_prompt
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", "evolve").open()
    (made,) = [g for g in kb.genomes() if g["provenance"].get("designer") == "llm"]
    assert made["json"] == good["genome"] and made["origin"] == "llm+repair"
    assert made["provenance"]["repairs"] == 2 and made["provenance"]["motivation"] == "fixed"
    assert [c["role"] for c in kb.llm_calls()] == ["designer", "engineer", "engineer"]
    assert summary["llm"]["repaired"] == 1 and summary["llm"]["valid_proposals"] == 1
    (cand,) = [c for c in kb.candidates(stage="isolated") if c.triple["numeric"] == made["id"]]
    assert cand.status == "done"


def eager_analyst(seed: int):
    """Random schema instances, with the analyst always proposing two hypotheses."""
    rng = np.random.default_rng(seed)

    def default(req):
        schema = schema_of(req)
        answer = sample(schema, rng)
        items = schema["properties"].get("hypotheses", {}).get("items")
        if items:
            answer["hypotheses"] = [sample(items, rng) for _ in range(2)]
        return ("json", answer)
    return default


def test_llm_analyst_hypotheses_are_tested_by_evidence(tmp_path, numeric_cfg):
    cfg = llm_cfg(numeric_cfg, None, ["campaign.cycles=3", "campaign.proposals_per_cycle=8",
                                      "analysis.min_group=2", "analysis.looks=1"])  # one look: judged at 2 a side
    with ScriptedLLM(default=eager_analyst(3)) as server:
        cfg["llm"]["base_url"] = server.base_url
        Campaign(cfg, tmp_path / "run", ROOT).run()
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", "evolve").open()
    llm_hyps = [h for h in kb.hypotheses() if h["source"] == "llm"]
    assert llm_hyps and all(h["evidence"]["proposed_by"] == "llm analyst" for h in llm_hyps)
    tested = [h for h in llm_hyps if h["created_cycle"] < 2]
    assert tested and all(h["updated_cycle"] > h["created_cycle"] for h in tested)  # tested on later genomes
    assert all(h["n_true"] + h["n_false"] > 0 for h in tested)
    assert {h["status"] for h in tested} - {"active"}  # the evidence, not the LLM, moved some of them
    assert any(a.get("llm_analysis") for a in kb.analyses())
    assert {c["role"] for c in kb.llm_calls()} >= {"designer", "analyst"}


def test_replay_reruns_a_campaign_exactly_without_a_server(tmp_path, numeric_cfg):
    with ScriptedLLM(default=adversary(1)) as server:
        first = Campaign(llm_cfg(numeric_cfg, server.base_url), tmp_path / "a", ROOT).run()
    cfg = llm_cfg(numeric_cfg, None, mode="replay", replay_from=str(tmp_path / "a"))
    again = Campaign(cfg, tmp_path / "b", ROOT).run()
    a, b = (KnowledgeBase(tmp_path / d / "knowledge.db", "evolve").open() for d in "ab")
    assert [g["id"] for g in a.genomes()] == [g["id"] for g in b.genomes()]
    assert [(c["role"], c["outcome"], c["response"]) for c in a.llm_calls()] == \
           [(c["role"], c["outcome"], c["response"]) for c in b.llm_calls()]
    assert again["llm"]["calls"] == first["llm"]["calls"] and again["llm"]["mode"] == "replay"
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["llm"]["valid_proposals"] == \
        first["llm"]["valid_proposals"]


def test_engineer_repairs_a_failed_evaluation_once(tmp_path, numeric_cfg):
    failing = {"motivation": "m", "hypothesis": "h", "genome": [0.01, 0.5, 0.5, 0.5, 0.5]}  # NaN loss
    fixed = {"motivation": "avoid x0=0.01", "hypothesis": "h", "genome": [0.2, 0.5, 0.5, 0.5, 0.5]}
    rng = np.random.default_rng(5)

    def default(req):
        if "evaluation failed" in req["messages"][-1]["content"]:
            return ("json", fixed)
        return ("json", sample(schema_of(req), rng))

    cfg = llm_cfg(numeric_cfg, None, ["campaign.cycles=3", "campaign.initial_samples=1",
                                      "campaign.proposals_per_cycle=1"], analyst=False)
    with ScriptedLLM([("json", failing)], default=default) as server:
        cfg["llm"]["base_url"] = server.base_url
        Campaign(cfg, tmp_path / "run", ROOT).run()
        asks = [r for r in server.requests if "evaluation failed" in r["messages"][-1]["content"]]
    assert len(asks) == 1 and "non-finite loss at step 3" in asks[0]["messages"][-1]["content"]
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", "evolve").open()
    bad = next(g for g in kb.genomes() if g["json"] == failing["genome"])
    (rep,) = [g for g in kb.genomes() if g["provenance"].get("repair_of")]
    assert rep["json"] == fixed["genome"] and rep["parents"] == [bad["id"]] and rep["cycle"] == 1
    assert rep["provenance"]["role"] == "engineer" and rep["provenance"]["repairs"] == 1
