"""Replies that are not answers fail on every adapter; cut replies are scored and counted; a
judge that never answers does not pass the failure gate; failures under controls show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from covip_eval.cli.evaluate import main
from covip_eval.engine.cache import RequestCache
from covip_eval.engine.generation import GenerationRunner
from covip_eval.engine.results import format_controls, format_table
from covip_eval.engine.run import EvalSettings, evaluate
from covip_eval.models.base import ModelAdapter
from covip_eval.registry import register_model
from covip_eval.requests import ChatRequest, Generation


class _CutEverything(ModelAdapter):
    """Writes the oracle-free reply 'I see nothing.' and says it hit the token limit."""

    name = "cut-everything"

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        return [Generation(text="I see nothing. \\boxed{nothing}", cut=True) for _ in requests]


@pytest.mark.parametrize("reply", ["", "   \n\t "])
def test_blank_replies_fail_with_a_reason(reply: str, small_dataset: Path) -> None:
    outcome = evaluate(EvalSettings(model="scripted", model_args={"reply": reply},
                                    tasks=["capeval_qa", "lsd_direct"], judge="lexical",
                                    dataset=str(small_dataset), progress=False))
    for task, counts in outcome.results["outcomes"].items():
        assert counts["scored"] == 0 and counts["generation_failures"] == counts["samples"]
        reasons = list(outcome.results["failures"][task])
        assert len(reasons) == 1 and reasons[0].endswith("empty reply: the model wrote no text")


def test_a_blank_caption_in_a_captions_file_fails(small_dataset: Path, tmp_path: Path) -> None:
    from benchmark import load_benchmark

    samples = load_benchmark(str(small_dataset), "capeval_qa").samples
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({s.sample_id: "" for s in samples}))
    outcome = evaluate(EvalSettings(model="captions", model_args={"path": str(captions)},
                                    tasks=["capeval_qa"], judge="lexical",
                                    dataset=str(small_dataset), progress=False))
    assert outcome.results["outcomes"]["capeval_qa"]["scored"] == 0


def test_empty_text_from_the_cache_is_no_answer_either() -> None:
    cache = RequestCache(None)
    runner = GenerationRunner(_CutEverything(), cache, progress=False)
    request = ChatRequest(())
    cache.put_many([(runner.key(request), Generation(text=" "))])
    assert runner.run([request], "")[0].error == "empty reply: the model wrote no text"


def test_cut_replies_are_scored_and_counted(small_dataset: Path) -> None:
    register_model("cut-everything", _CutEverything)
    results = evaluate(EvalSettings(model="cut-everything", tasks=["lsd_direct", "lsd_cag"],
                                    dataset=str(small_dataset), progress=False)).results
    for task in ("lsd_direct", "lsd_cag"):
        counts = results["outcomes"][task]
        assert counts["cut_replies"] == counts["scored"] == counts["samples"] > 0
    header, _, first = format_table(results).splitlines()[:3]
    assert header.endswith("|Cut|") and first.endswith(f"|{counts['cut_replies']}|")
    assert results["usage"]["model"]["cut"] > 0


def test_a_judge_that_never_answers_fails_the_gate(small_dataset: Path, tmp_path: Path) -> None:
    args = ["--model", "oracle", "--tasks", "capeval_qa", "--dataset", str(small_dataset),
            "--use_cache", "none", "--no_progress"]
    assert main([*args, "--judge", "lexical"]) == 0
    assert main([*args, "--judge", "scripted", "--judge_args", "reply=I am not sure.",
                 "--output_path", str(tmp_path)]) == 3
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    assert results["outcomes"]["capeval_qa"]["samples_with_parse_failures"] == \
        results["outcomes"]["capeval_qa"]["samples"]
    assert results["failure_rate"]["exceeded"] == {"capeval_qa": 1.0}


def test_failures_under_a_control_are_shown_and_gated(small_dataset: Path) -> None:
    results = evaluate(EvalSettings(model="scripted", model_args={"reply": "\\boxed{x}",
                                                                  "fail_every": 2},
                                    tasks=["lsd_direct"], dataset=str(small_dataset),
                                    controls=["blank"], progress=False)).results
    failed = results["control_outcomes"]["blank"]["lsd_direct"]["generation_failures"]
    assert failed > 0
    assert "blank failed" in format_controls(results).splitlines()[0]
    assert f"|{failed}|" in format_controls(results).splitlines()[2]
    assert "lsd_direct (blank)" in results["failure_rate"]["exceeded"]


def test_a_cache_written_before_cut_replies_were_recorded_still_serves(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE generations (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
               "input_tokens INTEGER, output_tokens INTEGER, created REAL)")
    db.execute("INSERT INTO generations VALUES ('k', 'an old reply', 3, 4, 0)")
    db.commit()
    db.close()
    cache = RequestCache(path)
    assert cache.get_many(["k"])["k"] == Generation(text="an old reply", input_tokens=3,
                                                    output_tokens=4, cut=False)
    cache.put_many([("new", Generation(text="cut short", cut=True))])
    assert cache.get_many(["new"])["new"].cut
    cache.close()
