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
import queue
import random
import re
import threading
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from covip_eval.errors import ConfigError, MissingDependencyError
from covip_eval.models.base import ModelAdapter
from covip_eval.requests import ChatRequest, Generation


class APIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., description="the provider's model name")
    base_url: str | None = Field(None, description="endpoint (default: the provider's)")
    api_key_env: str = Field("", description="environment variable holding the key")
    max_concurrency: int | None = Field(None, ge=1, description="calls in flight at once "
                                       "(default: 64 for local servers, 8 for providers)")
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
    if isinstance(exc, (TypeError, AttributeError, KeyError, NameError)):
        return False, None, f"{type(exc).__name__}: {message}"  # a bug: another try is the same
    # no status: a connection reset, a timeout, a malformed or truncated body
    return True, wait, f"{type(exc).__name__}: {message}"


APIOptionsT = TypeVar("APIOptionsT", bound=APIOptions)


class APIModel(ModelAdapter[APIOptionsT]):
    """An adapter for a remote API: `_complete` makes one call; the rest is shared.

    One event loop (on a thread of its own) and one client serve the adapter for its whole
    life, under one bound on the calls in flight: every request of a run is submitted at once
    and each result is handed back as soon as it completes (`stream`), so there is no batch
    barrier and a crash loses only the calls in flight."""

    Options: ClassVar[type[BaseModel]] = APIOptions
    default_key_env: str = ""
    requires_key: bool = True
    default_concurrency: int = 8  # providers' rate limits; local servers take more
    streams = True
    identity_excludes = {"api_key_env", "max_concurrency", "max_retries", "backoff_base",
                         "backoff_max", "timeout", "max_images"}

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        self.retry_counts: Counter[str] = Counter()  # by kind of fault; recorded in usage
        self.concurrency = self.options.max_concurrency or self.default_concurrency
        self.batch_size = self.concurrency  # what results record: the calls in flight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
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

    def _start(self) -> asyncio.AbstractEventLoop:
        """The adapter's event loop, its client and its concurrency bound, made once."""
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, daemon=True,
                                            name=f"{self.name}-calls")
            self._thread.start()

            async def setup() -> tuple[Any, asyncio.Semaphore]:
                return self._client(), asyncio.Semaphore(self.concurrency)

            self._session, self._semaphore = \
                asyncio.run_coroutine_threadsafe(setup(), loop).result()
            self._loop = loop
        return self._loop

    def stream(self, requests: list[ChatRequest]) -> Iterator[list[tuple[int, Generation]]]:
        """(index, generation) for every request, in the order the calls complete, in lists of
        those that completed together. Every call is handed to the event loop at once, in one
        hand-over (one per call costs a wake-up of the loop's thread each, about a
        millisecond apiece with hundreds in flight)."""
        loop = self._start()
        completed: queue.SimpleQueue[tuple[int, Generation | BaseException]] = \
            queue.SimpleQueue()

        async def call(index: int, request: ChatRequest) -> None:
            try:
                result: Generation | BaseException = await self._with_retries(
                    self._session, request, self._semaphore)
            except Exception as exc:  # noqa: BLE001 (raised again in the caller's thread)
                result = exc
            completed.put((index, result))

        async def submit() -> list[asyncio.Task]:
            return [asyncio.ensure_future(call(i, r)) for i, r in enumerate(requests)]

        tasks = asyncio.run_coroutine_threadsafe(submit(), loop).result()
        try:
            remaining = len(requests)
            while remaining:
                batch = [completed.get()]
                while not completed.empty():
                    batch.append(completed.get())
                remaining -= len(batch)
                done = [(i, r) for i, r in batch if isinstance(r, Generation)]
                if done:  # kept even when a call beside them failed
                    yield done
                for _, result in batch:
                    if isinstance(result, BaseException):
                        raise result
        finally:  # done, or interrupted: leave no call running behind
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in tasks])

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        out: list[Generation | None] = [None] * len(requests)
        for batch in self.stream(requests):
            for index, generation in batch:
                out[index] = generation
        return [g if g is not None else Generation.failed("not generated") for g in out]

    def close(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None

        async def shutdown() -> None:
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._close(self._session)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        except Exception:  # closing is best effort; the process may be exiting anyway
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

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
