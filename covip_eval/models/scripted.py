"""`scripted`: canned replies, for smoke tests, examples and testing judges and the engine.

The reply is chosen by the request's content (a hash), never by call order, so a cached,
resumed or reordered run gets the same reply for the same request.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from covip_eval.errors import ConfigError
from covip_eval.models.base import ModelAdapter
from covip_eval.requests import ChatRequest, Generation, stable_hash


class ScriptedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reply: str | None = Field(None, description="the reply to every request")
    replies_file: Path | None = Field(None, description="JSON list of replies, picked by content")
    fail_every: int = Field(0, ge=0, description="fail every n-th request (by content), 0: never")
    delay: float = Field(0.0, ge=0, description="seconds to sleep per request")
    batch_size: int = Field(8, ge=1)


class ScriptedModel(ModelAdapter[ScriptedOptions]):
    name = "scripted"

    def __init__(self, **model_args: object):
        super().__init__(**model_args)
        opts = self.options
        if opts.replies_file is not None:
            self.replies = json.loads(Path(opts.replies_file).read_text())
        elif opts.reply is not None:
            self.replies = [opts.reply]
        else:
            raise ConfigError("--model_args for 'scripted': give reply=TEXT or replies_file=PATH")
        self.batch_size = opts.batch_size

    @property
    def identity(self) -> dict:
        return {"adapter": self.name, "replies_sha256": stable_hash(self.replies),
                "fail_every": self.options.fail_every}

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        out = []
        for request in requests:
            time.sleep(self.options.delay)
            digest = int(stable_hash(request.canonical()), 16)
            if self.options.fail_every and digest % self.options.fail_every == 0:
                out.append(Generation.failed("scripted failure"))
                continue
            text = self.replies[digest % len(self.replies)]
            out.append(Generation(text=text, output_tokens=len(text.split())))
        return out
