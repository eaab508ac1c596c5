"""The judge interface: one `grade(items)` for every judged task.

A judge item carries everything a judge needs and nothing task-specific to the engine: its
template (the prompt, the answers a reply may give, and the rule an offline judge decides it
by, if any), the values that fill the template, and the answer that a right output earns. A
task's scorer makes its own items with its own templates (scoring.py holds CapEval-QA's and
LAR's); neither the evaluator nor the judges know any template by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks.metrics import boxed_contents


@dataclass(frozen=True)
class JudgeTemplate:
    """What a judge is asked with: a prompt template (a name in tasks/prompts, or a file), the
    answers a reply may give in its box, and, for judges without a model, the rule that decides
    an item without one (`None`: only a model judge can decide it)."""

    name: str
    answers: tuple[str, ...]
    offline: Callable[[JudgeItem], Verdict] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class JudgeItem:
    template: JudgeTemplate
    fields: Mapping[str, str] = field(hash=False)
    expected: str  # the answer a right output earns

    @property
    def answers(self) -> tuple[str, ...]:
        return self.template.answers

    def parse(self, reply: str) -> str | None:
        """The last boxed answer of `reply` that is one of `answers` (case and brackets aside)."""
        allowed = {a.casefold(): a for a in self.answers}
        for content in reversed(boxed_contents(reply)):
            answer = allowed.get(content.strip().strip("().").strip().casefold())
            if answer is not None:
                return answer
        return None


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

    def expect(self, templates: Sequence[JudgeTemplate]) -> None:
        """The templates the run's tasks will ask with, before any item: a judge that cannot
        decide one says so now, and a judge records them (as its identity) whether or not a
        shard of the run happens to ask each."""

    @abstractmethod
    def grade(self, items: list[JudgeItem]) -> list[Verdict]:
        """One verdict per item, in order; all items of a run come in one call, so judges can
        batch."""

    def usage(self) -> dict[str, Any] | None:
        """The calls and tokens of the judge's model (None: a judge without one)."""
        return None

    def close(self) -> None:
        """Release the judge's model."""
