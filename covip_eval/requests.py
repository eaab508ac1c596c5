"""Provider-neutral chat requests: messages whose parts are text or images, in order.

Adapters translate these into their own wire formats; nothing here knows about providers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from benchmark import CapEvalSample, ImageData, Sample

Role = Literal["system", "user", "assistant"]
RequestKind = Literal["caption", "lsd", "lar", "itr"]


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    image: ImageData


Part = TextPart | ImagePart


@dataclass(frozen=True)
class Message:
    role: Role
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        """The message's text parts joined (images left out)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImageData, ...]:
        return tuple(p.image for p in self.parts if isinstance(p, ImagePart))


@dataclass(frozen=True)
class GenParams:
    """Generation settings. `temperature == 0` means greedy decoding."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def set_options(self) -> dict[str, Any]:
        """The options that differ from 'not set', for capability checks and records."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def asked_kind(sample: Sample, caption: bool = False) -> RequestKind:
    """What a request built from `sample` asks for: a caption, or the LSD, LAR or ITR
    question (the question's text says as much to any model)."""
    return "caption" if caption or isinstance(sample, CapEvalSample) else sample.task


@dataclass(frozen=True)
class GroundTruth:
    """The benchmark sample a request was built from: the answer key.

    The runner hands it only to adapters that declare they read it
    (`Capabilities.reads_ground_truth`: the oracle, a captions file looked up by sample id);
    every other adapter gets the request without it, and it enters the cache key only for
    those that read it.
    """

    sample: Sample

    def fingerprint(self, kind: RequestKind) -> str:
        return stable_hash({
            "kind": kind,
            "positives": list(self.sample.positive_indices),
            "names": [c.name for c in self.sample.context],
            "facts": [dict(c.facts) for c in self.sample.context],
        })


@dataclass(frozen=True)
class ChatRequest:
    """One generation: messages, settings, which sample of a sampled decode it is, and what
    it asks for (public: the question's text says it; it lets extractive baselines answer in
    the right form without parsing prompts a user may have rewritten)."""

    messages: tuple[Message, ...]
    params: GenParams = field(default_factory=GenParams)
    sample_index: int = 0
    ground_truth: GroundTruth | None = field(default=None, compare=False)
    asks: RequestKind = field(default="caption", compare=False)

    def without_ground_truth(self) -> ChatRequest:
        return replace(self, ground_truth=None) if self.ground_truth is not None else self

    @property
    def images(self) -> tuple[ImageData, ...]:
        return tuple(img for m in self.messages for img in m.images)

    def canonical(self) -> dict[str, Any]:
        """A JSON-able form that identifies the request by content (image hashes, not bytes)."""
        return {
            "messages": [
                {"role": m.role, "parts": [_canonical_part(p) for p in m.parts]}
                for m in self.messages
            ],
            "params": asdict(self.params),
            "sample_index": self.sample_index,
        }


def _canonical_part(part: Part) -> dict[str, str]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    return {"image_sha256": part.image.sha256}


def stable_hash(obj: Any) -> str:
    """SHA-256 of the canonical JSON of `obj`."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def chat_dicts(request: ChatRequest, image_part: Callable[[ImageData], dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """OpenAI-style chat messages: system and assistant turns as plain text, user turns as
    typed parts in order, each image written by `image_part`."""
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role != "user":
            messages.append({"role": message.role, "content": message.text})
            continue
        content = [image_part(p.image) if isinstance(p, ImagePart) else
                   {"type": "text", "text": p.text} for p in message.parts]
        messages.append({"role": "user", "content": content})
    return messages


@dataclass(frozen=True)
class Generation:
    """The outcome of one request: text, or a failure with its reason. Never both.

    `cut`: the text stopped at the token limit. It is scored as written, as the paper does,
    and counted in the results."""

    text: str | None
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cut: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, reason: str) -> Generation:
        return cls(text=None, error=reason)

    def as_answer(self) -> Generation:
        """Itself, or a failure when its text is empty or blank: not an answer, on any
        adapter."""
        if self.ok and not (self.text or "").strip():
            return Generation.failed("empty reply: the model wrote no text")
        return self
