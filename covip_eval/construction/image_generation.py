"""Image generators for the construction pipeline: one scene from several concept photos.

- `offline`: the compositor of `benchmark.construction.compose` (no model, no key).
- `gpt-image-1` (or any OpenAI image model): the image edit endpoint with several input images.
- a Gemini image model (name starting with `gemini`): generate_content with image output.

API generators use the SDKs' async clients behind a semaphore, retry 429/5xx/timeouts with
backoff, and return a failure reason instead of raising.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.construction.compose import compose_scene
from benchmark.records import ImageData
from covip_eval.errors import ConfigError
from covip_eval.models.api_base import classify, import_sdk


@dataclass(frozen=True)
class SceneJob:
    prompt: str
    images: tuple[ImageData, ...]
    seed: int


@dataclass(frozen=True)
class SceneResult:
    image: ImageData | None
    error: str | None = None


class OfflineComposer:
    name = "offline"
    identity = {"generator": "offline-compositor", "version": "1"}

    def generate(self, jobs: Sequence[SceneJob]) -> list[SceneResult]:
        return [SceneResult(compose_scene(j.images, random.Random(j.seed))) for j in jobs]


class _APIGenerator(ABC):
    key_env = ""

    def __init__(self, model: str, base_url: str | None = None, max_concurrency: int = 4,
                 max_retries: int = 3, backoff_base: float = 1.0, timeout: float = 300.0):
        self.model, self.base_url = model, base_url
        self.max_concurrency, self.max_retries = max_concurrency, max_retries
        self.backoff_base, self.timeout = backoff_base, timeout
        self.api_key = os.environ.get(self.key_env)
        if not self.api_key:
            raise ConfigError(f"the image generator {model!r} needs an API key: set "
                              f"{self.key_env} (keys are never taken from flags)")
        self.identity = {"generator": type(self).__name__, "model": model}

    @abstractmethod
    def _client(self) -> Any:
        """A client of the provider's SDK."""

    @abstractmethod
    async def _call(self, client: Any, job: SceneJob) -> bytes:
        """One generated image's encoded bytes."""

    def generate(self, jobs: Sequence[SceneJob]) -> list[SceneResult]:
        return asyncio.run(self._all(jobs))

    async def _all(self, jobs: Sequence[SceneJob]) -> list[SceneResult]:
        client = self._client()
        semaphore = asyncio.Semaphore(self.max_concurrency)
        try:
            return list(await asyncio.gather(*(self._one(client, j, semaphore) for j in jobs)))
        finally:
            await self._close(client)

    async def _one(self, client: Any, job: SceneJob, semaphore: asyncio.Semaphore) -> SceneResult:
        for attempt in range(self.max_retries + 1):
            async with semaphore:
                try:
                    data = await asyncio.wait_for(self._call(client, job), self.timeout)
                    return SceneResult(ImageData(data))
                except Exception as exc:  # classified: retried or reported, never raised
                    retry, wait, reason = classify(exc)
            if not retry or attempt == self.max_retries:
                return SceneResult(None, reason.replace(self.api_key or "\0", "<redacted>"))
            await asyncio.sleep(max(wait or 0.0, self.backoff_base * 2 ** attempt))
        return SceneResult(None, "unreachable")

    async def _close(self, client: Any) -> None:
        await client.close()


class OpenAIImageGenerator(_APIGenerator):
    key_env = "OPENAI_API_KEY"

    def _client(self) -> Any:
        openai = import_sdk("openai", "openai", "the OpenAI image generator")
        return openai.AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, max_retries=0)

    async def _call(self, client: Any, job: SceneJob) -> bytes:
        files = [(f"concept_{i}.{mime.split('/')[1]}", data, mime)
                 for i, (data, mime) in enumerate(img.for_api() for img in job.images)]
        response = await client.images.edit(model=self.model, image=files, prompt=job.prompt, n=1)
        if not getattr(response, "data", None) or not response.data[0].b64_json:
            raise ValueError("malformed reply: no image")
        return base64.b64decode(response.data[0].b64_json)


class GeminiImageGenerator(_APIGenerator):
    key_env = "GEMINI_API_KEY"

    def _client(self) -> Any:
        genai = import_sdk("google.genai", "google-genai", "the Gemini image generator")
        types = import_sdk("google.genai.types", "google-genai", "the Gemini image generator")
        return genai.Client(api_key=self.api_key, http_options=types.HttpOptions(
            base_url=self.base_url))

    async def _close(self, client: Any) -> None:
        await client.aio.aclose()

    async def _call(self, client: Any, job: SceneJob) -> bytes:
        types = import_sdk("google.genai.types", "google-genai", "the Gemini image generator")
        parts = [types.Part(text=job.prompt)] + [
            types.Part(inline_data=types.Blob(mime_type=mime, data=data))
            for data, mime in (img.for_api() for img in job.images)]
        response = await client.aio.models.generate_content(
            model=self.model, contents=[types.Content(role="user", parts=parts)],
            config=types.GenerateContentConfig(response_modalities=["IMAGE"], seed=job.seed))
        for candidate in getattr(response, "candidates", None) or []:
            for part in (candidate.content.parts if candidate.content else None) or []:
                if part.inline_data is not None and part.inline_data.data:
                    return part.inline_data.data
        raise ValueError("malformed reply: no image part")


def make_image_generator(name: str, args: dict[str, Any]) -> Any:
    if name == "offline":
        return OfflineComposer()
    if name.startswith("gemini"):
        return GeminiImageGenerator(name, **args)
    if name.startswith(("gpt-image", "dall-e", "openai")):
        return OpenAIImageGenerator(name.removeprefix("openai:"), **args)
    raise ConfigError(f"--image-generator {name!r}: use offline, an OpenAI image model "
                      "(gpt-image-1) or a Gemini image model (gemini-...)")
