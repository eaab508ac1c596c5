"""Text-only probes: models that never look at an image, each playing one shortcut of the
text. `coviP-eval audit` runs them on a dataset; on a sound dataset none scores above what a
constant answer or a uniform guess among the context's individuals scores.

Like `text-only` (which recites every memory), they read the request alone: each memory's
text and what is asked. The name of a memory is read from its text: the capitalised word it
repeats most (months, "I", and the turn labels aside).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from benchmark.mini.dialogue import NOUNS
from benchmark.timeline import MONTHS
from covip_eval.models.base import ModelAdapter, NoOptions
from covip_eval.models.baselines import ExtractiveBaseline, Memory, Seen
from covip_eval.requests import ChatRequest, Generation

_CAPITALISED = re.compile(r"(?<![.!?:]\s)(?<!^)\b([A-Z][a-z]+)\b", re.MULTILINE)
_NOT_NAMES = frozenset({"I", "User", "Model", "The", "This", "That", *MONTHS})
_KIND_OF_NOUN = {noun: kind for kind, nouns in NOUNS.items() for noun in nouns}


class ReadMemory(Memory):
    """A memory with what a text-only reader can tell about it."""

    @cached_property
    def told_name(self) -> str:
        """The capitalised word the memory repeats most, first seen first among ties."""
        words = [w for w in _CAPITALISED.findall(self.text) if w not in _NOT_NAMES]
        counts = Counter(words)
        return max(words, key=lambda w: (counts[w], -words.index(w))) if words else ""

    @cached_property
    def told_kind(self) -> str:
        """What the memory calls its concept right after the name ("Blake, my dog."), as
        builtin:mini's kind where the phrase is one of its nouns ("my dog" and "our family
        pet" are both a pet), or ''."""
        if not self.told_name:
            return ""
        match = re.search(rf"\b{re.escape(self.told_name)}, ([^.,!?]+)[.,]", self.text)
        phrase = match.group(1).strip().lower() if match else ""
        return _KIND_OF_NOUN.get(phrase, phrase)


def _read(seen: Seen) -> list[ReadMemory]:
    return [ReadMemory(m.image, m.text) for m in seen.memories]


def _of_name(memories: list[ReadMemory], name: str) -> list[Memory]:
    return [m for m in memories if m.told_name == name]


class NameFrequencyProbe(ExtractiveBaseline[NoOptions]):
    """Recalls the individual told about most often (the first told, among ties)."""

    name = "probe-name-frequency"

    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        memories = _read(seen)
        names = [m.told_name for m in memories]
        if not names:
            return []
        counts = Counter(names)
        return _of_name(memories, max(names, key=lambda n: (counts[n], -names.index(n))))


class CategoryUniquenessProbe(ExtractiveBaseline[NoOptions]):
    """Recalls the memories whose kind ("my dog") another memory shares: plays the rule
    that a kind seen once in a context is an absent look-alike's."""

    name = "probe-category-uniqueness"

    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        memories = _read(seen)
        kinds = Counter(m.told_kind for m in memories if m.told_kind)
        return [m for m in memories if m.told_kind and kinds[m.told_kind] > 1]


class OneIndividualOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pick: int = Field(0, ge=0, description="which individual, in the names' alphabetical "
                                           "order (modulo their number)")


class OneIndividualProbe(ExtractiveBaseline[OneIndividualOptions]):
    """Recalls one individual of the context, whichever `pick` says. Over every pick it is a
    uniform guess among the individuals: the chance that a task with several individuals
    leaves to a model that does not look (the audit averages the picks)."""

    name = "probe-one-individual"

    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        memories = _read(seen)
        names = sorted({m.told_name for m in memories if m.told_name})
        if not names:
            return []
        return _of_name(memories, names[self.options.pick % len(names)])  # type: ignore[attr-defined]


class FactsUnnamedProbe(ExtractiveBaseline[NoOptions]):
    """Names every individual of the context, then tells every memory's facts without
    saying whose: credit for it would mean the judge pays for recall without attribution."""

    name = "probe-facts-unnamed"

    def recall(self, request: ChatRequest, seen: Seen) -> list[Memory]:
        return list(seen.memories)

    def _caption(self, request: ChatRequest, recalled: Sequence[Memory]) -> str:
        memories = [ReadMemory(m.image, m.text) for m in recalled]
        names = list(dict.fromkeys(m.told_name for m in memories if m.told_name))
        facts = []
        for m in memories:
            said = m.user_sentences
            for name in names:
                said = re.sub(rf"\b{re.escape(name)}\b", "", said)
            facts.append(re.sub(r"\s+", " ", said).strip())
        listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else \
            "".join(names)
        return " ".join([f"I recognise {listed}." if listed else "", *facts]).strip()


class ConstantOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str = Field(min_length=1, description="the text given to every request")


class ConstantProbe(ModelAdapter[ConstantOptions]):
    """Gives the same answer to every request: the constant-answer floor of a metric."""

    name = "probe-constant"
    batch_size = 256

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        answer = self.options.answer  # type: ignore[attr-defined]
        return [Generation(text=answer, output_tokens=len(answer.split())) for _ in requests]
