"""The LLM client against a scripted OpenAI-compatible server: every bad reply is an outcome, never a crash."""
from __future__ import annotations

import json

import pytest

from evolve.llm import LLMClient, LLMError, LLMSettings, OpenAITransport, ReplayTransport, connect, probe
from evolve.knowledge import KnowledgeBase
from tests.llm_server import ScriptedLLM

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
          "required": ["n"], "additionalProperties": False}


def _client(server: ScriptedLLM, kb: KnowledgeBase, **kw) -> LLMClient:
    settings = LLMSettings(mode="vllm", base_url=server.base_url, timeout_s=kw.pop("timeout_s", 5.0),
                           retries=kw.pop("retries", 1), backoff_s=0.0, **kw)
    return LLMClient(settings, OpenAITransport(settings), kb.record_llm_call)


@pytest.fixture
def kb(tmp_path):
    k = KnowledgeBase(tmp_path / "knowledge.db", "t").open()
    yield k
    k.close()


@pytest.mark.parametrize("step, outcome", [
    (("json", {"n": 3}), "ok"),
    (("text", '{"n": 3'), "invalid_json"),
    (("text", "Sure! Here is the genome: {n: 3}"), "invalid_json"),
    (("json", {"n": 42}), "schema_violation"),
    (("json", {"n": 3, "code": "import os"}), "schema_violation"),
    (("json", [1, 2]), "schema_violation"),
    (("length", '{"n": '), "truncated"),
    (("huge", 300_000), "too_long"),
    (("text", "[" * 5000 + "]" * 5000), "invalid_json"),  # nesting beyond the decoder's recursion limit
    (("body", "<html>not json</html>"), "error"),
    (("status", 400), "rejected"),
])
def test_each_reply_becomes_an_outcome_and_a_logged_call(kb, step, outcome):
    with ScriptedLLM([step]) as server:
        reply = _client(server, kb, max_response_chars=200_000).chat("designer", [{"role": "user", "content": "hi"}],
                                                                      SCHEMA)
    assert reply.outcome == outcome, reply.reason
    assert reply.ok == (outcome == "ok") and (reply.data == {"n": 3}) == (outcome == "ok")
    calls = kb.llm_calls()
    assert len(calls) == 1 and calls[0]["outcome"] == outcome and calls[0]["role"] == "designer"
    assert json.loads(calls[0]["prompt"]) == [{"role": "user", "content": "hi"}]
    assert len(calls[0]["response"] or "") <= 200_000


def test_server_errors_and_timeouts_are_retried_then_reported(kb):
    with ScriptedLLM([("status", 500), ("sleep", 3.0), ("json", {"n": 1})]) as server:
        reply = _client(server, kb, retries=2, timeout_s=1.0).chat("engineer", [{"role": "user", "content": "x"}],
                                                                    SCHEMA)
        assert reply.ok and reply.data == {"n": 1}
        assert [c["outcome"] for c in kb.llm_calls()] == ["http_error", "timeout", "ok"]
        assert len(reply.call_ids) == 3
        server.script = [("status", 503)] * 3
        reply = _client(server, kb, retries=1).chat("engineer", [{"role": "user", "content": "x"}], SCHEMA)
    assert reply.outcome == "http_error" and "503" in reply.reason
    assert len(kb.llm_calls()) == 5


def test_requests_carry_the_schema_as_structured_output(kb):
    with ScriptedLLM([("json", {"n": 0})]) as server:
        _client(server, kb, temperature=0.3, max_tokens=77).chat("designer", [{"role": "user", "content": "q"}],
                                                                  SCHEMA)
    req = server.requests[0]
    assert req["response_format"]["type"] == "json_schema"
    assert req["response_format"]["json_schema"]["schema"] == SCHEMA
    assert (req["model"], req["temperature"], req["max_tokens"]) == ("scripted", 0.3, 77)
    assert kb.llm_calls()[0]["prompt_tokens"] == 11 and kb.llm_calls()[0]["completion_tokens"] == 7


def test_probe_and_connect(kb, tmp_path):
    with ScriptedLLM() as server:
        assert probe(server.base_url, 1.0)
        conn = connect({"mode": "auto", "base_url": server.base_url}, kb.record_llm_call)
        assert conn.client is not None and conn.client.model == "scripted"
    assert not probe(server.base_url, 0.5)
    conn = connect({"mode": "auto", "base_url": server.base_url, "probe_timeout_s": 0.5}, kb.record_llm_call)
    assert conn.client is None and "GP-only" in conn.note
    with pytest.raises(LLMError, match="no server answered"):
        connect({"mode": "vllm", "base_url": server.base_url, "probe_timeout_s": 0.5}, kb.record_llm_call)
    with pytest.raises(LLMError, match="does not exist"):
        connect({"mode": "replay", "replay_from": str(tmp_path / "nope")}, kb.record_llm_call)
    with pytest.raises(ValueError, match="llm.mode must be one of"):
        connect({"mode": "gpt"}, kb.record_llm_call)


def test_replay_answers_in_order_per_role_and_cycle(tmp_path, kb):
    with ScriptedLLM([("json", {"n": 1}), ("status", 500), ("json", {"n": 2}), ("huge", 300_000)]) as server:
        live = _client(server, kb, retries=1)
        live.cycle = 0
        first = [live.chat("designer", [{"role": "user", "content": str(i)}], SCHEMA) for i in range(3)]
    other = KnowledgeBase(tmp_path / "replay.db", "t").open()
    replay = LLMClient(LLMSettings(mode="replay", replay_from=str(tmp_path / "knowledge.db"), backoff_s=0.0),
                       ReplayTransport(tmp_path / "knowledge.db"), other.record_llm_call)
    replay.cycle = 0
    again = [replay.chat("designer", [{"role": "user", "content": str(i)}], SCHEMA) for i in range(3)]
    assert [(r.outcome, r.data) for r in again] == [(r.outcome, r.data) for r in first]
    assert [r.outcome for r in again] == ["ok", "ok", "too_long"]
    assert [c["outcome"] for c in other.llm_calls()] == [c["outcome"] for c in kb.llm_calls()]
    assert replay.chat("designer", [{"role": "user", "content": "3"}], SCHEMA).outcome == "replay_miss"
    other.close()
