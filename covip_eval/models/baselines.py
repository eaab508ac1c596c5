"""Baseline models that need no weights, behind the same adapter interface.

- `blind`: describes the colours of the new image, recalls nothing.
- `text-only`: recalls every memory of the context without looking (the textual shortcut).
- `oracle`: recalls exactly the concepts present, from the ground truth (the judge's ceiling).
- `retrieval`: matches the new image against each context image by colour, then recalls the
  memories of those it matched (a training-free baseline that really looks).

Their answers are extractive: the user's own sentences from the dialogues, and, for LSD and
LAR, the place and action of the latest matched encounter where the dataset states them.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from benchmark import Concept, ImageData
from covip_eval.errors import ConfigError
from covip_eval.models.base import Capabilities, ModelAdapter
from covip_eval.requests import ChatRequest, Generation, GroundTruth
from covip_eval.visual_match import dominant_colours, hue_signature, presence_score

_USER_TURN = re.compile(r"^\s*user\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def recalled_sentences(concept: Concept) -> str:
    """What the user said about a concept: the user turns of its dialogue."""
    turns = _USER_TURN.findall(concept.dialogue)
    return " ".join(t.strip() for t in turns) if turns else concept.dialogue.strip()


def _latest(concepts: Sequence[Concept]) -> Concept | None:
    dated = [c for c in concepts if c.facts.get("date")]
    if dated:
        return max(dated, key=lambda c: c.facts["date"])
    return concepts[-1] if concepts else None


class _ExtractiveBaseline(ModelAdapter):
    """Writes every answer from the context entries that `recall` selects."""

    capabilities: ClassVar[Capabilities] = Capabilities(reads_ground_truth=True)
    batch_size = 64

    @abstractmethod
    def recall(self, request: ChatRequest, truth: GroundTruth) -> list[Concept]:
        """The context entries this baseline brings back for the request."""

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        return [self._answer(r) for r in requests]

    def _answer(self, request: ChatRequest) -> Generation:
        truth = request.ground_truth
        if truth is None:
            return Generation.failed(f"{self.name} needs the sample beside the request; it "
                                     "answers benchmark requests only")
        recalled = self.recall(request, truth)
        if truth.kind == "lsd":
            text = self._last_seen(recalled)
        elif truth.kind == "lar":
            text = self._last_action(recalled)
        else:
            text = self._caption(request, recalled)
        return Generation(text=text, output_tokens=len(text.split()))

    def _caption(self, request: ChatRequest, recalled: Sequence[Concept]) -> str:
        if not recalled:
            colours = dominant_colours(hue_signature(request.images[-1].to_pil()))
            return (f"A photo of a few {', '.join(colours) or 'muted'} things against a plain "
                    "background. I do not recognise anything from our earlier conversations.")
        names = sorted({c.name for c in recalled if c.name})
        opening = f"In this photo I can see {', '.join(names)}." if names else "I recognise this."
        return " ".join([opening, *(recalled_sentences(c) for c in recalled)])

    def _last_seen(self, recalled: Sequence[Concept]) -> str:
        latest = _latest(recalled)
        if latest is None:
            return "I do not recognise who this is, so I cannot say. \\boxed{unknown}"
        place = latest.facts.get("place") or recalled_sentences(latest)
        when = latest.facts.get("date", "the latest conversation")
        return (f"Going through our conversations, the most recent one about them is from "
                f"{when}. \\boxed{{{place}}}")

    def _last_action(self, recalled: Sequence[Concept]) -> str:
        latest = _latest(recalled)
        if latest is None:
            return "I do not recognise who this is, so I cannot tell what you were doing."
        action = latest.facts.get("action") or recalled_sentences(latest)
        return f"You were {action}."


class BlindModel(_ExtractiveBaseline):
    name = "blind"

    def recall(self, request: ChatRequest, truth: GroundTruth) -> list[Concept]:
        return []


class TextOnlyModel(_ExtractiveBaseline):
    name = "text-only"

    def recall(self, request: ChatRequest, truth: GroundTruth) -> list[Concept]:
        return list(truth.sample.context)


class OracleModel(_ExtractiveBaseline):
    name = "oracle"

    def recall(self, request: ChatRequest, truth: GroundTruth) -> list[Concept]:
        if not truth.sample.positive_indices:
            raise ConfigError("the oracle needs datasets that say which entries are positive "
                              f"('gts'); sample {truth.sample.sample_id} does not")
        return [truth.sample.context[i] for i in truth.sample.positive_indices]


class RetrievalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.9, ge=0, le=1, description="presence score needed for a match")


class RetrievalModel(_ExtractiveBaseline):
    """Looks at pixels only; the ground truth is never read."""

    name = "retrieval"
    Options = RetrievalOptions

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        self._signatures: dict[str, np.ndarray] = {}

    def _signature(self, image: ImageData) -> np.ndarray:
        """Hue histograms by image content: the caption, direct and CAG requests of a sample
        look at the same images."""
        if image.sha256 not in self._signatures:
            self._signatures[image.sha256] = hue_signature(image.to_pil())
        return self._signatures[image.sha256]

    def recall(self, request: ChatRequest, truth: GroundTruth) -> list[Concept]:
        scene = self._signature(truth.sample.query_image)
        return [c for c in truth.sample.context
                if presence_score(self._signature(c.image), scene) >= self.options.threshold]
