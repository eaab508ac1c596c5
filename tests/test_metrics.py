"""Answer extraction and the plain metric functions."""

from __future__ import annotations

import pytest

from covip_eval.judges.base import Verdict
from tasks.metrics import (
    contains_keyword,
    extract_final_answer,
    recognition_f1,
    token_f1,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("Reasoning... so \\boxed{the old harbor in Bergen}", "the old harbor in Bergen"),
    ("First \\boxed{a} then \\boxed{b}", "b"),
    ("nested \\boxed{\\text{Kyoto {tea} house}}", "\\text{Kyoto {tea} house}"),
    ("written oddly //boxed{the planetarium}", "the planetarium"),
    ("Thinking.\nAnswer: the science museum\n", "the science museum"),
    ("**Final answer:** a tea house in Kyoto", "a tea house in Kyoto"),
    ("I have no idea.", None),
    ("empty box \\boxed{}", None),
])
def test_extract_final_answer(text: str, expected: str | None) -> None:
    assert extract_final_answer(text) == expected


def test_token_f1() -> None:
    assert token_f1("the old harbor in Bergen", "The old harbor in Bergen") == 1.0
    assert token_f1("harbor", "the old harbor") == pytest.approx(0.5)
    assert token_f1("Kyoto", "Bergen") == 0.0


def test_keyword_is_whole_word_and_case_insensitive() -> None:
    assert contains_keyword("Oh, and sks!", "SKS")
    assert not contains_keyword("tasks done", "SKS")


def test_recognition_f1_counts_negatives_as_false_alarms() -> None:
    assert recognition_f1("Ashby and Blake are here", ["Ashby", "Blake"], ["Carver"]) == 1.0
    assert recognition_f1("Ashby is here", ["Ashby", "Blake"], []) == pytest.approx(2 / 3)
    assert recognition_f1("Ashby and Carver", ["Ashby"], ["Carver"]) == pytest.approx(2 / 3)
    assert recognition_f1("nobody", ["Ashby"], ["Carver"]) == 0.0


def test_official_reading_rules_by_default_lenient_by_name(small_dataset) -> None:
    from dataclasses import replace

    from benchmark import load_benchmark
    from covip_eval.registry import scorer_class

    lsd = load_benchmark(str(small_dataset), "lsd").samples[0]
    lsd = replace(lsd, answer="a beach in Zanzibar")
    official, lenient = scorer_class("lsd_token_f1")(), scorer_class("lsd_token_f1_lenient")()
    for text, strict, loose in (("Answer: a beach in Zanzibar", 0.0, 1.0),  # no box, no answer
                                ("\\boxed{A beach in Zanzibar.}", 0.75, 1.0)):  # "zanzibar."
        assert official.score(lsd, text, []).metrics["token_f1"][0] == pytest.approx(strict)
        assert lenient.score(lsd, text, []).metrics["token_f1"][0] == pytest.approx(loose)
    assert official.score(lsd, "no box", []).counts["extraction_failures"] == 1
    itr = load_benchmark(str(small_dataset), "itr").samples[0]
    strict, loose = scorer_class("itr_keyword")(), scorer_class("itr_keyword_lenient")()
    plural = f"{itr.keyword.lower()}es everywhere"  # contains the keyword, not as a word
    assert strict.score(itr, plural, []).metrics["keyword_recall"][0] == 1.0
    assert loose.score(itr, plural, []).metrics["keyword_recall"][0] == 0.0
    assert strict.rule.startswith("official") and loose.rule.startswith("lenient")


def test_unknown_names_make_recognition_n_a_and_one_count_keeps_its_row(small_dataset) -> None:
    from dataclasses import replace

    from benchmark import load_benchmark
    from covip_eval.engine.results import format_table
    from covip_eval.engine.run import EvalSettings, evaluate
    from covip_eval.engine.scoring import CapEvalMCQAScorer

    sample = load_benchmark(str(small_dataset), "capeval_qa").samples[0]
    nameless = replace(sample, context=tuple(replace(c, name="") for c in sample.context))
    scorer = CapEvalMCQAScorer()
    verdicts = [Verdict("D", "\\boxed{D}") for _ in scorer.judge_items(nameless, "x")]
    assert "recognition_f1" not in scorer.score(nameless, "x", verdicts).metrics
    assert "recognition_f1" in scorer.score(sample, "x", verdicts).metrics
    results = evaluate(EvalSettings(model="oracle", tasks=["capeval_qa"], limit=1, judge="lexical",
                                    dataset=str(small_dataset), progress=False)).results
    assert list(results["results"]) == ["capeval_qa", "capeval_qa_n1"]  # one count, one row
    results["results"]["capeval_qa"]["recognition_f1,none"] = "N/A"
    assert "|recognition_f1|n/a|" in format_table(results)


def test_lsd_content_f1_gives_articles_nothing(small_dataset) -> None:
    from dataclasses import replace

    from benchmark import load_benchmark
    from covip_eval.registry import scorer_class

    lsd = replace(load_benchmark(str(small_dataset), "lsd").samples[0],
                  answer="a tea house in Kyoto")
    for name in ("lsd_token_f1", "lsd_token_f1_lenient"):
        scorer = scorer_class(name)()
        constant = scorer.score(lsd, "\\boxed{a in the}", []).metrics
        assert constant["token_f1"][0] > 0.3 and constant["token_f1_content"][0] == 0.0
        right = scorer.score(lsd, "\\boxed{the tea house in Kyoto}", []).metrics
        assert right["token_f1_content"][0] == 1.0
    only_articles = replace(lsd, answer="the a")
    assert "token_f1_content" not in scorer.score(only_articles, "\\boxed{a}", []).metrics


def test_itr_leak_and_clean_are_n_a_without_keywords_planted_elsewhere(small_dataset) -> None:
    from dataclasses import replace
    from types import MappingProxyType

    from benchmark import load_benchmark
    from covip_eval.engine.evaluator import SampleRecord
    from covip_eval.engine.stages import DIRECT
    from covip_eval.engine.tally import TaskTally
    from covip_eval.registry import TaskIndex, scorer_class
    from covip_eval.requests import ChatRequest, Generation, GenParams, Message, TextPart

    itr = load_benchmark(str(small_dataset), "itr").samples[0]
    bare = replace(itr, context=tuple(
        replace(c, facts=MappingProxyType({k: v for k, v in c.facts.items() if k != "keyword"}))
        for c in itr.context))
    scorer = scorer_class("itr_keyword")()
    assert set(scorer.score(itr, itr.keyword, []).metrics) == {
        "keyword_recall", "keyword_leak", "keyword_clean"}
    assert set(scorer.score(bare, itr.keyword, []).metrics) == {"keyword_recall"}

    tally = TaskTally(TaskIndex([]).resolve(["itr_direct"])[0].config)
    request = ChatRequest((Message("user", (TextPart("q"),)),), GenParams())
    for index in range(2):
        tally.add(SampleRecord(index, bare, DIRECT, (request,), (Generation("x"),),
                               score=scorer.score(bare, itr.keyword, [])))
    row = tally.metric_rows(0)["itr_direct"]
    assert row["keyword_recall,none"] == 1.0 and row["keyword_leak,none"] == "N/A"
