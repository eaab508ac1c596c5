"""A deterministic OpenAI-compatible server on 127.0.0.1 that misbehaves on purpose.

Replies depend only on the request's messages, so a clean run and a faulty run must give the
same results. With `fault_rate`, an attempt fails (chosen by a hash of the request and the
attempt number) with one of FAULTS; no request fails more than `max_faults_per_request` times
in a row, so a client with enough retries always gets through. Every fault is counted.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "500", "hang", "truncated", "no_choices", "empty_length")


def _digest(*parts: object) -> int:
    return int(hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12], 16)


def reply_text(messages: list[dict[str, Any]]) -> str:
    """A judge prompt gets a boxed letter; anything else a caption, both from the content."""
    text = json.dumps(messages, sort_keys=True)
    h = _digest(text)
    if "\\\\boxed" in text or "boxed{" in text:
        return f"The answer is \\boxed{{{'ABCD'[h % 4]}}}."
    return f"A photo. Reply {h % 1000}: \\boxed{{place {h % 7}}} You were walking."


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: many clients connect at once


class FaultServer:
    def __init__(self, fault_rate: float = 0.0, hang_seconds: float = 2.5,
                 max_faults_per_request: int = 3):
        self.fault_rate, self.hang_seconds = fault_rate, hang_seconds
        self.max_faults = max_faults_per_request
        self.attempts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.calls = 0
        self.lock = threading.Lock()

    def __enter__(self) -> FaultServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                server.handle(self, body)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _fault(self, key: str) -> str | None:
        with self.lock:
            self.calls += 1
            attempt = self.attempts[key]
            self.attempts[key] += 1
        h = _digest(key, attempt)
        if attempt >= self.max_faults or (h % 10_000) / 10_000 >= self.fault_rate:
            return None
        fault = FAULTS[(h // 10_000) % len(FAULTS)]
        with self.lock:
            self.faults[fault] += 1
        return fault

    def handle(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        messages = body.get("messages", [])
        key = json.dumps([messages, body.get("seed")], sort_keys=True)
        fault = self._fault(key)
        if fault == "hang":
            time.sleep(self.hang_seconds)
        if fault in ("429", "500"):
            self._send(handler, int(fault), b'{"error": {"message": "injected"}}',
                       {"retry-after": "0"} if fault == "429" else {})
            return
        choice = {"index": 0, "message": {"role": "assistant", "content": reply_text(messages)},
                  "finish_reason": "stop"}
        if fault == "empty_length":
            choice = {"index": 0, "message": {"role": "assistant", "content": ""},
                      "finish_reason": "length"}
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [] if fault == "no_choices" else [choice],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        payload = json.dumps(reply).encode()
        if fault == "truncated":
            payload = payload[:len(payload) // 2]
        self._send(handler, 200, payload)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, payload: bytes,
              headers: dict[str, str] | None = None) -> None:
        try:
            handler.send_response(code)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on a hung call
