"""The evaluation engine end to end: discrimination, CAG, caching, failures, result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from covip_eval.cli.evaluate import main as eval_main
from covip_eval.engine.results import samples_for_lm_eval
from covip_eval.engine.run import EvalSettings, evaluate
from covip_eval.errors import ConfigError, UnknownNameError


def _run(**kwargs) -> dict:
    kwargs.setdefault("progress", False)
    return evaluate(EvalSettings(**kwargs)).results


def _metric(results: dict, row: str, metric: str) -> float:
    return 100 * results["results"][row][f"{metric},none"]


@pytest.mark.slow
def test_benchmark_discriminates(baseline_results: dict[str, dict]) -> None:
    blind, text, oracle, retrieval = (baseline_results[m] for m in
                                      ("blind", "text-only", "oracle", "retrieval"))
    for n in (1, 2, 3, 4):
        row = f"capeval_qa_n{n}"
        assert _metric(oracle, row, "acc_pos") >= 90 and _metric(oracle, row, "acc_neg") >= 95
        assert _metric(blind, row, "acc_pos") <= 5 and _metric(blind, row, "acc_neg") >= 95
        assert _metric(text, row, "acc_neg") <= _metric(oracle, row, "acc_neg") - 50
    pos = {m: _metric(r, "capeval_qa", "acc_pos") for m, r in baseline_results.items()}
    assert pos["blind"] < pos["retrieval"] < pos["oracle"]
    # recognition is not free: colour statistics fall behind as scenes fill up
    by_count = [_metric(retrieval, f"capeval_qa_n{n}", "acc_pos") for n in (1, 2, 3, 4)]
    assert by_count[3] < by_count[2] < min(by_count[:2]) and by_count[3] <= 70
    # reciting every instruction is not instruction-triggered recall
    assert _metric(text, "itr_direct", "keyword_recall") == 100
    assert _metric(text, "itr_direct", "keyword_leak") == 100
    assert _metric(text, "itr_direct", "keyword_clean") == 0
    assert _metric(oracle, "itr_direct", "keyword_clean") == 100
    for task, metric in (("lsd_direct", "token_f1"), ("lar_cag", "accuracy"),
                         ("itr_direct", "keyword_recall")):
        assert _metric(blind, task, metric) == 0
        assert _metric(oracle, task, metric) == 100
    assert blind["counts"]["capeval_qa"]["n_scored"] == 200
    assert blind["n-samples"]["lsd_cag"] == {"original": 100, "effective": 100}


def test_results_are_traceable(small_dataset: Path, tmp_path: Path) -> None:
    outcome = evaluate(EvalSettings(model="retrieval", tasks=["capeval_qa", "lsd_cag"],
                                    dataset=str(small_dataset), judge="lexical",
                                    output_path=tmp_path, log_samples=True, progress=False))
    results = json.loads(outcome.results_path.read_text())
    assert results["judge"]["judge"] == "lexical" and results["judge"]["deterministic"]
    assert set(results["prompts"]["lsd_cag"]) >= {"caption", "question", "system"}
    assert len(results["prompts"]["lsd_cag"]["question"]["sha256"]) == 64
    assert results["datasets"]["capeval_qa"]["revision"].startswith("sha256:")
    assert results["config"]["seed"] == 0 and results["package_versions"]["python"]
    assert "acc_pos_stderr,none" in results["results"]["capeval_qa"]
    samples = list(outcome.results_path.parent.glob("samples_lsd_cag_*.jsonl"))
    assert len(samples) == 1 and not list(tmp_path.rglob("*.partial"))
    records = [json.loads(line) for line in samples[0].read_text().splitlines()]
    assert len(records) == 4 and all(r["caption"] and r["prompt_hash"] for r in records)


def test_cag_reuses_the_caption_request(small_dataset: Path) -> None:
    results = _run(model="blind", tasks=["lsd_cag", "lar_cag", "itr_cag"],
                   dataset=str(small_dataset), judge="lexical")
    usage = results["usage"]["model"]
    # 12 samples in stage 1 but the captions of lsd, lar and itr items differ by sample only
    assert usage["requested"] == 24 and usage["unique"] == 24


def test_warm_cache_makes_no_model_calls(small_dataset: Path, tmp_path: Path) -> None:
    kwargs = dict(model="retrieval", tasks=["covip"], dataset=str(small_dataset),
                  judge="lexical", cache_path=tmp_path / "c.sqlite")
    cold, warm = _run(**kwargs), _run(**kwargs)
    assert cold["usage"]["model"]["called"] > 0 and warm["usage"]["model"]["called"] == 0
    assert cold["results"] == warm["results"]


def test_judge_reply_without_answer_is_counted(small_dataset: Path) -> None:
    results = _run(model="oracle", tasks=["capeval_qa"], dataset=str(small_dataset),
                   judge="scripted", judge_args={"reply": "Probably the first one."})
    row = results["results"]["capeval_qa"]
    n_questions = sum(3 * 3 * n for n in (1, 2, 3, 4)) * 3
    assert results["counts"]["capeval_qa"]["judge_parse_failures"] == n_questions
    assert row["acc_pos,none"] == 0 and row["acc_neg,none"] == 0  # never mapped to D


def test_failed_generations_are_reported_not_dropped(small_dataset: Path) -> None:
    results = _run(model="scripted", model_args={"reply": "A caption.", "fail_every": 3},
                   tasks=["capeval_qa", "lsd_cag"], dataset=str(small_dataset), judge="lexical")
    for task, n in (("capeval_qa", 12), ("lsd_cag", 4)):
        failed = sum(results["failures"][task].values())
        assert failed > 0
        assert results["counts"][task]["n_scored"] + failed == n
    assert any(k.startswith("caption failed: scripted failure")
               for k in results["failures"]["lsd_cag"]) or results["failures"]["lsd_cag"]


def test_non_builtin_dataset_needs_a_named_judge(small_dataset: Path) -> None:
    with pytest.raises(ConfigError, match="need a judge"):
        _run(model="blind", tasks=["capeval_qa"], dataset=str(small_dataset))
    results = _run(model="blind", tasks=["lsd_direct"], dataset=str(small_dataset))
    assert results["judge"] is None  # LSD needs no judge


def test_unknown_names_suggest(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'lsd_cag'"):
        _run(model="blind", tasks=["lsd_cga"])
    assert eval_main(["--model", "retreival", "--tasks", "lsd", "--no_progress"]) == 2
    assert "Did you mean 'retrieval'" in capsys.readouterr().err


def test_malformed_task_file_names_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("task: mine\ndataset_config: lsd\nmode: sideways\n"
                                        "prompts: {}\nscorer: lsd_token_f1\nmetrics: [token_f1]\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: mode: "):
        _run(model="blind", tasks=["mine"], include_path=[tmp_path])
    (tmp_path / "mine.yaml").write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: not valid YAML"):
        _run(model="blind", tasks=["mine"], include_path=[tmp_path])


def test_user_task_folder(tmp_path: Path, small_dataset: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "short.txt").write_text("---\nversion: 7\n---\nWhere? Use \\boxed{}.")
    (tmp_path / "my_lsd.yaml").write_text(
        f"task: my_lsd\ndataset: {small_dataset}\ndataset_config: lsd\nmode: direct\n"
        "prompts: {memory_header: memory_header, memory_dialogue: memory_dialogue, "
        "query_header: query_header, caption: caption_instruction, system: system_personalize,"
        " question: prompts/short.txt}\nscorer: lsd_token_f1\nmetrics: [token_f1]\n")
    results = _run(model="oracle", tasks=["my_lsd"], include_path=[tmp_path])
    assert results["results"]["my_lsd"]["token_f1,none"] == 1.0
    assert results["prompts"]["my_lsd"]["question"]["version"] == "7"


def test_corrupt_image_in_dataset_is_a_clear_error(tmp_path: Path, small_dataset: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    from benchmark import load_benchmark
    from benchmark.rows import sample_to_row
    from benchmark.storage import write_config

    rows = [sample_to_row(s) for s in load_benchmark(str(small_dataset), "lsd").samples]
    rows[2]["images_context"][1] = {"bytes": b"not an image", "path": None}
    write_config(tmp_path, "lsd", rows)
    code = eval_main(["--model", "blind", "--tasks", "lsd_direct", "--dataset", str(tmp_path),
                      "--no_progress", "--use_cache", "none"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "row 2: field 'images_context[1]': corrupt image" in err


def test_tasks_list(capsys: pytest.CaptureFixture) -> None:
    assert eval_main(["--tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "|lsd_cag|" in out and "|covip|" in out


def test_secrets_never_reach_results(small_dataset: Path, tmp_path: Path) -> None:
    secret = "sk-test-DO-NOT-LEAK-123"
    outcome = evaluate(EvalSettings(
        model="retrieval", tasks=["lsd_direct"], dataset=str(small_dataset),
        judge="scripted", judge_args={"reply": "\\boxed{A}"},
        output_path=tmp_path, log_samples=True, progress=False))
    assert outcome.results_path is not None
    from covip_eval.redaction import redact

    assert redact({"api_key": secret, "max_new_tokens": 3}) == {"api_key": "<redacted>",
                                                                "max_new_tokens": 3}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text()


def test_task_naming_an_unknown_scorer_or_metric(tmp_path: Path, small_dataset: Path) -> None:
    base = (f"task: mine\ndataset: {small_dataset}\ndataset_config: lsd\nmode: direct\n"
            "include: " + str(Path(__file__).parent.parent / "tasks" / "_context.yaml") + "\n"
            "prompts: {question: lsd_question}\n")
    (tmp_path / "mine.yaml").write_text(base + "scorer: lsd_f1\nmetrics: [token_f1]\n")
    with pytest.raises(UnknownNameError, match="Did you mean 'lsd_token_f1'"):
        _run(model="blind", tasks=["mine"], include_path=[tmp_path])
    (tmp_path / "mine.yaml").write_text(base + "scorer: lsd_token_f1\nmetrics: [bleu]\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: key 'metrics': no metric 'bleu'"):
        _run(model="blind", tasks=["mine"], include_path=[tmp_path])
    (tmp_path / "mine.yaml").write_text(base + "scorer: lsd_token_f1\nmetrics: [acc_mean]\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: key 'metrics': acc_mean not produced"):
        _run(model="blind", tasks=["mine"], include_path=[tmp_path])


def test_bad_gen_kwargs_are_refused(small_dataset: Path) -> None:
    with pytest.raises(ConfigError, match="--gen_kwargs: temprature: Extra inputs"):
        _run(model="blind", tasks=["lsd_direct"], dataset=str(small_dataset),
             gen_kwargs={"temprature": 0})


def test_results_work_with_lm_evals_own_tooling(tmp_path: Path, small_dataset: Path) -> None:
    lm_eval_utils = pytest.importorskip("lm_eval.utils")
    outcome = evaluate(EvalSettings(model="retrieval", tasks=["capeval_qa", "lsd_direct"],
                                    dataset=str(small_dataset), judge="lexical", limit=1,
                                    output_path=tmp_path, log_samples=True, progress=False))
    results = json.loads(outcome.results_path.read_text())
    table = lm_eval_utils.make_table(results)  # one sample: no standard error, "N/A"
    assert "capeval_qa" in table and "acc_pos" in table and "N/A" in table
    assert isinstance(results["date"], float) and results["n-shot"]["capeval_qa"] == 0
    assert results["higher_is_better"]["lsd_direct"] == {"token_f1": True, "token_f1_content": True}
    assert not any("/" in name for name in results["results"])
    assert outcome.results_path.parent.name == results["model_name_sanitized"] == "retrieval"
    record = json.loads(next(tmp_path.rglob("samples_lsd_direct_*.jsonl")).read_text()
                        .splitlines()[0])
    for key in ("doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter"):
        assert key in record
    assert isinstance(record["token_f1"], float)


def test_per_count_rows_are_subtasks(small_dataset: Path) -> None:
    results = _run(model="oracle", tasks=["capeval_qa"], dataset=str(small_dataset),
                   judge="lexical")
    assert results["group_subtasks"]["capeval_qa"] == [f"capeval_qa_n{n}" for n in (1, 2, 3, 4)]
    assert results["results"]["capeval_qa_n2"]["alias"] == "n2"
    assert results["versions"]["capeval_qa_n2"] == results["versions"]["capeval_qa"]


def test_lm_eval_flags(small_dataset: Path, tmp_path: Path, capsys) -> None:
    code = eval_main(["--model", "oracle", "--tasks", "lsd_direct", "--dataset",
                      str(small_dataset), "--limit", "0.5", "--seed", "3,1234,1234,1234",
                      "--gen_kwargs", "max_gen_toks=32,do_sample=false", "--batch_size", "4",
                      "--system_instruction", "Answer briefly.", "--write_out",
                      "--show_config", "--output_path", str(tmp_path), "--no_progress"])
    out = capsys.readouterr().out
    assert code == 0 and "system: Answer briefly." in out and '"dataset_config": "lsd"' in out
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    assert results["n-samples"]["lsd_direct"]["effective"] == 2  # half of 4
    assert results["config"]["seed"] == 3
    assert results["prompts"]["lsd_direct"]["system"]["path"] == "--system_instruction"
    ignored = tmp_path / "ignored"  # lm-eval's habit: a flag the model has no use for
    assert eval_main(["--model", "oracle", "--device", "cuda", "--dataset", str(small_dataset),
                      "--tasks", "lsd_direct", "--output_path", str(ignored),
                      "--no_progress"]) == 0
    assert "ignoring --device cuda: the 'oracle' adapter has no device_map option" in (
        capsys.readouterr().err)
    results = json.loads(next(ignored.rglob("results_*.json")).read_text())
    assert results["config"]["ignored_flags"] == [
        "--device cuda: the 'oracle' adapter has no device_map option"]
    with pytest.raises(ConfigError, match="until"):
        _run(model="oracle", tasks=["lsd_direct"], dataset=str(small_dataset),
             gen_kwargs={"until": "</s>"})


def test_hf_hub_log_args_stage_what_lm_eval_would_push(small_dataset: Path, tmp_path: Path,
                                                      capsys) -> None:
    staged = tmp_path / "staged"
    base = ["--model", "oracle", "--tasks", "lsd_direct,itr_direct", "--dataset",
            str(small_dataset), "--no_progress", "--log_samples"]
    assert eval_main([*base, "--output_path", str(tmp_path / "out"), "--hf_hub_log_args",
                      f"hub_results_org=me,push_results_to_hub=True,push_samples_to_hub=True,"
                      f"dry_run={staged}"]) == 0
    assert "me/covip-eval-results-private: 3 file(s) staged" in capsys.readouterr().out
    repo = staged / "me__covip-eval-results-private"
    files = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*.json*"))
    assert [f.split("/")[0] for f in files] == ["oracle"] * 3
    written = sorted(p.name for p in (tmp_path / "out" / "oracle").iterdir())
    assert sorted(f.split("/")[-1] for f in files) == written
    # the card names each file as lm-eval's tracker does, and datasets reads the details
    from datasets import load_dataset

    card = yaml.safe_load((repo / "README.md").read_text().split("---")[1])
    configs = {c["config_name"]: c for c in card["configs"]}
    assert set(configs) == {"oracle__results", "oracle__lsd_direct", "oracle__itr_direct"}
    assert [f["split"] for f in configs["oracle__lsd_direct"]["data_files"]][-1] == "latest"
    details = load_dataset(str(repo), "oracle__lsd_direct", split="latest",
                           cache_dir=str(tmp_path / "hf-cache"))
    assert len(details) == 4 and details[0]["doc_id"] == 0
    public = tmp_path / "public"
    assert eval_main([*base, "--output_path", str(tmp_path / "out"), "--hf_hub_log_args",
                      f"hub_results_org=me,hub_repo_name=board,public_repo=True,"
                      f"push_results_to_hub=True,dry_run={public}"]) == 0
    assert [p.name for p in public.iterdir()] == ["me__board"]
    for bad, message in ((["--hf_hub_log_args", "push_results_to_hub=True"],
                          "give --output_path"),
                         (["--output_path", str(tmp_path), "--hf_hub_log_args",
                           "token=hf_SECRET"], "token: Extra inputs")):
        assert eval_main([*base, *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and "hf_SECRET" not in err


def _written(run: Path, data: bytes, seconds: float = 30.0) -> bool:
    """Whether W&B's offline run log holds `data` (its service may still be flushing)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if data in next(run.glob("run-*.wandb")).read_bytes():
            return True
        time.sleep(0.5)
    return False


def test_wandb_logging_offline_ours_and_lm_evals(small_dataset: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """--wandb_args logs a run W&B can read back (offline mode); lm-eval's own W&B logger
    takes our result and samples files as they are."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "out"
    assert eval_main(["--model", "oracle", "--tasks", "lsd_direct,capeval_qa", "--judge",
                      "lexical", "--dataset", str(small_dataset), "--no_progress",
                      "--log_samples", "--output_path",
                      str(out), "--wandb_args", f"project=covip-test,dir={tmp_path}"]) == 0
    run = next(tmp_path.glob("wandb/offline-run-*"))
    table = json.loads(next(run.rglob("eval_results_*.table.json")).read_text())
    assert ["lsd_direct", "token_f1", 1.0, 0.0] in table["data"]
    assert _written(run, b"lsd_direct/token_f1")  # the summary, in lm-eval's keys
    assert not _written(run, b"token_f1,none", seconds=1)
    wandb_logger = pytest.importorskip("lm_eval.loggers")
    results_file = next(out.rglob("results_*.json"))
    samples = samples_for_lm_eval(results_file)
    results = json.loads(results_file.read_text())
    assert set(samples) == set(results["results"])  # every row, per-count rows included
    logger = wandb_logger.WandbLogger(init_args={"project": "lm-eval-reads-ours",
                                                 "dir": str(tmp_path / "lm")})
    logger.post_init(results)
    logger.log_eval_result()
    logger.log_eval_samples(samples)
    logger.run.finish()
    logged = next((tmp_path / "lm").glob("wandb/offline-run-*"))
    for key in (b"lsd_direct/token_f1", b"capeval_qa_n2/acc_pos", b"capeval_qa_by_count_eval"):
        assert _written(logged, key), key


def test_commands_are_listed_and_flags_before_them_are_refused(small_dataset: Path,
                                                              tmp_path: Path, capsys) -> None:
    bare = ["--model", "oracle", "--tasks", "lsd_direct", "--dataset", str(small_dataset),
            "--use_cache", "none", "--no_progress"]
    assert eval_main(bare) == 0
    bare_table = capsys.readouterr().out
    assert eval_main(["run", *bare]) == 0  # `run` is the bare form
    assert capsys.readouterr().out == bare_table
    for argv in (["--limit", "5", "--model", "hf", "merge", "x", "--output_path", "y"],
                 ["--model", "blind", "run", "--tasks", "lsd_direct"]):
        with pytest.raises(SystemExit) as exc:
            eval_main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "belong to the evaluation and would be ignored" in err and "--model" in err
    with pytest.raises(SystemExit):
        eval_main(["--help"])
    out = capsys.readouterr().out
    assert all(c in out for c in ("run", "audit", "score", "export-lmeval", "judge-agreement",
                                  "merge"))


def test_lm_evals_make_table_shows_each_task_once_and_only_metrics(small_dataset: Path) -> None:
    lm_eval_utils = pytest.importorskip("lm_eval.utils")
    metrics = {"capeval_qa": ["acc_neg", "acc_pos", "recognition_f1"],
               "itr": ["keyword_clean", "keyword_leak", "keyword_recall"],
               "lar": ["accuracy"], "lsd": ["token_f1", "token_f1_content"]}
    expected = []  # (label, metric) in lm-eval's tree order, groups as chosen
    for task in ("capeval_qa", "itr", "lar", "lsd"):
        forms = [(f"  - {task}_{m}", task) for m in ("cag", "direct")] if task != "capeval_qa" \
            else [(" - capeval_qa", task), *((f"  - n{n}", task) for n in (1, 2, 3, 4))]
        expected += [(label, m) for label, kind in forms for m in metrics[kind]]
    results = _run(model="oracle", tasks=["covip"], dataset=str(small_dataset), judge="lexical")
    assert results["group_subtasks"]["covip"] == ["capeval_qa", "itr", "lar", "lsd"]
    rows, label = [], ""
    for line in lm_eval_utils.make_table(results).splitlines()[2:]:
        cells = line.split("|")
        label = cells[1].rstrip() or label
        rows.append((label, cells[5].strip()))
    assert rows == expected
    lsd = _run(model="oracle", tasks=["lsd"], dataset=str(small_dataset))
    assert lsd["group_subtasks"] == {"lsd": ["lsd_cag", "lsd_direct"]}  # no covip parent
    assert "n_scored" not in str(lsd["results"]) and lsd["counts"]["lsd_cag"]["n_scored"] == 4
