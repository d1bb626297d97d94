"""Test-only: a scripted OpenAI-compatible server on loopback (the boundary fake for LLM unit tests).

Each POST /v1/chat/completions takes the next behaviour from `script`; when the script is used up,
`default` decides (by default: a random instance of the request's own JSON schema, i.e. what a
grammar-constrained random model would say). Behaviours: ("json", obj), ("text", raw content),
("status", code), ("sleep", seconds, then behaviour), ("huge", n_chars), ("length", content) for a
reply cut at max_tokens, ("body", raw HTTP body), ("drop",) to close the connection without a reply.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import numpy as np

from tests.schema_sampler import sample


def schema_of(request: dict[str, Any]) -> dict[str, Any]:
    return request["response_format"]["json_schema"]["schema"]


class ScriptedLLM:
    def __init__(self, script: list[tuple] | None = None, default: Callable[[dict], tuple] | None = None,
                 seed: int = 0) -> None:
        self.script = list(script or [])
        self.rng = np.random.default_rng(seed)
        self.default = default or (lambda req: ("json", sample(schema_of(req), self.rng)))
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}))
                else:
                    self._send(404, "{}")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with outer.lock:
                    outer.requests.append(body)
                    step = outer.script.pop(0) if outer.script else outer.default(body)
                self._act(step)

            def _act(self, step: tuple) -> None:
                kind = step[0]
                if kind == "sleep":
                    time.sleep(step[1])
                    return self._act(step[2] if len(step) > 2 else ("json", {}))
                if kind == "status":
                    return self._send(step[1], json.dumps({"error": {"message": "scripted failure"}}))
                if kind == "body":
                    return self._send(200, step[1])
                if kind == "drop":
                    self.close_connection = True
                    return
                content = {"json": lambda: json.dumps(step[1]), "text": lambda: step[1],
                           "huge": lambda: "x" * step[1], "length": lambda: step[1]}[kind]()
                finish = "length" if kind == "length" else "stop"
                self._send(200, json.dumps({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": "scripted",
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}))

            def _send(self, code: int, text: str) -> None:
                data = text.encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedLLM":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
