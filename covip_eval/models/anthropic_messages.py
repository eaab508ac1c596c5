"""Anthropic's messages API: the system prompt apart, base64 image blocks in place.

    --model anthropic --model_args model=claude-sonnet-4-5     (key: ANTHROPIC_API_KEY)

Current Claude models and SDKs take no sampling settings: by default none are sent and the
results list them as ignored. `send_sampling=true` sends temperature, top_p and top_k for
models that still accept them.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from pydantic import Field

from covip_eval.models.api_base import APIModel, APIOptions, NotAnAnswer, import_sdk
from covip_eval.models.base import Capabilities
from covip_eval.requests import ChatRequest, Generation, ImagePart


def to_anthropic(request: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    system = "\n\n".join(m.text for m in request.messages if m.role == "system") or None
    messages = []
    for message in request.messages:
        if message.role == "system":
            continue
        content = []
        for part in message.parts:
            if isinstance(part, ImagePart):
                data, mime = part.image.for_api()
                content.append({"type": "image", "source": {
                    "type": "base64", "media_type": mime,
                    "data": base64.b64encode(data).decode()}})
            else:
                content.append({"type": "text", "text": part.text})
        messages.append({"role": message.role, "content": content})
    return system, messages


class AnthropicOptions(APIOptions):
    send_sampling: bool = Field(False, description="also send top_p and top_k (never to "
                                                   "models that take temperature alone)")


def temperature_only(model: str) -> bool:
    """Claude 4.5 models refuse temperature and top_p together: they get temperature alone."""
    return bool(re.search(r"4[-.]5", model))


class AnthropicModel(APIModel[AnthropicOptions]):
    name = "anthropic"
    default_key_env = "ANTHROPIC_API_KEY"
    capabilities = Capabilities(
        max_images=100, sampling_options=frozenset({"temperature"}))

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        if self.options.send_sampling and not temperature_only(self.options.model):
            from dataclasses import replace

            self.capabilities = replace(
                self.capabilities, sampling_options=frozenset({"temperature", "top_p", "top_k"}))

    def _client(self) -> Any:
        anthropic = import_sdk("anthropic", "anthropic", "the anthropic adapter")
        return anthropic.AsyncAnthropic(api_key=self.api_key, base_url=self.options.base_url,
                                        max_retries=0, timeout=self.options.timeout)

    async def _complete(self, client: Any, request: ChatRequest) -> Generation:
        system, messages = to_anthropic(request)
        params = request.params
        args: dict[str, Any] = {"model": self.options.model, "messages": messages,
                                "max_tokens": params.max_new_tokens}
        if system:
            args["system"] = system
        # the SDK's create() no longer names sampling settings: they go in the body
        extra: dict[str, Any] = {"temperature": params.temperature}  # 0 for greedy tasks
        if not params.greedy:
            extra.update({k: v for k in ("top_p", "top_k")
                          if k in self.capabilities.sampling_options
                          and (v := getattr(params, k)) is not None})
        args["extra_body"] = extra
        response = await client.messages.create(**args)
        blocks = getattr(response, "content", None)
        if blocks is None:
            raise NotAnAnswer("malformed reply: no content", retry=True)
        text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", "") == "text")
        stop = getattr(response, "stop_reason", None)
        if stop == "refusal":
            raise NotAnAnswer("refused (stop_reason=refusal)")
        if not text.strip():
            raise NotAnAnswer(f"empty reply (stop_reason={stop})", retry=True)
        usage = getattr(response, "usage", None)
        return Generation(text=text, input_tokens=getattr(usage, "input_tokens", 0) or 0,
                          output_tokens=getattr(usage, "output_tokens", 0) or 0,
                          cut=stop == "max_tokens")
