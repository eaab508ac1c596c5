"""Judges on real questions (the official QA excerpt) and on replies with no answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.rows import RowReader
from covip_eval.engine.cache import RequestCache
from covip_eval.engine.scoring import lar_item, mcqa_item
from covip_eval.judges.lexical import LexicalJudge
from covip_eval.registry import make_judge

EXCERPT = Path(__file__).parent / "data" / "official_qas_excerpt.json"


def official_qas():
    data = json.loads(EXCERPT.read_text())
    reader = RowReader(str(EXCERPT))
    qas = []
    for sample in data.values():
        for concept in sample["qas"].values():
            qas += [reader.qa(qa, 0, "qa") for qa in concept["qa"]]
    return qas


def test_official_excerpt_validates() -> None:
    assert len(official_qas()) == 126


def test_lexical_judge_on_official_questions() -> None:
    qas = official_qas()
    judge = LexicalJudge()
    supported = judge.grade([
        mcqa_item(f"A nice photo. Back then: {qa.option(qa.correct_answer)}.", qa, "A")
        for qa in qas
    ])
    accuracy = sum(v.answer == qa.correct_answer for v, qa in zip(supported, qas)) / len(qas)
    assert accuracy >= 0.9
    silent = judge.grade([mcqa_item("A dog on a lawn.", qa, "D") for qa in qas])
    assert sum(v.answer == "D" for v in silent) / len(qas) >= 0.9


def test_lexical_lar() -> None:
    judge = LexicalJudge()
    verdicts = judge.grade([
        lar_item("You were jogging by the river that day.", "jogging along the river"),
        lar_item("You were eating a hot dog.", "jogging along the river"),
    ])
    assert [v.answer for v in verdicts] == ["correct", "wrong"]


@pytest.mark.parametrize(("reply", "letter"), [
    ("\\boxed{B}", "B"), ("So the answer is \\boxed{(C)}.", "C"), ("\\boxed{d}", "D"),
    ("The answer is B", None), ("\\boxed{Because of the lake}", None),
])
def test_an_item_reads_only_its_own_answers(reply: str, letter: str | None) -> None:
    assert mcqa_item("caption", official_qas()[0], "A").parse(reply) == letter


def test_lar_items_read_correct_or_wrong() -> None:
    item = lar_item("response", "reference")
    assert item.parse("It matches. \\boxed{Correct}") == "correct"
    assert item.parse("\\boxed{B}") is None


def test_model_judge_reply_without_answer_is_a_failure_not_d() -> None:
    judge = make_judge("scripted", {"reply": "I think it is D."}, RequestCache(None), False)
    qa = official_qas()[0]
    verdict = judge.grade([mcqa_item("caption", qa, qa.correct_answer)])[0]
    assert verdict.answer is None
    assert verdict.failure == "judge reply has no boxed answer"


def test_model_judge_majority_vote(tmp_path: Path) -> None:
    replies = tmp_path / "r.json"
    replies.write_text(json.dumps(["\\boxed{A}", "\\boxed{A}", "\\boxed{A}", "\\boxed{B}"]))
    judge = make_judge("scripted", {"replies_file": str(replies), "samples": 5},
                       RequestCache(None), False)
    qa = official_qas()[0]
    verdicts = judge.grade([mcqa_item(f"caption {i}", qa, "A") for i in range(6)])
    assert all(v.answer in ("A", "B") or v.failure for v in verdicts)
    assert judge.identity["settings"]["samples"] == 5
    assert judge.runner.stats.unique == 30
    assert len({judge.settings.params(vote).seed for vote in range(5)}) == 5  # a seed a vote


def test_bad_judge_settings_are_one_line_errors() -> None:
    from covip_eval.errors import ConfigError

    with pytest.raises(ConfigError, match="--judge_args: samples: Input should be greater"):
        make_judge("scripted", {"reply": "x", "samples": 0}, RequestCache(None), False)


def test_offline_judge_on_the_adversarial_corpus() -> None:
    """Misattribution, negation, listing every option, the right answer among wrong ones:
    every case right; paraphrases that word matching cannot see are its known limit."""
    from covip_eval.judges.corpus import load_cases, score_judge

    cases = load_cases()
    assert len(cases) >= 40
    assert {c.category for c in cases} >= {"misattribution", "negation", "listing",
                                          "paraphrase", "right_among_wrong"}
    report = score_judge(LexicalJudge(), cases)
    limits = {c.id for c in cases if c.lexical_limit}
    assert [w["id"] for w in report["wrong"] if w["id"] not in limits] == []
    assert report["per_category"]["misattribution"] == 1.0


def test_offline_judge_on_the_held_out_corpus() -> None:
    """The held-out half (written before the judge's negation rules): at least 95% right."""
    from covip_eval.judges.corpus import HELD_OUT, load_cases, score_judge

    cases = load_cases(HELD_OUT)
    assert len(cases) >= 40
    assert {c.category for c in cases} >= {"idiom", "double_negation", "coordinated_denial",
                                          "unnamed_list", "hedge"}
    assert score_judge(LexicalJudge(), cases)["accuracy"] >= 0.95


def test_judge_agreement_rejudges_a_run(small_dataset: Path, tmp_path: Path, capsys) -> None:
    from covip_eval.cli.evaluate import main as eval_main
    from covip_eval.engine.run import EvalSettings, evaluate

    evaluate(EvalSettings(model="retrieval", tasks=["capeval_qa", "lar_direct"],
                          dataset=str(small_dataset), judge="lexical", output_path=tmp_path,
                          log_samples=True, progress=False))
    base = ["judge-agreement", "--samples", str(tmp_path), "--no_progress", "--use_cache",
            "none"]
    assert eval_main([*base, "--judge_b", "lexical"]) == 0
    report = json.loads(next(tmp_path.rglob("judge_agreement_*.json")).read_text())
    assert report["all"]["agreement"] == 1.0 and report["all"]["kappa"] == 1.0
    assert report["all"]["decisions"] == 90 * 3 + 4  # 90 context entries x 3 questions, 4 LAR
    assert set(report["groups"]) >= {"task capeval_qa", "task lar_direct", "capeval_qa n4"}
    capsys.readouterr()
    assert eval_main([*base, "--judge_b", "scripted", "--judge_b_args",
                      "reply=\\boxed{D}", "--output_path", str(tmp_path / "other")]) == 0
    out = capsys.readouterr().out
    assert "Cohen's kappa" in out and "Confusion matrix" in out
    other = json.loads(next((tmp_path / "other").glob("judge_agreement_*.json")).read_text())
    said_d = other["all"]["confusion"]["D"]["D"]
    assert other["all"]["agreement"] == pytest.approx(said_d / other["all"]["compared"])
    assert other["all"]["failures_b"] == 4  # "D" is no answer to LAR
    capsys.readouterr()  # a judge B that cannot be reached: the reason, and exit 3
    assert eval_main([*base, "--judge_b", "openai-compatible", "--judge_b_args",
                      "base_url=http://127.0.0.1:9/v1,model=m,max_retries=0",
                      "--output_path", str(tmp_path / "down")]) == 3
    err = capsys.readouterr().err
    assert "judge B failed on 274 of 274 decisions (above --max_failure_rate 0.05)" in err
    assert "judge A" not in err
    next(tmp_path.rglob("results_*.json")).unlink()
    assert eval_main([*base, "--judge_b", "lexical"]) == 2
    assert "results file" in capsys.readouterr().err
