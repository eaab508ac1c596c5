"""A task's stages: the generations a sample goes through before its reply is scored, as a
chain. Each stage builds its request from the sample and the outputs of the stages before it;
the last stage's output is the reply. The three modes of the protocol are chains of three
stages:

- `direct`: the question answered from the context and the image;
- `caption`: a personalized caption (CapEval-QA scores the caption itself);
- `cag`: the caption, then the question answered in the same conversation.

A task file names its mode; the registry's `MODES` maps names to chains, and a plugin adds one
with `register_mode` (a chain may reuse these stages or bring its own).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

from benchmark import Sample
from covip_eval.engine.prompts import PromptTemplate
from covip_eval.engine.request_builder import cag_request, caption_request, direct_request
from covip_eval.requests import ChatRequest, Generation, GenParams

Prompts = Mapping[str, PromptTemplate]

# the prompt roles of the context every request shows (request_builder.context_turn)
CONTEXT_PROMPTS = ("memory_header", "memory_dialogue", "query_header")


class Stage(ABC):
    """One generation of a chain."""

    name: ClassVar[str]  # what its output is called in records ("caption", "answer")
    settings: ClassVar[Literal["generation", "caption_generation"]]  # the task file's key
    prompts: ClassVar[tuple[str, ...]]  # the prompt roles it needs besides the context's

    @abstractmethod
    def request(self, sample: Sample, prompts: Prompts, params: GenParams,
                earlier: Sequence[Generation]) -> ChatRequest:
        """The stage's request; `earlier` holds the outputs of the stages before it (all of
        them succeeded)."""

    def failure(self, error: str) -> str:
        """Why a sample failed when this stage's output did."""
        return error

    # a stage holds no state: two of one class are the same stage (a chain registered again
    # with new instances is the same chain)
    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class Caption(Stage):
    name = "caption"
    settings = "caption_generation"
    prompts = ("caption",)

    def request(self, sample: Sample, prompts: Prompts, params: GenParams,
                earlier: Sequence[Generation]) -> ChatRequest:
        return caption_request(sample, prompts, params)

    def failure(self, error: str) -> str:
        return f"caption failed: {error}"


class DirectAnswer(Stage):
    name = "answer"
    settings = "generation"
    prompts = ("system", "question")

    def request(self, sample: Sample, prompts: Prompts, params: GenParams,
                earlier: Sequence[Generation]) -> ChatRequest:
        return direct_request(sample, prompts, params)


class AnswerFromCaption(Stage):
    """CAG's second stage: the conversation with the caption as the assistant's turn."""

    name = "answer"
    settings = "generation"
    prompts = ("system", "caption", "question")

    def request(self, sample: Sample, prompts: Prompts, params: GenParams,
                earlier: Sequence[Generation]) -> ChatRequest:
        return cag_request(sample, prompts, earlier[-1].text or "", params)


Chain = tuple[Stage, ...]

DIRECT: Chain = (DirectAnswer(),)
CAPTION: Chain = (Caption(),)
CAG: Chain = (Caption(), AnswerFromCaption())


def required_prompts(chain: Chain) -> tuple[str, ...]:
    """Every prompt role the chain's requests render, in order, without repeats."""
    roles = [*CONTEXT_PROMPTS, *(role for stage in chain for role in stage.prompts)]
    return tuple(dict.fromkeys(roles))
