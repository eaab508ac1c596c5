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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from benchmark import QA, CapEvalSample, Concept, DiagnosticSample, Sample
from covip_eval.errors import CovipError
from covip_eval.judges.base import Judge, JudgeItem, JudgeTemplate, Verdict
from covip_eval.judges.lexical import choose_letter, grade_action
from tasks.metrics import (
    contains_keyword,
    contains_text,
    content_token_f1,
    extract_final_answer,
    last_boxed,
    recognition_f1,
    set_f1,
    tokens,
)

# The judge templates of the judged tasks (prompts in tasks/prompts), with their offline rules
MCQA_JUDGE = JudgeTemplate("judge_mcqa", ("A", "B", "C", "D"), offline=choose_letter)
LAR_JUDGE = JudgeTemplate("judge_lar", ("correct", "wrong"), offline=grade_action)


def mcqa_item(caption: str, qa: QA, expected: str, concept: str = "",
              others: Sequence[str] = ()) -> JudgeItem:
    """CapEval-QA: which option does the caption support (D: it cannot be determined)?
    `concept` is the name the question is about and `others` the other names of the context
    (one per line), for judges that check whom a statement is about."""
    options = dict(zip(("option_a", "option_b", "option_c", "option_d"), qa.options))
    return JudgeItem(MCQA_JUDGE, {"caption": caption, "question": qa.question, **options,
                                  "concept": concept, "other_concepts": "\n".join(others)},
                     expected)


def lar_item(response: str, reference: str, others: Sequence[str] = ()) -> JudgeItem:
    """LAR: does the response state the reference action? `others` are the actions of the
    other encounters (one per line): a response naming them besides the right one is wrong."""
    return JudgeItem(LAR_JUDGE, {"response": response, "reference": reference,
                                 "other_actions": "\n".join(others)}, "correct")


@dataclass
class SampleScore:
    metrics: dict[str, tuple[float, float]]
    details: dict[str, Any] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    judge_failure: str | None = None  # a judge call failed: the sample is left out


class Scorer(ABC):
    needs_judge: ClassVar[bool] = False
    judge_templates: ClassVar[tuple[JudgeTemplate, ...]] = ()  # the templates its items use
    metrics: ClassVar[tuple[str, ...]]
    rule: ClassVar[str] = ""  # how outputs are read, where rules differ; recorded in results
    # the metrics only looking should raise, which the shortcut audit holds the task to
    headlines: ClassVar[tuple[str, ...]] = ()

    def constant_answers(self, samples: Iterable[Sample]) -> list[str]:
        """Replies worth trying as the same answer to every sample, for the audit's floor
        (beside replying nothing)."""
        return []

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
    judge_templates = (MCQA_JUDGE,)
    metrics = ("acc_pos", "acc_neg", "recognition_f1")
    # the mean of Acc+ and Acc-, which saying nothing and saying everything both put at 50
    headlines = ("acc_mean",)

    @staticmethod
    def _questions(sample: Sample) -> list[tuple[int, Concept, QA, bool]]:
        """Every question of the context: its concept's index, the concept, the question, and
        whether the concept is present (then the right answer is the QA's; else D)."""
        return [(k, concept, qa, k in sample.positive_indices)
                for k, concept in enumerate(sample.context) for qa in concept.qas]

    def judge_items(self, sample: Sample, text: str) -> list[JudgeItem]:
        names = [c.name for c in sample.context]
        return [mcqa_item(text, qa, qa.correct_answer if positive else "D", concept.name,
                          [n for n in names if n and n != concept.name])
                for _, concept, qa, positive in self._questions(sample)]

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
        metrics: dict[str, tuple[float, float]] = {"acc_pos": (pos[0], pos[1]),
                                                   "acc_neg": (neg[0], neg[1])}
        if all(c.name for c in sample.context):  # unknown names: recognition is n/a, not 0
            negatives = [c.name for k, c in enumerate(sample.context)
                         if k not in sample.positive_indices]
            f1 = recognition_f1(text, sample.positive_names, negatives)
            metrics["recognition_f1"] = (f1, 1.0)
        return SampleScore(
            metrics=metrics,
            details={"questions": questions},
            counts=counts,
        )


class LSDScorer(Scorer):
    """Token F1 of the final answer against the last-seen place, by the official rule: the
    last boxed answer only, lower-cased whitespace tokens. Beside it `token_f1_content`, the
    same F1 with stop words removed (tasks.metrics.STOP_WORDS), which a constant answer of
    articles cannot raise."""

    metrics = ("token_f1", "token_f1_content")
    rule = "official: last boxed answer, lower-cased whitespace tokens"
    headlines = ("token_f1", "token_f1_content")

    def constant_answers(self, samples: Iterable[Sample]) -> list[str]:
        """Boxes of the answers' most common tokens: one, two and three of them."""
        common = Counter(t for s in samples if isinstance(s, DiagnosticSample)
                         for t in set(s.answer.lower().split())).most_common(3)
        return ["\\boxed{" + " ".join(t for t, _ in common[:k]) + "}"
                for k in range(1, len(common) + 1)]

    def extract(self, text: str) -> str | None:
        return last_boxed(text)

    def split(self, text: str) -> set[str]:
        return set(text.lower().split())

    def score(self, sample: Sample, text: str, verdicts: list[Verdict]) -> SampleScore:
        assert isinstance(sample, DiagnosticSample)
        answer = self.extract(text)
        counts: Counter = Counter()
        if answer is None:
            counts["extraction_failures"] += 1
        said, reference = self.split(answer or ""), self.split(sample.answer)
        metrics = {"token_f1": (set_f1(said, reference), 1.0)}
        content = content_token_f1(said, reference)
        if content is not None:
            metrics["token_f1_content"] = (content, 1.0)
        return SampleScore(metrics,
                           {"extracted": answer, "target": sample.answer, "rule": self.rule},
                           counts)


class LenientLSDScorer(LSDScorer):
    """A lenient reading: the last boxed answer or else an 'Answer:' line; word tokens with
    punctuation and accents dropped."""

    rule = "lenient: boxed answer or 'Answer:' line, word tokens"

    def extract(self, text: str) -> str | None:
        return extract_final_answer(text)

    def split(self, text: str) -> set[str]:
        return set(tokens(text))


class LARScorer(Scorer):
    """The judge decides whether the response states the last action."""

    needs_judge = True
    judge_templates = (LAR_JUDGE,)
    metrics = ("accuracy",)
    headlines = ("accuracy",)

    def judge_items(self, sample: Sample, text: str) -> list[JudgeItem]:
        assert isinstance(sample, DiagnosticSample)
        others = sorted({c.facts["action"] for c in sample.context
                         if c.facts.get("action") and c.facts["action"] != sample.last_action})
        return [lar_item(text, sample.last_action, others)]

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
    """Keyword recall by the official rule (the planted keyword appears in the response), and
    beside it what a model that recites every instruction gets wrong: `keyword_leak`, a keyword
    planted with a concept that is not in the photo appears; `keyword_clean`, the right keyword
    and no other."""

    metrics = ("keyword_recall", "keyword_leak", "keyword_clean")
    headlines = ("keyword_clean",)  # reciting every instruction reaches keyword_recall 100
    rule = "official: plain containment, case aside"

    def contains(self, text: str, keyword: str) -> bool:
        return contains_text(text, keyword)

    def score(self, sample: Sample, text: str, verdicts: list[Verdict]) -> SampleScore:
        assert isinstance(sample, DiagnosticSample)
        hit = self.contains(text, sample.keyword)
        others = sorted({c.facts["keyword"] for c in sample.context
                         if c.facts.get("keyword") and c.facts["keyword"] != sample.keyword})
        leaked = [k for k in others if self.contains(text, k)]
        metrics = {"keyword_recall": (float(hit), 1.0)}
        if others:  # with no keyword planted elsewhere, leak and clean do not apply (n/a)
            metrics["keyword_leak"] = (float(bool(leaked)), 1.0)
            metrics["keyword_clean"] = (float(hit and not leaked), 1.0)
        return SampleScore(metrics,
                           {"target": sample.keyword, "leaked": leaked, "rule": self.rule})


class LenientITRScorer(ITRScorer):
    """A lenient reading: the keyword as a whole word, accents and typographic quotes aside."""

    rule = "lenient: whole word"

    def contains(self, text: str, keyword: str) -> bool:
        return contains_keyword(text, keyword)


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
