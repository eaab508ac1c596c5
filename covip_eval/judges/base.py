"""The judge interface: multiple-choice answers from a caption, and LAR correctness."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from benchmark import QA


@dataclass(frozen=True)
class MCQAItem:
    caption: str
    qa: QA


@dataclass(frozen=True)
class LARItem:
    response: str
    reference: str


@dataclass(frozen=True)
class Verdict:
    """A judge's decision: a letter (MCQA) or 'correct'/'wrong' (LAR), or a parse failure."""

    answer: str | None
    raw: str
    failure: str | None = None


class Judge(ABC):
    name: str

    @property
    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Which judge, model, templates and settings: recorded in every result."""

    @abstractmethod
    def answer_mcqa(self, items: list[MCQAItem]) -> list[Verdict]:
        """One verdict per item; all items of a run come in one call, so judges can batch."""

    @abstractmethod
    def grade_lar(self, items: list[LARItem]) -> list[Verdict]:
        """One verdict per item: answer 'correct' or 'wrong'."""

    def close(self) -> None:
        """Release the judge's model."""
