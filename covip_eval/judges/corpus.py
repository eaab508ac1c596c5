"""An adversarial corpus for judges: captions and LAR responses that state a fact about the
wrong concept, negate it, list every option, paraphrase it, or give the right answer among
wrong ones, each with the verdict a careful reader gives: a development half
(`covip_eval/data/judge_corpus.json`) and a held-out half written before the rules it tests
were changed (`judge_corpus_heldout.json`).
Any judge can be scored on it: the offline one in the tests, an LLM judge before it is
trusted (`python bench/bench_judge_corpus.py --judge ...`)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmark import QA
from covip_eval.engine.scoring import lar_item, mcqa_item
from covip_eval.judges.base import Judge, JudgeItem

CORPUS = Path(__file__).resolve().parent.parent / "data" / "judge_corpus.json"  # development
HELD_OUT = CORPUS.with_name("judge_corpus_heldout.json")  # never used to change a rule


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    item: JudgeItem
    lexical_limit: bool  # a paraphrase that word matching cannot see


def load_cases(path: Path = CORPUS) -> list[Case]:
    cases = []
    for c in json.loads(path.read_text())["cases"]:
        if c["kind"] == "mcqa":
            answer = c["expected"] if c["expected"] != "D" else "A"  # the QA's own key aside
            qa = QA(c["id"], c["question"], tuple(c["options"]), answer)  # type: ignore[arg-type]
            item = mcqa_item(c["text"], qa, c["expected"], c["concept"], c["others"])
        else:
            item = replace(lar_item(c["text"], c["reference"], c["others"]),
                           expected=c["expected"])
        cases.append(Case(c["id"], c["category"], item, c["lexical_limit"]))
    return cases


def score_judge(judge: Judge, cases: list[Case]) -> dict[str, Any]:
    """Accuracy per category and overall, and the cases the judge got wrong."""
    verdicts = judge.grade([c.item for c in cases])
    right: dict[str, list[bool]] = defaultdict(list)
    wrong = []
    for case, verdict in zip(cases, verdicts, strict=True):
        ok = verdict.answer == case.item.expected
        right[case.category].append(ok)
        if not ok:
            wrong.append({"id": case.id, "expected": case.item.expected,
                          "answer": verdict.answer, "failure": verdict.failure,
                          "lexical_limit": case.lexical_limit})
    per_category = {k: sum(v) / len(v) for k, v in sorted(right.items())}
    everything = [ok for v in right.values() for ok in v]
    return {"accuracy": sum(everything) / len(everything), "per_category": per_category,
            "n": len(everything), "wrong": wrong}
