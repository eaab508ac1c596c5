"""OpenAI chat completions, and any OpenAI-compatible server (vLLM first among them).

    --model openai --model_args model=gpt-4o            (key: OPENAI_API_KEY)
    --model openai-compatible --model_args base_url=http://localhost:8000/v1,model=Qwen/...
    --model openai-compatible --model_args "base_url=http://a:8000/v1|http://b:8000/v1,..."

Images are sent as base64 data URLs, in place between the text parts. Several endpoints
(`|`-separated) serve one run: each call goes to the endpoint with the fewest calls in
flight; an endpoint whose call fails is set aside for a while and the call is retried on
another; results record every endpoint's share.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from covip_eval.models.api_base import APIModel, APIOptions, NotAnAnswer, data_url, import_sdk
from covip_eval.models.base import Capabilities
from covip_eval.requests import ChatRequest, Generation, chat_dicts


class OpenAIOptions(APIOptions):
    send_sampling: bool = Field(True, description="false for models that reject sampling "
                                                  "settings (reasoning models)")
    reasoning_effort: str | None = Field(None, description="for reasoning models: low, "
                                                           "medium or high")


def to_openai_messages(request: ChatRequest) -> list[dict[str, Any]]:
    return chat_dicts(request, lambda image: {
        "type": "image_url", "image_url": {"url": data_url(*image.for_api())}})


def answer_text(choice: Any) -> str:
    """The text of a choice, or NotAnAnswer when it holds none."""
    message, finish = choice.message, getattr(choice, "finish_reason", None)
    refusal = getattr(message, "refusal", None)
    if refusal:
        raise NotAnAnswer(f"refused: {str(refusal)[:200]}")
    text = message.content or ""
    if text.strip():
        return text
    if finish == "content_filter":
        raise NotAnAnswer("refused: the reply was withheld by a content filter")
    if finish == "length":
        raise NotAnAnswer("empty reply: cut by the length limit before any text", retry=True)
    raise NotAnAnswer(f"empty reply (finish_reason={finish})", retry=True)


def async_client(openai: Any, **kwargs: Any) -> Any:
    """The SDK's async client over aiohttp where its `aiohttp` extra is installed: with
    hundreds of calls in flight, httpx's connection pool spends milliseconds of CPU a call
    finding a free connection, which a served judge's reward round feels; aiohttp's pool does
    not. Otherwise the SDK's own httpx client."""
    try:
        kwargs["http_client"] = openai.DefaultAioHttpClient()
    except (AttributeError, RuntimeError):  # an SDK without it, or aiohttp not installed
        pass
    return openai.AsyncOpenAI(**kwargs)


class OpenAIModel(APIModel[OpenAIOptions]):
    name = "openai"
    default_key_env = "OPENAI_API_KEY"
    capabilities = Capabilities(
        sampling_options=frozenset({"temperature", "top_p", "presence_penalty", "seed"}))
    max_tokens_field = "max_completion_tokens"

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        if not self.options.send_sampling:
            from dataclasses import replace

            self.capabilities = replace(self.capabilities, sampling_options=frozenset())

    def _client(self) -> Any:
        openai = import_sdk("openai", "openai", f"the {self.name} adapter")
        return async_client(openai, api_key=self.api_key or "EMPTY",
                            base_url=self.options.base_url, max_retries=0,
                            timeout=self.options.timeout)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        params = request.params
        args: dict[str, Any] = {"model": self.options.model,
                                "messages": to_openai_messages(request),
                                self.max_tokens_field: params.max_new_tokens}
        allowed = self.capabilities.sampling_options
        for name in ("temperature", "top_p", "presence_penalty", "seed", "top_k", "min_p"):
            value = getattr(params, name)
            if value is None or name not in allowed:
                continue
            if params.greedy and name in ("top_p", "top_k", "min_p", "seed"):
                continue
            args[name] = value  # top_k and min_p are not OpenAI's; servers like vLLM take them
        if self.options.reasoning_effort is not None:
            args["reasoning_effort"] = self.options.reasoning_effort
        return args

    async def _complete(self, client: Any, request: ChatRequest) -> Generation:
        # the request body as it goes on the wire, posted with the SDK's own client (its
        # errors, timeouts, parsing): `chat.completions.create` would first walk the body
        # against its typed schema, about a millisecond of CPU a call, which hundreds of
        # calls in flight feel
        from openai.types.chat import ChatCompletion

        response = await client.post("/chat/completions", body=self._arguments(request),
                                     cast_to=ChatCompletion)
        choices = getattr(response, "choices", None)
        if not choices or choices[0].message is None:
            raise NotAnAnswer("malformed reply: no choices", retry=True)
        text = answer_text(choices[0])
        usage = getattr(response, "usage", None)
        return Generation(text=text,
                          input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                          output_tokens=getattr(usage, "completion_tokens", 0) or 0,
                          cut=getattr(choices[0], "finish_reason", None) == "length")


SET_ASIDE_SECONDS = 30.0


class EndpointPool:
    """The endpoints of one adapter: least calls in flight first, failing ones set aside."""

    def __init__(self, urls: list[str], make_client: Any):
        self.urls = urls
        self.clients = [make_client(url) for url in urls]
        self.in_flight = [0] * len(urls)
        self.aside_until = [0.0] * len(urls)
        self.calls = [0] * len(urls)
        self.failures = [0] * len(urls)

    def pick(self) -> int:
        now = time.monotonic()
        ready = [i for i in range(len(self.urls)) if self.aside_until[i] <= now]
        return min(ready or range(len(self.urls)), key=lambda i: self.in_flight[i])

    async def call(self, complete: Any) -> Any:
        i = self.pick()
        self.in_flight[i] += 1
        try:
            result = await complete(self.clients[i])
        except NotAnAnswer:  # the server answered: nothing wrong with the endpoint
            self.calls[i] += 1
            raise
        except Exception:
            self.failures[i] += 1
            if len(self.urls) > 1:
                self.aside_until[i] = time.monotonic() + SET_ASIDE_SECONDS
            raise
        finally:
            self.in_flight[i] -= 1
        self.calls[i] += 1
        return result

    def usage(self) -> dict[str, dict[str, Any]]:
        total = sum(self.calls) or 1
        return {url: {"calls": c, "failures": f, "share": round(c / total, 4)}
                for url, c, f in zip(self.urls, self.calls, self.failures)}


class OpenAICompatibleModel(OpenAIModel):
    name = "openai-compatible"
    default_key_env = "OPENAI_COMPATIBLE_API_KEY"
    requires_key = False
    capabilities = Capabilities(
        sampling_options=frozenset({"temperature", "top_p", "top_k", "min_p",
                                    "presence_penalty", "seed"}))
    max_tokens_field = "max_tokens"
    identity_excludes = APIModel.identity_excludes
    default_concurrency = 64  # fills a typical vLLM server (per endpoint)

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        if not self.options.base_url:
            from covip_eval.errors import ConfigError

            raise ConfigError("openai-compatible needs base_url=http://HOST:PORT/v1 in "
                              "--model_args (e.g. the address of `vllm serve`; several: "
                              "URL|URL)")
        self.urls = [u.strip() for u in self.options.base_url.split("|") if u.strip()]
        if not self.options.max_concurrency:
            self.concurrency = self.batch_size = self.default_concurrency * len(self.urls)
        self.pool: EndpointPool | None = None

    def _client(self) -> Any:
        openai = import_sdk("openai", "openai", f"the {self.name} adapter")
        self.pool = EndpointPool(self.urls, lambda url: async_client(
            openai, api_key=self.api_key or "EMPTY", base_url=url, max_retries=0,
            timeout=self.options.timeout))
        return self.pool

    async def _close(self, client: Any) -> None:
        for one in client.clients:
            await one.close()

    async def _complete(self, client: Any, request: ChatRequest) -> Generation:
        complete = super()._complete
        return await client.call(lambda one: complete(one, request))

    @property
    def endpoint_usage(self) -> dict[str, dict[str, Any]] | None:
        return self.pool.usage() if self.pool is not None else None
