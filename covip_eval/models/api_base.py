"""Shared machinery of the API adapters: async calls behind a semaphore, retries with
exponential backoff and jitter (honouring Retry-After), then an explicit per-request failure
with the reason. Keys come from the environment only.

What is retried: 408, 409, 429 and 5xx; errors with no HTTP status (connection resets,
timeouts, malformed or truncated bodies); replies with no answer that another try may mend
(no choices, an empty reply, one cut by the length limit before any text). What is not:
other 4xx (a 401 names the variable that holds the key) and refusals (content filters, a
model's refusal). A reply that is not an answer is never text: it becomes a failure.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import re
from abc import abstractmethod
from collections import Counter
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from covip_eval.errors import ConfigError, MissingDependencyError
from covip_eval.models.base import ModelAdapter
from covip_eval.requests import ChatRequest, Generation


class APIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., description="the provider's model name")
    base_url: str | None = Field(None, description="endpoint (default: the provider's)")
    api_key_env: str = Field("", description="environment variable holding the key")
    max_concurrency: int = Field(8, ge=1)
    max_retries: int = Field(5, ge=0)
    backoff_base: float = Field(1.0, ge=0, description="seconds; doubles at every retry")
    backoff_max: float = Field(60.0, ge=0)
    timeout: float = Field(120.0, gt=0, description="seconds per call")
    max_images: int | None = Field(None, gt=0)


class NotAnAnswer(Exception):
    """A reply that carries no answer; `retry`: another try may give one."""

    def __init__(self, reason: str, retry: bool = False):
        super().__init__(reason)
        self.retry = retry


def import_sdk(module: str, package: str, what: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise MissingDependencyError(what, package, "api") from None


def data_url(data: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            from datetime import datetime, timezone

            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc))
                       .total_seconds())
        except (TypeError, ValueError):
            return None


def classify(exc: BaseException) -> tuple[bool, float | None, str]:
    """(worth retrying, seconds the server asked to wait, one-line reason)."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(exc, "code", None)
    response = getattr(exc, "response", None)
    wait = _retry_after(getattr(response, "headers", None))
    message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if isinstance(status, int) and status >= 400:
        return status in (408, 409, 429) or status >= 500, wait, f"HTTP {status}: {message}"
    if isinstance(exc, NotAnAnswer):
        return exc.retry, None, message
    # no status: a connection reset, a timeout, a malformed or truncated body
    return True, wait, f"{type(exc).__name__}: {message}"


class APIModel(ModelAdapter):
    """An adapter for a remote API: `_complete` makes one call; the rest is shared."""

    Options = APIOptions
    default_key_env: str = ""
    requires_key: bool = True
    identity_excludes = {"api_key_env", "max_concurrency", "max_retries", "backoff_base",
                         "backoff_max", "timeout", "max_images"}

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        self.retry_counts: Counter[str] = Counter()  # by kind of fault; recorded in usage
        self.batch_size = self.options.max_concurrency * 4
        self.key_env = self.options.api_key_env or self.default_key_env
        self.api_key = os.environ.get(self.key_env) if self.key_env else None
        if self.requires_key and not self.api_key:
            raise ConfigError(f"{self.name} needs an API key: set the environment variable "
                              f"{self.key_env} (keys are never taken from flags)")
        if self.options.max_images is not None:
            from dataclasses import replace

            self.capabilities = replace(self.capabilities, max_images=self.options.max_images)

    @abstractmethod
    def _client(self) -> Any:
        """A new async client (made inside the running event loop)."""

    @abstractmethod
    async def _complete(self, client: Any, request: ChatRequest) -> Generation:
        """One call; raises on errors (classified by `classify`)."""

    async def _close(self, client: Any) -> None:
        close = getattr(client, "close", None)
        if close is not None:
            await close()

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        return asyncio.run(self._generate_all(requests))

    async def _generate_all(self, requests: list[ChatRequest]) -> list[Generation]:
        client = self._client()
        semaphore = asyncio.Semaphore(self.options.max_concurrency)
        try:
            return list(await asyncio.gather(*(self._with_retries(client, r, semaphore)
                                               for r in requests)))
        finally:
            await self._close(client)

    async def _with_retries(self, client: Any, request: ChatRequest,
                            semaphore: asyncio.Semaphore) -> Generation:
        attempt = 0
        while True:
            async with semaphore:
                try:
                    return await asyncio.wait_for(self._complete(client, request),
                                                  self.options.timeout)
                except Exception as exc:  # classified below; nothing escapes one request
                    retry, wait, reason = classify(exc)
            if not retry or attempt >= self.options.max_retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                hint = (f" (check the key in {self.key_env})"
                        if reason.startswith("HTTP 401") and self.key_env else "")
                return Generation.failed(self._scrub(f"{reason}{tries}{hint}"))
            self.retry_counts[re.split(r"[:(]", reason)[0].strip()[:60]] += 1
            await asyncio.sleep(self._delay(attempt, wait))
            attempt += 1

    def _delay(self, attempt: int, server_wait: float | None) -> float:
        backoff = min(self.options.backoff_max, self.options.backoff_base * 2 ** attempt)
        jittered = backoff * (0.5 + random.random() / 2)
        return max(jittered, server_wait or 0.0)

    def _scrub(self, text: str) -> str:
        return text.replace(self.api_key, "<redacted>") if self.api_key else text
