"""The offline judge: deterministic evidence matching, no model.

Evidence is read clause by clause, and only where it is about the right one and affirmed:
- attributed: a clause counts for a concept when it names it, or names no one and continues
  a clause that did (across sentences too); a clause naming another concept of the context
  switches the subject to it;
- affirmed: a conjunct with an odd number of negations ("not", "never", "no", "without",
  "n't", "fail to" ...) does not count ("never ... without" affirms); "was never at X and does
  not like Y" denies both; idioms that affirm ("I will never forget", "can't get enough of")
  are no negation;
- a clause or sentence that names several concepts ends the subject: what follows it unnamed
  is nobody's, and "Ann or Bo" is neither's.

MCQA: an option is supported when the words that set it apart from the other options appear
together in one clause attributed to the question's concept. The best-supported option wins
when the support is clear and unique; otherwise the answer is D. LAR: correct when most
content words of the reference action appear in the affirmed clauses, and no other
encounter's action does (naming every action is not knowing the last one).

It is a stand-in for an LLM judge on the built-in benchmark, not a replacement: how far it
agrees with an LLM judge is to be measured, and results name the judge that was used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from covip_eval.errors import ConfigError
from covip_eval.judges.base import Judge, JudgeItem, JudgeTemplate, Verdict
from tasks.metrics import contains_keyword, tokens

VERSION = "3"  # 2: attribution to the question's concept, negation, LAR against the others
# 3: negation per conjunct, affirming idioms, facts after a list of names are nobody's
MIN_SUPPORT = 0.6
_STOPWORDS = frozenset(
    "a an the and or of to in on at by for with from into over under up down out off is are was "
    "were be been being it its this that these those there their them they he she him her his "
    "hers we our us you your i me my mine as than then so such not no do did does done have has "
    "had will would can could should may might must very just also too all any some each every "
    "what which who whom whose when where why how while during after before about".split()
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(r"[;,:]\s+|\s+(?:while|whereas|but|although)\s+", re.IGNORECASE)
# conjuncts of a clause; the conjunction stays with the conjunct it opens ("nor" negates it)
_CONJUNCT = re.compile(r"\s+(?=(?:and|or|nor|yet)\s)", re.IGNORECASE)
_CONJUNCTION = re.compile(r"^(?:and|or|nor|yet)\s+", re.IGNORECASE)
# a conjunct that opens with a noun phrase continues a list ("not X and the Y"): it shares
# the polarity of the conjunct before it
_NOUN_PHRASE = re.compile(r"^(?:a|an|the|some|any|my|his|her|their|our|your|its|this|that|"
                          r"these|those|\d+)\s", re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:not|no|never|without|nor|neither|cannot)\b|n't\b"
    r"|\b(?:fail(?:s|ed|ing)?|forg(?:et|ets|ot|etting)|refus(?:e|es|ed|ing)"
    r"|hesitat(?:e|es|ed|ing))\s+to\b", re.IGNORECASE)
# negation words that affirm ("I will never forget the day", "can't get enough of it")
_AFFIRMING = re.compile(
    r"(?:\bnever|\bnot|n't)\s+(?:ever\s+)?forg(?:et|ot)(?!\s+to\b)"
    r"|(?:\bcannot|n't)\s+(?:get\s+enough|stop|help|wait|resist)"
    r"|(?:\bcould\s+not|n't)\s+have\s+asked\s+for"
    r"|\bnever\s+(?:miss(?:es|ed)?|tires?|tired|gets?\s+tired|got\s+tired)\b"
    r"|\bno\s+(?:doubt|secret|wonder)\b", re.IGNORECASE)
_DISJUNCTION = re.compile(r"\bor\b", re.IGNORECASE)


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


def _negations(text: str) -> int:
    return len(_NEGATION.findall(_AFFIRMING.sub(" ", text.replace("’", "'"))))


def affirmed_part(clause: str) -> str:
    """What a clause affirms: its conjuncts each with their own negations, so that "was never
    at X and does not like Y" denies both; a conjunct that opens with a noun phrase
    continues the one before ("did not see X and the Y")."""
    kept: list[str] = []
    affirmed = True
    for i, conjunct in enumerate(_CONJUNCT.split(clause)):
        negations = _negations(conjunct)
        continues_list = i > 0 and not negations and \
            _NOUN_PHRASE.match(_CONJUNCTION.sub("", conjunct.strip())) is not None
        if not continues_list:
            affirmed = negations % 2 == 0
        if affirmed:
            kept.append(conjunct)
    return " ".join(kept)


def clauses_about(text: str, concept: str, others: list[str]) -> list[str]:
    """What `text` affirms about `concept`, clause by clause (everything it affirms when the
    concept has no name).

    A clause that names the concept counts for it, alone or in a group ("Ann and Bo went"),
    but not in an alternative ("Ann or Bo"). A clause that names no one continues the subject
    before it; after a clause or sentence that names several, that subject is no one, so
    facts told after a list of names are nobody's."""
    sentences = [[c for c in _CLAUSE.split(s) if c.strip()] for s in _SENTENCE.split(text)]
    if not concept:
        return [a for clauses in sentences for c in clauses if (a := affirmed_part(c))]
    names = [n for n in (concept, *others) if n]
    about: str | None = None
    kept = []
    for clauses in sentences:
        in_sentence: set[str] = set()
        for clause in clauses:
            named = [n for n in names if contains_keyword(clause, n)]
            in_sentence.update(named)
            if len(named) == 1:
                about = named[0]
            elif named:
                about = None
            counts = concept in named and not (len(named) > 1 and _DISJUNCTION.search(clause))
            if counts or (not named and about == concept):
                part = affirmed_part(clause)
                if part:
                    kept.append(part)
        if len(in_sentence) > 1:
            about = None
    return kept


@lru_cache(maxsize=4096)
def _evidence(caption: str, concept: str, others: tuple[str, ...]) -> list[set[str]]:
    """The content words of each clause about `concept`: the same for every question about
    that concept in one caption, so read once."""
    return [content_words(c) for c in clauses_about(caption, concept, list(others))]


def choose_option(caption: str, options: list[str], concept: str = "",
                  other_names: list[str] | None = None) -> tuple[int | None, str]:
    """Index of the supported option among A, B, C, or None; and the evidence in words."""
    sentences = _evidence(caption, concept, tuple(other_names or ()))
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

    def expect(self, templates: Sequence[JudgeTemplate]) -> None:
        """A template without an offline rule cannot be judged here: the run stops before
        it starts."""
        undecidable = sorted({t.name for t in templates if t.offline is None})
        if undecidable:
            raise ConfigError(f"the lexical judge has no rule for judge template(s) "
                              f"{', '.join(undecidable)}: judge this task with a model "
                              "(--judge openai-compatible ..., or any model name)")

    def grade(self, items: list[JudgeItem]) -> list[Verdict]:
        """Each item by its template's offline rule."""
        self.expect([i.template for i in items])
        return [i.template.offline(i) for i in items if i.template.offline is not None]


def _lines(value: str | None) -> list[str]:
    return [line for line in (value or "").splitlines() if line.strip()]


def choose_letter(item: JudgeItem) -> Verdict:
    """The offline rule of CapEval-QA's questions: the option the caption supports, or D."""
    options = [item.fields[f"option_{x}"] for x in "abc"]
    index, note = choose_option(item.fields["caption"], options, item.fields.get("concept", ""),
                                _lines(item.fields.get("other_concepts")))
    letter = "ABC"[index] if index is not None else "D"
    return Verdict(letter, f"support {note} -> \\boxed{{{letter}}}")


def grade_action(item: JudgeItem) -> Verdict:
    """The offline rule of LAR: the reference action's words are said, and no other's."""
    said = content_words(" ".join(clauses_about(item.fields["response"], "", [])))
    reference = content_words(item.fields["reference"])
    found = len(reference & said) / max(len(reference), 1)
    others = []
    for action in _lines(item.fields.get("other_actions")):
        distinctive = content_words(action) - reference
        if distinctive and len(distinctive & said) / len(distinctive) >= MIN_SUPPORT:
            others.append(action)
    answer = "correct" if found >= MIN_SUPPORT and not others else "wrong"
    return Verdict(answer, f"reference words found {found:.2f}; other actions named: "
                           f"{len(others)} -> \\boxed{{{answer.capitalize()}}}")
