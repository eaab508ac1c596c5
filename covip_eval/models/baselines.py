"""Baseline models that need no weights, behind the same adapter interface.

- `blind`: describes the colours of the new image, recalls nothing.
- `text-only`: recalls every memory of the context without looking (the textual shortcut).
- `retrieval`: matches the new image against each context image by colour, then recalls the
  memories of those it matched (a training-free baseline that really looks).
- `oracle`: recalls exactly the concepts present. The only one that reads the ground truth
  (which entries are present, their facts); it is the ceiling of the judge, not a model.

`blind`, `text-only` and `retrieval` see what a model sees and nothing else: the request's
images and text (each context photo with the text that follows it, the new photo) and what
the question asks. Their answers are extractive: the user's own sentences about the recalled
memories; for LSD and LAR, the place and the action said in the latest recalled encounter,
its date read from the dialogue.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from benchmark import ImageData
from benchmark.timeline import MONTHS
from covip_eval.errors import ConfigError
from covip_eval.models.base import Capabilities, ModelAdapter, NoOptions, OptionsT
from covip_eval.models.visual_match import dominant_colours, hue_signature, presence_score
from covip_eval.requests import ChatRequest, Generation, ImagePart, RequestKind, TextPart

_USER_TURN = re.compile(r"^\s*user\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_SPOKEN_DATE = re.compile(r"\b(\d{1,2}) (" + "|".join(MONTHS) + r") (\d{4})\b")
_PLACE = re.compile(r"\bat ((?:(?!\bon \d).)+?)(?: on \d|[.,;]|$)")
_ACTION = re.compile(r"\bI was (?:busy )?(.+?)(?: when it happened| right then)?[.]")
_SENTENCE = re.compile(r"[^.!?]+[.!?]?")


@dataclass(frozen=True)
class Memory:
    """One context entry as a model sees it: the photo and the text that follows it."""

    image: ImageData
    text: str

    @cached_property
    def user_sentences(self) -> str:
        """What the user said: the user turns of the text."""
        turns = _USER_TURN.findall(self.text)
        return " ".join(t.strip() for t in turns) if turns else self.text.strip()

    @cached_property
    def spoken_date(self) -> date | None:
        match = _SPOKEN_DATE.search(self.text)
        if match is None:
            return None
        day, month, year = match.groups()
        return date(int(year), MONTHS.index(month) + 1, int(day))

    def phrase(self, pattern: re.Pattern[str], near_date: bool) -> str | None:
        """The first match of `pattern` in the user's sentences (the one holding the date
        first, when asked)."""
        sentences = [m.group().strip() for m in _SENTENCE.finditer(self.user_sentences)]
        if near_date:
            sentences.sort(key=lambda s: _SPOKEN_DATE.search(s) is None)
        for sentence in sentences:
            match = pattern.search(sentence)
            if match:
                return match.group(1).strip()
        return None


@dataclass(frozen=True)
class Seen:
    """The request as a model sees it: the memories in order, the new photo, and what is
    asked (a caption, or the LSD, LAR or ITR question)."""

    memories: tuple[Memory, ...]
    query: ImageData
    asks: RequestKind

    @classmethod
    def of(cls, request: ChatRequest, asks: RequestKind) -> Seen:
        turn = next(m for m in request.messages if any(isinstance(p, ImagePart)
                                                      for p in m.parts))
        images: list[ImageData] = []
        texts: list[str] = []
        for part in turn.parts:
            if isinstance(part, ImagePart):
                images.append(part.image)
                texts.append("")
            elif isinstance(part, TextPart) and images:
                texts[-1] += part.text
        memories = tuple(Memory(i, t) for i, t in zip(images[:-1], texts[:-1]))
        return cls(memories, images[-1], asks)


def _latest(memories: Sequence[Memory]) -> Memory | None:
    dated = [m for m in memories if m.spoken_date is not None]
    if dated:
        return max(dated, key=lambda m: m.spoken_date or date.min)
    return memories[-1] if memories else None


class ExtractiveBaseline(ModelAdapter[OptionsT]):
    """Writes every answer from the memories that `recall` selects."""

    batch_size = 64

    @abstractmethod
    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        """The memories this baseline brings back for the request."""

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        return [self._answer(r) for r in requests]

    def _answer(self, request: ChatRequest) -> Generation:
        recalled = self.recall(request, Seen.of(request, request.asks))
        if request.asks == "lsd":
            text = self._last_seen(recalled)
        elif request.asks == "lar":
            text = self._last_action(recalled)
        else:
            text = self._caption(request, recalled)
        return Generation(text=text, output_tokens=len(text.split()))

    def _caption(self, request: ChatRequest, recalled: Sequence[Memory]) -> str:
        if not recalled:
            colours = dominant_colours(hue_signature(request.images[-1].to_pil()))
            return (f"A photo of a few {', '.join(colours) or 'muted'} things against a plain "
                    "background. I do not recognise anything from our earlier conversations.")
        return " ".join(["I recognise this from our conversations.",
                         *(m.user_sentences for m in recalled)])

    def _last_seen(self, recalled: Sequence[Memory]) -> str:
        latest = _latest(recalled)
        if latest is None:
            return "I do not recognise who this is, so I cannot say. \\boxed{unknown}"
        place = latest.phrase(_PLACE, near_date=True) or latest.user_sentences
        when = latest.spoken_date or "the latest conversation"
        return (f"Going through our conversations, the most recent one about them is from "
                f"{when}. \\boxed{{{place}}}")

    def _last_action(self, recalled: Sequence[Memory]) -> str:
        latest = _latest(recalled)
        if latest is None:
            return "I do not recognise who this is, so I cannot tell what you were doing."
        action = latest.phrase(_ACTION, near_date=False) or latest.user_sentences
        return f"You were {action}."


class BlindModel(ExtractiveBaseline[NoOptions]):
    name = "blind"

    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        return []


class TextOnlyModel(ExtractiveBaseline[NoOptions]):
    name = "text-only"

    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        return list(seen.memories)


class OracleModel(ExtractiveBaseline[NoOptions]):
    """Reads the ground truth: which entries are present (and nothing else of it)."""

    name = "oracle"
    capabilities = Capabilities(reads_ground_truth=True)

    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        truth = request.ground_truth
        assert truth is not None
        if not truth.sample.positive_indices:
            raise ConfigError("the oracle needs datasets that say which entries are positive "
                              f"('gts'); sample {truth.sample.sample_id} does not")
        return [seen.memories[i] for i in truth.sample.positive_indices]


class RetrievalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.9, ge=0, le=1, description="presence score needed for a match")


class RetrievalModel(ExtractiveBaseline[RetrievalOptions]):
    """Looks at pixels to choose what to recall."""

    name = "retrieval"

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        self._signatures: dict[str, np.ndarray] = {}

    def _signature(self, image: ImageData) -> np.ndarray:
        """Hue histograms by image content: the caption, direct and CAG requests of a sample
        look at the same images."""
        if image.sha256 not in self._signatures:
            self._signatures[image.sha256] = hue_signature(image.to_pil())
        return self._signatures[image.sha256]

    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        scene = self._signature(seen.query)
        return [m for m in seen.memories
                if presence_score(self._signature(m.image), scene) >= self.options.threshold]
