"""The LLM client: an OpenAI-compatible chat API (what `vllm serve` exposes) with structured outputs.

Why this shape:
- every request is decoded under a JSON schema (`response_format={"type": "json_schema", ...}`; vLLM
  silently ignores the older `guided_json`), and every reply is validated again here, because a server
  may ignore the constraint, truncate, time out or send garbage: the caller gets an `LLMReply` whose
  `outcome` says what happened, never an exception, so no server response can stop a campaign;
- every request (retries included) is one row of the knowledge base's `llm_calls` (role, prompt,
  response, tokens, latency, outcome), which is what `llm=replay` answers from on a re-run;
- the transport is the only part that differs between a live server and a replay, so both go
  through the same retry, validation and logging code.

Nothing an LLM writes is executed: replies are JSON, parsed into genomes or predicates by their owners.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from evolve.knowledge import KnowledgeBase, KnowledgeBaseError

MODES = ("none", "auto", "vllm", "replay")
OK = "ok"
# Outcomes of a request that another attempt might fix (retried with backoff).
TRANSIENT = ("timeout", "connection_error", "http_error", "empty")


class LLMError(RuntimeError):
    """The LLM set-up cannot work as configured (no server for llm=vllm, a missing replay source)."""


@dataclass(frozen=True)
class LLMSettings:
    """The `llm` config group (conf/llm/*.yaml documents each key)."""

    mode: str = "none"
    base_url: str | None = None
    model: str | None = None
    api_key: str = "EMPTY"
    temperature: float = 0.8
    max_tokens: int = 1024
    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 1.0
    probe_timeout_s: float = 1.0
    max_response_chars: int = 200_000
    replay_from: str | None = None
    gp_share: float = 0.0
    repairs: int = 2
    context_top_k: int = 5
    context_failures: int = 5
    context_hypotheses: int = 8
    text_max_chars: int = 400
    analyst: bool = True
    analyst_max_hypotheses: int = 3

    @staticmethod
    def from_cfg(cfg: Mapping[str, Any] | None) -> "LLMSettings":
        cfg = dict(cfg or {})
        known = set(LLMSettings.__dataclass_fields__)
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown llm settings {unknown}; known: {sorted(known)}")
        s = LLMSettings(**cfg)
        if s.mode not in MODES:
            raise ValueError(f"llm.mode must be one of {', '.join(MODES)}, got {s.mode!r}")
        if s.mode in ("auto", "vllm") and not s.base_url:
            raise ValueError(f"llm={s.mode} needs llm.base_url (e.g. http://127.0.0.1:8000/v1)")
        if s.mode == "replay" and not s.replay_from:
            raise ValueError("llm=replay needs llm.replay_from=<an earlier run directory or its knowledge.db>")
        if not 0.0 <= s.gp_share <= 1.0:
            raise ValueError(f"llm.gp_share must be in [0, 1], got {s.gp_share!r}")
        for name in ("max_tokens", "timeout_s", "max_response_chars", "text_max_chars"):
            if float(getattr(s, name)) <= 0:
                raise ValueError(f"llm.{name} must be > 0, got {getattr(s, name)!r}")
        for name in ("retries", "repairs", "backoff_s", "context_top_k", "context_failures",
                     "context_hypotheses", "analyst_max_hypotheses"):
            if float(getattr(s, name)) < 0:
                raise ValueError(f"llm.{name} must be >= 0, got {getattr(s, name)!r}")
        return s


@dataclass(frozen=True)
class LLMReply:
    """What one chat request finally gave: parsed JSON when `outcome == "ok"`, else the reason."""

    outcome: str
    data: Any = None
    text: str = ""
    reason: str = ""
    call_ids: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome == OK


@dataclass(frozen=True)
class RawReply:
    content: str
    finish_reason: str | None = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    oversize: bool = False  # a replayed reply that was refused as too long (only its cut is stored)


class TransportError(Exception):
    """A request that produced no content; `outcome` is one of TRANSIENT or "error"."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class Transport(Protocol):
    model: str

    def request(self, role: str, cycle: int | None, messages: Sequence[Mapping[str, str]],
                schema: Mapping[str, Any], settings: LLMSettings) -> RawReply: ...


Recorder = Callable[..., int]  # KnowledgeBase.record_llm_call's keyword signature


# --------------------------------------------------------------------------------------------- probing
def probe(base_url: str | None, timeout_s: float) -> bool:
    """True when an OpenAI-compatible server answers GET <base_url>/models within `timeout_s`."""
    if not base_url:
        return False
    try:
        with urllib.request.urlopen(str(base_url).rstrip("/") + "/models", timeout=float(timeout_s)) as resp:
            return 200 <= resp.status < 300
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------------------------------ transports
class OpenAITransport:
    """A live server through the `openai` package (its own retries off: ours log every attempt)."""

    def __init__(self, settings: LLMSettings) -> None:
        try:
            from openai import OpenAI
        except ImportError as exc:  # pragma: no cover - the llm extra is part of `make install`
            raise LLMError("the LLM client needs the openai package: pip install -e '.[llm]'") from exc
        for name in ("httpx", "httpx2", "openai"):  # one INFO line per request would drown the progress view
            logging.getLogger(name).setLevel(logging.WARNING)
        self._client = OpenAI(base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout_s,
                              max_retries=0)
        self.model = settings.model or self._first_model()

    def _first_model(self) -> str:
        try:
            models = [m.id for m in self._client.models.list().data]
        except Exception as exc:  # noqa: BLE001 - any failure here means "no usable server"
            raise LLMError(f"cannot list the server's models: {type(exc).__name__}: {exc}") from exc
        if not models:
            raise LLMError("the server lists no models; start it with a model (make serve-llm MODEL=...)")
        return str(models[0])

    def request(self, role: str, cycle: int | None, messages: Sequence[Mapping[str, str]],
                schema: Mapping[str, Any], settings: LLMSettings) -> RawReply:
        import openai

        try:
            resp = self._client.chat.completions.create(
                model=self.model, messages=list(messages), temperature=settings.temperature,
                max_tokens=settings.max_tokens,
                response_format={"type": "json_schema",
                                 "json_schema": {"name": f"evolve_{role}", "schema": dict(schema), "strict": True}})
        except openai.APITimeoutError as exc:
            raise TransportError("timeout", str(exc)) from exc
        except openai.APIConnectionError as exc:
            raise TransportError("connection_error", str(exc)) from exc
        except openai.APIStatusError as exc:
            outcome = "http_error" if exc.status_code >= 500 or exc.status_code == 429 else "rejected"
            raise TransportError(outcome, f"HTTP {exc.status_code}: {str(exc)[:2000]}") from exc
        except Exception as exc:  # noqa: BLE001 - a malformed body must not escape as a crash
            raise TransportError("error", f"{type(exc).__name__}: {exc}") from exc
        choices = getattr(resp, "choices", None) or []
        if not choices or choices[0].message is None or choices[0].message.content is None:
            raise TransportError("empty", "the server returned no message content")
        usage = getattr(resp, "usage", None)
        return RawReply(str(choices[0].message.content), choices[0].finish_reason,
                        _int_or_none(getattr(usage, "prompt_tokens", None)),
                        _int_or_none(getattr(usage, "completion_tokens", None)))


class ReplayTransport:
    """Answers from the `llm_calls` of an earlier run, in order per (role, cycle).

    Matching by position rather than by prompt text keeps a replay exact even where a prompt
    holds a measured number that differs between runs (timings); `prompt_mismatches` counts those.
    """

    def __init__(self, source: str | Path) -> None:
        path = Path(source)
        path = path / "knowledge.db" if path.is_dir() else path
        if not path.exists():
            raise LLMError(f"llm.replay_from: {path} does not exist (give an earlier run directory or its knowledge.db)")
        try:
            kb = KnowledgeBase.existing(path, read_only=True)
        except KnowledgeBaseError as exc:
            raise LLMError(f"llm.replay_from: {path} is not a knowledge base with LLM calls ({exc})") from exc
        try:
            rows = [(c["role"], c["cycle"], c["prompt"], c["response"], c["prompt_tokens"], c["completion_tokens"],
                     c["outcome"]) for c in kb.llm_calls()]
            model = kb.get_meta("llm_model")
        finally:
            kb.close()
        self._calls: dict[tuple[str, int | None], deque] = defaultdict(deque)
        for role, cycle, prompt, response, pt, ct, outcome in rows:
            self._calls[(role, cycle)].append((prompt, response, pt, ct, outcome))
        self.model = f"replay:{model or 'unknown'}"
        self.source = path
        self.prompt_mismatches = 0

    def request(self, role: str, cycle: int | None, messages: Sequence[Mapping[str, str]],
                schema: Mapping[str, Any], settings: LLMSettings) -> RawReply:
        queue = self._calls.get((role, cycle))
        if not queue:
            raise TransportError("replay_miss", f"the replayed run made no further {role} call in cycle {cycle}")
        prompt, response, pt, ct, outcome = queue.popleft()
        if prompt != prompt_text(messages):
            self.prompt_mismatches += 1
        if outcome in (*TRANSIENT, "rejected", "error", "replay_miss"):
            raise TransportError(outcome, response or outcome)
        return RawReply(response or "", "length" if outcome == "truncated" else "stop", pt, ct,
                        oversize=outcome == "too_long")


# ------------------------------------------------------------------------------------------------ client
class LLMClient:
    """Schema-constrained chat with retries, validation and a knowledge-base row per request."""

    def __init__(self, settings: LLMSettings, transport: Transport, recorder: Recorder,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.transport = transport
        self.record = recorder
        self.sleep = sleep
        self.cycle: int | None = None  # set by the campaign at the start of each cycle

    @property
    def model(self) -> str:
        return self.transport.model

    def chat(self, role: str, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]) -> LLMReply:
        """One structured request; retried on transient failures. Never raises for what a server does."""
        prompt = prompt_text(messages)
        ids: list[int] = []
        reply = LLMReply("error", reason="no attempt made")
        for attempt in range(int(self.settings.retries) + 1):
            if attempt:
                self.sleep(float(self.settings.backoff_s) * 2 ** (attempt - 1))
            start = time.perf_counter()
            try:
                raw = self.transport.request(role, self.cycle, messages, schema, self.settings)
            except TransportError as exc:
                latency = time.perf_counter() - start
                ids.append(self.record(cycle=self.cycle, role=role, prompt=prompt, response=str(exc)[:4000],
                                       prompt_tokens=None, completion_tokens=None, latency=latency,
                                       outcome=exc.outcome))
                reply = LLMReply(exc.outcome, reason=f"{exc.outcome}: {str(exc)[:500]}", call_ids=tuple(ids))
                if exc.outcome in TRANSIENT:
                    continue
                return reply
            latency = time.perf_counter() - start
            reply = self._judge(raw, schema)
            ids.append(self.record(cycle=self.cycle, role=role, prompt=prompt,
                                   response=raw.content[: self.settings.max_response_chars],
                                   prompt_tokens=raw.prompt_tokens, completion_tokens=raw.completion_tokens,
                                   latency=latency, outcome=reply.outcome))
            return LLMReply(reply.outcome, reply.data, reply.text, reply.reason, tuple(ids))
        return reply

    def _judge(self, raw: RawReply, schema: Mapping[str, Any]) -> LLMReply:
        text = raw.content
        if raw.oversize or len(text) > self.settings.max_response_chars:
            return LLMReply("too_long", text=text[:200],
                            reason=f"reply of {len(text)} characters exceeds llm.max_response_chars")
        if raw.finish_reason == "length":
            return LLMReply("truncated", text=text, reason=f"reply cut at llm.max_tokens={self.settings.max_tokens}")
        try:  # strict=False: control characters inside strings (which some decoders emit raw) are fine
            data = json.loads(text, strict=False)
        except (ValueError, RecursionError) as exc:
            return LLMReply("invalid_json", text=text, reason=f"not JSON: {exc}")
        problem = schema_violation(data, schema)
        if problem:
            return LLMReply("schema_violation", data=data, text=text, reason=problem)
        return LLMReply(OK, data=data, text=text)


def schema_violation(data: Any, schema: Mapping[str, Any]) -> str:
    """'' when `data` satisfies `schema`, else the first violation in words (jsonschema's)."""
    import jsonschema

    try:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(dict(schema)).iter_errors(data))
    except RecursionError:
        return "the reply nests too deeply to validate"
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {where}: {error.message[:300]}"


def prompt_text(messages: Sequence[Mapping[str, str]]) -> str:
    """The stored (and replay-compared) form of a request."""
    return json.dumps([dict(m) for m in messages], ensure_ascii=False)


def _int_or_none(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------- connecting
@dataclass
class Connection:
    """The outcome of `connect`: a client (or None for GP-only) and a line for the terminal."""

    client: LLMClient | None
    note: str
    settings: LLMSettings = field(default_factory=LLMSettings)


def connect(cfg: Mapping[str, Any] | None, recorder: Recorder) -> Connection:
    """Build the client the config asks for; llm=auto falls back to GP-only with a clear note."""
    settings = LLMSettings.from_cfg(cfg)
    if settings.mode == "none":
        return Connection(None, "llm=none: GP designer and statistical analyst only", settings)
    if settings.mode == "replay":
        transport: Transport = ReplayTransport(str(settings.replay_from))
        return Connection(LLMClient(settings, transport, recorder, sleep=lambda s: None),
                          f"llm=replay: answering from the LLM calls stored in {transport.source}", settings)
    if not probe(settings.base_url, settings.probe_timeout_s):
        if settings.mode == "auto":
            return Connection(None, f"no LLM server answered at {settings.base_url}: running GP-only "
                                    "(start one with make serve-llm or make serve-llm-cpu)", settings)
        raise LLMError(f"llm=vllm but no server answered at {settings.base_url}/models; start one "
                       "(make serve-llm MODEL=<path> or make serve-llm-cpu) or use llm=auto / llm=none")
    transport = OpenAITransport(settings)
    share = f", {settings.gp_share:.0%} of proposals from GP" if settings.gp_share else ""
    return Connection(LLMClient(settings, transport, recorder),
                      f"LLM designer, engineer and analyst: {transport.model} at {settings.base_url}{share}", settings)


def summarise_calls(calls: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """calls, ok and token totals over rows of `llm_calls`."""
    return {"calls": len(calls), "ok": sum(c["outcome"] == OK for c in calls),
            "prompt_tokens": int(sum(c["prompt_tokens"] or 0 for c in calls)),
            "completion_tokens": int(sum(c["completion_tokens"] or 0 for c in calls))}
