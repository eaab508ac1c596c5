"""A local HTTP server on 127.0.0.1 that speaks the OpenAI, Anthropic and Gemini wire
formats, records what it receives, and replays scripted failures."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _count_images(body: dict[str, Any]) -> int:
    text = json.dumps(body)
    return text.count('"type": "image_url"') + text.count('"type": "base64"') \
        + text.count('"inlineData"') + text.count('"inline_data"')


def openai_reply(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}


def anthropic_reply(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 11, "output_tokens": 3}}


def gemini_reply(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 3,
                              "thoughtsTokenCount": 2, "totalTokenCount": 16}}


class FakeProviders:
    """Start with `with FakeProviders() as server:`; `server.url` is the base address.

    `server.script` is a queue of actions for the next calls: ("status", code, retry_after),
    ("malformed",), ("refusal",), ("reply", text). With an empty queue every call succeeds with
    `server.reply_text` (default: how many images the call carried)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.script: deque[tuple] = deque()
        self.reply_text: str | None = None
        self.lock = threading.Lock()

    def __enter__(self) -> FakeProviders:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if "multipart/form-data" in self.headers.get("content-type", ""):
                    body = {"multipart_files": raw.count(b'filename="'),
                            "multipart_prompt": b'name="prompt"' in raw}
                else:
                    body = json.loads(raw or b"{}")
                with server.lock:
                    server.calls.append({"path": self.path,
                                         "headers": {k.lower(): v for k, v in self.headers.items()},
                                         "body": body})
                    action = server.script.popleft() if server.script else None
                server.respond(self, body, action)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def image_b64() -> str:
        """A small PNG, as an image model would return."""
        import base64
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 120, 40)).save(buf, format="PNG")
        return base64.b64encode(buf.getvalue()).decode()

    @staticmethod
    def refusal(path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Each provider's way of declining to answer."""
        if path.startswith("/v1/messages"):
            reply = anthropic_reply(body, "")
            reply["content"], reply["stop_reason"] = [], "refusal"
            return reply
        if ":generateContent" in path:
            return {"candidates": [{"content": {"role": "model", "parts": []},
                                    "finishReason": "SAFETY", "index": 0}]}
        reply = openai_reply(body, "")
        reply["choices"][0]["message"]["content"] = None
        reply["choices"][0]["finish_reason"] = "content_filter"
        return reply

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def respond(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], action) -> None:
        if action and action[0] == "status":
            _, code, retry_after = action
            payload = json.dumps({"error": {"message": f"scripted {code}", "type": "error",
                                            "code": code}}).encode()
            handler.send_response(code)
            if retry_after is not None:
                handler.send_header("retry-after", str(retry_after))
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        if action and action[0] == "malformed":
            payload = b"{this is not json"
        elif action and action[0] == "refusal":
            payload = json.dumps(self.refusal(handler.path, body)).encode()
        else:
            text = action[1] if action else (self.reply_text or
                                             f"I saw {_count_images(body)} images.")
            if handler.path.startswith("/v1/images/edits"):
                reply = {"created": 0, "data": [{"b64_json": self.image_b64()}]}
            elif handler.path.startswith("/v1/messages"):
                reply = anthropic_reply(body, text)
            elif ":generateContent" in handler.path and "IMAGE" in json.dumps(
                    body.get("generationConfig", {})):
                reply = {"candidates": [{"content": {"role": "model", "parts": [
                    {"inlineData": {"mimeType": "image/png", "data": self.image_b64()}}]},
                    "finishReason": "STOP"}]}
            elif ":generateContent" in handler.path:
                reply = gemini_reply(body, text)
            else:
                reply = openai_reply(body, text)
            payload = json.dumps(reply).encode()
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
