"""The offline judge: deterministic evidence matching, no model.

MCQA: an option is supported when the words that set it apart from the other options appear
together in one sentence of the caption. The best-supported option wins when the support is
clear and unique; otherwise the answer is D. LAR: correct when most content words of the
reference action appear in the response.

It is a stand-in for an LLM judge on the built-in benchmark, not a replacement: how far it
agrees with an LLM judge is to be measured, and results name the judge that was used.
"""

from __future__ import annotations

import re
from typing import Any

from covip_eval.errors import ConfigError
from covip_eval.judges.base import LAR_TEMPLATE, MCQA_TEMPLATE, Judge, JudgeItem, Verdict
from tasks.metrics import tokens

VERSION = "1"
MIN_SUPPORT = 0.6
_STOPWORDS = frozenset(
    "a an the and or of to in on at by for with from into over under up down out off is are was "
    "were be been being it its this that these those there their them they he she him her his "
    "hers we our us you your i me my mine as than then so such not no do did does done have has "
    "had will would can could should may might must very just also too all any some each every "
    "what which who whom whose when where why how while during after before about".split()
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in tokens(text) if w not in _STOPWORDS}


def _support(words: set[str], sentences: list[set[str]]) -> float:
    if not words:
        return 0.0
    return max((len(words & s) / len(words) for s in sentences), default=0.0)


def choose_option(caption: str, options: list[str]) -> tuple[int | None, str]:
    """Index of the supported option among A, B, C, or None; and the evidence in words."""
    sentences = [content_words(s) for s in _SENTENCE.split(caption) if s.strip()]
    words = [content_words(o) for o in options]
    scores = []
    for k, own in enumerate(words):
        others = set().union(*(w for j, w in enumerate(words) if j != k))
        distinctive = own - others or own
        scores.append(_support(distinctive, sentences))
    ranked = sorted(range(len(scores)), key=lambda k: -scores[k])
    best, runner_up = ranked[0], ranked[1] if len(ranked) > 1 else None
    clear = scores[best] >= MIN_SUPPORT and (runner_up is None or scores[best] > scores[runner_up])
    note = ", ".join(f"{'ABC'[k]}={scores[k]:.2f}" for k in range(len(scores)))
    return (best if clear else None), note


class LexicalJudge(Judge):
    name = "lexical"

    def __init__(self, **judge_args: Any):
        if judge_args:
            raise ConfigError(f"the lexical judge takes no --judge_args (got {sorted(judge_args)})")

    @property
    def identity(self) -> dict[str, Any]:
        return {"judge": self.name, "version": VERSION, "deterministic": True,
                "min_support": MIN_SUPPORT}

    def grade(self, items: list[JudgeItem]) -> list[Verdict]:
        rules = {MCQA_TEMPLATE: _choose_letter, LAR_TEMPLATE: _grade_action}
        return [rules[i.template](i) if i.template in rules else
                Verdict(None, "", f"the lexical judge has no rule for template {i.template!r}")
                for i in items]


def _choose_letter(item: JudgeItem) -> Verdict:
    options = [item.fields[f"option_{x}"] for x in "abc"]
    index, note = choose_option(item.fields["caption"], options)
    letter = "ABC"[index] if index is not None else "D"
    return Verdict(letter, f"support {note} -> \\boxed{{{letter}}}")


def _grade_action(item: JudgeItem) -> Verdict:
    reference = content_words(item.fields["reference"])
    found = len(reference & content_words(item.fields["response"])) / max(len(reference), 1)
    answer = "correct" if found >= MIN_SUPPORT else "wrong"
    return Verdict(answer, f"reference words found {found:.2f} -> "
                           f"\\boxed{{{answer.capitalize()}}}")
