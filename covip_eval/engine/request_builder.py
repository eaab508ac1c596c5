"""From samples to chat requests, laid out as the protocol says.

One user turn holds, for each context entry k: a header, the k-th image, the k-th dialogue;
then a header for the new image, the query image, and the instruction. Direct mode adds a
system instruction. CAG replays the caption request, the caption as the assistant turn, then
the question as a new user turn.
"""

from __future__ import annotations

from collections.abc import Mapping

from benchmark import Sample
from covip_eval.engine.prompts import PromptTemplate
from covip_eval.requests import (
    ChatRequest,
    GenParams,
    GroundTruth,
    ImagePart,
    Message,
    Part,
    TextPart,
    asked_kind,
)


class _Parts:
    """Collects parts, merging consecutive texts into one text part."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.texts: list[str] = []

    def text(self, text: str) -> None:
        self.texts.append(text)

    def image(self, part: ImagePart) -> None:
        self._flush()
        self.parts.append(part)

    def _flush(self) -> None:
        if self.texts:
            self.parts.append(TextPart("\n\n".join(self.texts)))
            self.texts = []

    def done(self) -> tuple[Part, ...]:
        self._flush()
        return tuple(self.parts)


def context_turn(sample: Sample, prompts: Mapping[str, PromptTemplate], instruction: str | None
                 ) -> Message:
    parts = _Parts()
    for k, concept in enumerate(sample.context, start=1):
        parts.text(prompts["memory_header"].render(index=k))
        parts.image(ImagePart(concept.image))
        parts.text(prompts["memory_dialogue"].render(index=k, dialogue=concept.dialogue))
    parts.text(prompts["query_header"].render())
    parts.image(ImagePart(sample.query_image))
    if instruction:
        parts.text(instruction)
    return Message("user", parts.done())


def caption_request(sample: Sample, prompts: Mapping[str, PromptTemplate], params: GenParams
                    ) -> ChatRequest:
    """The personalized caption request: CapEval-QA's, and stage 1 of CAG (the same request)."""
    turn = context_turn(sample, prompts, prompts["caption"].render())
    return ChatRequest((turn,), params, ground_truth=GroundTruth(sample),
                       asks=asked_kind(sample, caption=True))


def direct_request(sample: Sample, prompts: Mapping[str, PromptTemplate], params: GenParams,
                   sample_index: int = 0) -> ChatRequest:
    system = Message("system", (TextPart(prompts["system"].render()),))
    turn = context_turn(sample, prompts, prompts["question"].render())
    return ChatRequest((system, turn), params, sample_index, GroundTruth(sample),
                       asked_kind(sample))


def cag_request(sample: Sample, prompts: Mapping[str, PromptTemplate], caption: str,
                params: GenParams, sample_index: int = 0) -> ChatRequest:
    system = Message("system", (TextPart(prompts["system"].render()),))
    first = context_turn(sample, prompts, prompts["caption"].render())
    answer = Message("assistant", (TextPart(caption),))
    question = Message("user", (TextPart(prompts["question"].render()),))
    return ChatRequest((system, first, answer, question), params, sample_index,
                       GroundTruth(sample), asked_kind(sample))
