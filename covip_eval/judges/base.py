"""The judge interface: one `grade(items)` for every judged task.

A judge item carries everything a judge needs and nothing task-specific to the engine: the
prompt template it is asked with, the values that fill the template, the answers a reply may
give, and the answer that a right output earns. A new judged task makes its own items; neither
the evaluator nor the judges change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmark import QA
from tasks.metrics import boxed_contents

MCQA_TEMPLATE = "judge_mcqa"
LAR_TEMPLATE = "judge_lar"
LETTERS = ("A", "B", "C", "D")
CORRECTNESS = ("correct", "wrong")


@dataclass(frozen=True)
class JudgeItem:
    template: str  # a prompt template reference (a name in tasks/prompts, or a file)
    fields: Mapping[str, str] = field(hash=False)
    answers: tuple[str, ...]  # what a reply may answer, in its box
    expected: str  # the answer a right output earns

    def parse(self, reply: str) -> str | None:
        """The last boxed answer of `reply` that is one of `answers` (case and brackets aside)."""
        allowed = {a.casefold(): a for a in self.answers}
        for content in reversed(boxed_contents(reply)):
            answer = allowed.get(content.strip().strip("().").strip().casefold())
            if answer is not None:
                return answer
        return None


def mcqa_item(caption: str, qa: QA, expected: str, concept: str = "",
              others: Sequence[str] = ()) -> JudgeItem:
    """CapEval-QA: which option does the caption support (D: it cannot be determined)?
    `concept` is the name the question is about and `others` the other names of the context
    (one per line), for judges that check whom a statement is about."""
    options = dict(zip(("option_a", "option_b", "option_c", "option_d"), qa.options))
    return JudgeItem(MCQA_TEMPLATE, {"caption": caption, "question": qa.question, **options,
                                     "concept": concept, "other_concepts": "\n".join(others)},
                     LETTERS, expected)


def lar_item(response: str, reference: str, others: Sequence[str] = ()) -> JudgeItem:
    """LAR: does the response state the reference action? `others` are the actions of the
    other encounters (one per line): a response naming them besides the right one is wrong."""
    return JudgeItem(LAR_TEMPLATE, {"response": response, "reference": reference,
                                    "other_actions": "\n".join(others)},
                     CORRECTNESS, "correct")


@dataclass(frozen=True)
class Verdict:
    """A judge's decision: one of the item's answers, or a failure with its reason.

    Two failures differ: a reply with no parsable answer is the judge's answer and counts as
    wrong (the protocol's rule, reported as a parse failure); a call that failed after its
    retries (`call_failed`) says nothing about the output, so its sample is left out."""

    answer: str | None
    raw: str
    failure: str | None = None
    call_failed: bool = False

    @property
    def parse_failed(self) -> bool:
        return self.failure is not None and not self.call_failed


class Judge(ABC):
    name: str

    @property
    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Which judge, model, templates and settings: recorded in every result."""

    @abstractmethod
    def grade(self, items: list[JudgeItem]) -> list[Verdict]:
        """One verdict per item, in order; all items of a run come in one call, so judges can
        batch."""

    def close(self) -> None:
        """Release the judge's model."""
