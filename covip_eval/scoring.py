"""Scorers: from a sample and the model's final text (and judge verdicts) to metric parts,
and `score_outputs`, the one way outputs are scored: by the evaluator, the lm-eval bridge and
the trainer's reward alike.

Every metric is kept as (numerator, denominator) per sample, so aggregates are ratios over
all questions (Acc+ and Acc- are micro-averages over questions, as in the paper). Scorers are
registered by import string in `covip_eval.registry.SCORERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from benchmark import QA, CapEvalSample, Concept, DiagnosticSample, Sample
from covip_eval.errors import CovipError
from covip_eval.judges.base import Judge, JudgeItem, Verdict, lar_item, mcqa_item
from tasks.metrics import contains_keyword, extract_final_answer, recognition_f1, token_f1


@dataclass
class SampleScore:
    metrics: dict[str, tuple[float, float]]
    details: dict[str, Any] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    judge_failure: str | None = None  # a judge call failed: the sample is left out


class Scorer(ABC):
    needs_judge: ClassVar[bool] = False
    metrics: ClassVar[tuple[str, ...]]

    def judge_items(self, sample: Sample, text: str) -> list[JudgeItem]:
        """What the judge must decide for this output (nothing, unless `needs_judge`)."""
        return []

    @abstractmethod
    def score(self, sample: Sample, text: str, verdicts: list[Verdict]) -> SampleScore:
        """Metric parts of one sample."""


class CapEvalMCQAScorer(Scorer):
    """Acc+ over questions of present concepts, Acc- (answered D) over absent ones.

    A judge reply that cannot be parsed counts as not correct in both, and is reported."""

    needs_judge = True
    metrics = ("acc_pos", "acc_neg", "recognition_f1")

    @staticmethod
    def _questions(sample: Sample) -> list[tuple[int, Concept, QA, bool]]:
        """Every question of the context: its concept's index, the concept, the question, and
        whether the concept is present (then the right answer is the QA's; else D)."""
        return [(k, concept, qa, k in sample.positive_indices)
                for k, concept in enumerate(sample.context) for qa in concept.qas]

    def judge_items(self, sample: Sample, text: str) -> list[JudgeItem]:
        return [mcqa_item(text, qa, qa.correct_answer if positive else "D")
                for _, _, qa, positive in self._questions(sample)]

    def score(self, sample: Sample, text: str, verdicts: list[Verdict]) -> SampleScore:
        assert isinstance(sample, CapEvalSample)
        pos = [0, 0]
        neg = [0, 0]
        counts: Counter = Counter()
        questions = []
        items = self.judge_items(sample, text)
        for (k, concept, qa, positive), item, verdict in zip(self._questions(sample), items,
                                                            verdicts, strict=True):
            bucket = pos if positive else neg
            bucket[0] += verdict.answer == item.expected
            bucket[1] += 1
            if verdict.parse_failed:
                counts["judge_parse_failures"] += 1
            questions.append({
                "concept": k, "name": concept.name, "positive": positive, "id": qa.id,
                "question": qa.question, "options": list(qa.options),
                "expected": item.expected, "judge_answer": verdict.answer,
                "judge_failure": verdict.failure, "judge_raw": verdict.raw,
            })
        negatives = [c.name for k, c in enumerate(sample.context)
                     if k not in sample.positive_indices]
        f1 = recognition_f1(text, sample.positive_names, negatives)
        return SampleScore(
            metrics={"acc_pos": (pos[0], pos[1]), "acc_neg": (neg[0], neg[1]),
                     "recognition_f1": (f1, 1.0)},
            details={"questions": questions},
            counts=counts,
        )


class LSDScorer(Scorer):
    """Token F1 of the extracted final answer against the last-seen place."""

    metrics = ("token_f1",)

    def score(self, sample: Sample, text: str, verdicts: list[Verdict]) -> SampleScore:
        assert isinstance(sample, DiagnosticSample)
        answer = extract_final_answer(text)
        counts: Counter = Counter()
        if answer is None:
            counts["extraction_failures"] += 1
        f1 = token_f1(answer, sample.answer) if answer is not None else 0.0
        return SampleScore({"token_f1": (f1, 1.0)},
                           {"extracted": answer, "target": sample.answer}, counts)


class LARScorer(Scorer):
    """The judge decides whether the response states the last action."""

    needs_judge = True
    metrics = ("accuracy",)

    def judge_items(self, sample: Sample, text: str) -> list[JudgeItem]:
        assert isinstance(sample, DiagnosticSample)
        return [lar_item(text, sample.last_action)]

    def score(self, sample: Sample, text: str, verdicts: list[Verdict]) -> SampleScore:
        assert isinstance(sample, DiagnosticSample)
        verdict = verdicts[0]
        counts: Counter = Counter()
        if verdict.parse_failed:
            counts["judge_parse_failures"] += 1
        return SampleScore(
            {"accuracy": (float(verdict.answer == "correct"), 1.0)},
            {"target": sample.last_action, "judge_answer": verdict.answer,
             "judge_failure": verdict.failure, "judge_raw": verdict.raw},
            counts,
        )


class ITRScorer(Scorer):
    """1 when the planted keyword appears in the response."""

    metrics = ("keyword_recall",)

    def score(self, sample: Sample, text: str, verdicts: list[Verdict]) -> SampleScore:
        assert isinstance(sample, DiagnosticSample)
        hit = contains_keyword(text, sample.keyword)
        return SampleScore({"keyword_recall": (float(hit), 1.0)}, {"target": sample.keyword})


def score_outputs(jobs: Sequence[tuple[Scorer, Sample, str]], judge: Judge | None
                  ) -> list[SampleScore]:
    """Score many outputs, of any tasks: every judge item goes to the judge in one call, and
    each output gets back the verdicts on its own items."""
    items = [scorer.judge_items(sample, text) for scorer, sample, text in jobs]
    flat = [item for group in items for item in group]
    if flat and judge is None:
        raise CovipError("these tasks need a judge: pass --judge (or --predict_only)")
    verdicts = judge.grade(flat) if flat and judge is not None else []
    scores, start = [], 0
    for (scorer, sample, text), group in zip(jobs, items):
        mine = verdicts[start:start + len(group)]
        score = scorer.score(sample, text, mine)
        failed = [v.failure for v in mine if v.call_failed]
        if failed:
            score.judge_failure = f"judge failed on {len(failed)} of {len(mine)} items: {failed[0]}"
        scores.append(score)
        start += len(group)
    return scores
