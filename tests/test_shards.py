"""Sharded evaluation: shards merged give exactly the single-process results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from covip_eval.cli.evaluate import main as eval_main

# what differs between any two runs, merged or not
VOLATILE = ("date", "usage", "merged_from", "git_hash", "config", "package_versions")


def _results(folder: Path) -> dict:
    return json.loads(next(folder.rglob("results_*.json")).read_text())


def _samples(folder: Path, task: str) -> list[dict]:
    return [json.loads(line) for line in
            next(folder.rglob(f"samples_{task}_*.jsonl")).read_text().splitlines()]


@pytest.mark.parametrize(("model", "judge"), [("retrieval", ["--judge", "lexical"]),
                                              ("text-only", ["--judge", "scripted",
                                                             "--judge_args",
                                                             "replies_file=REPLIES"])])
def test_merged_shards_equal_one_run(model: str, judge: list[str], small_dataset: Path,
                                     tmp_path: Path, capsys) -> None:
    replies = tmp_path / "replies.json"  # a judge that answers, fails to parse, and varies
    replies.write_text(json.dumps(["\\boxed{A}", "no answer here", "\\boxed{D}",
                                   "\\boxed{Correct}"]))
    judge = [a.replace("REPLIES", str(replies)) for a in judge]
    base = ["--model", model, "--tasks", "capeval_qa,lsd_direct,lar_cag,itr_direct",
            "--dataset", str(small_dataset), "--no_progress", "--use_cache", "none",
            "--log_samples", *judge]
    assert eval_main([*base, "--output_path", str(tmp_path / "single")]) in (0, 3)
    for i in range(3):
        assert eval_main([*base, "--output_path", str(tmp_path / f"shard{i}"),
                          "--shard", f"{i}/3"]) in (0, 3)
    capsys.readouterr()
    assert eval_main(["merge", *(str(tmp_path / f"shard{i}") for i in range(3)),
                      "--output_path", str(tmp_path / "merged")]) == 0
    single, merged = _results(tmp_path / "single"), _results(tmp_path / "merged")
    for key in set(single) | set(merged):
        if key not in VOLATILE:
            assert merged.get(key) == single.get(key), key
    assert merged["config"]["model_identity"] == single["config"]["model_identity"]
    assert len(merged["merged_from"]) == 3
    for task in ("capeval_qa", "lar_cag"):
        strip = ("prompt_hash",)  # equal too; kept out only to keep the diff readable
        assert [{k: v for k, v in r.items() if k not in strip}
                for r in _samples(tmp_path / "merged", task)] == \
            [{k: v for k, v in r.items() if k not in strip}
             for r in _samples(tmp_path / "single", task)]


def test_merge_refuses_missing_and_mismatched_shards(small_dataset: Path, tmp_path: Path,
                                                     capsys) -> None:
    base = ["--tasks", "lsd_direct", "--dataset", str(small_dataset), "--no_progress",
            "--use_cache", "none", "--log_samples"]
    for i, model in ((0, "oracle"), (1, "oracle"), (2, "blind")):
        assert eval_main(["--model", model, *base, "--output_path", str(tmp_path / f"s{i}"),
                          "--shard", f"{i}/4"]) == 0
    capsys.readouterr()
    out = ["--output_path", str(tmp_path / "m")]
    assert eval_main(["merge", str(tmp_path / "s0"), str(tmp_path / "s1"), *out]) == 2
    assert "missing shard(s) 2/4, 3/4 of 4" in capsys.readouterr().err
    assert eval_main(["merge", str(tmp_path / "s0"), str(tmp_path / "s2"), *out]) == 2
    assert "differ in model_identity" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        eval_main(["--model", "oracle", *base, "--shard", "4/4"])
    assert eval_main(["--model", "oracle", "--tasks", "lsd_direct", "--shard", "0/2"]) == 2
    assert "--output_path and --log_samples" in capsys.readouterr().err
