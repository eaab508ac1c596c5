"""The exported lm-eval tasks against coviP-eval, same model, same samples, greedy decoding.

The tiny model's processor has no video processor (that needs torchvision), so transformers'
AutoProcessor cannot load it; the test hands lm-eval the same processor our adapter uses.
Real Qwen-VL checkpoints load through AutoProcessor as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
pytest.importorskip("torch")

from covip_eval.engine.run import EvalSettings, evaluate  # noqa: E402
from covip_eval.integrations.lmeval_bridge import request  # noqa: E402
from covip_eval.integrations.lmeval_export import export_lmeval  # noqa: E402
from covip_eval.models.hf import to_hf_messages  # noqa: E402
from covip_eval.models.tiny_families import tiny_random_path  # noqa: E402
from covip_eval.models.tiny_random import TinyRandomModel  # noqa: E402

LIMIT = 2


@pytest.fixture(scope="module")
def lmeval_run(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    folder = tiny_random_path(0)  # loads with AutoProcessor, as lm-eval loads it
    out = export_lmeval(tmp_path_factory.mktemp("lmeval") / "tasks", str(small_dataset),
                        "lexical", {}, for_model="hf-multimodal")

    def run(tasks: list[str], system: str | None) -> dict:
        return simple_evaluate(
            model="hf-multimodal",
            model_args={"pretrained": str(folder), "max_images": 99, "batch_size": 1,
                        "device": "cpu", "trust_remote_code": True},
            tasks=tasks, task_manager=TaskManager(include_path=str(out), include_defaults=False),
            limit=LIMIT, apply_chat_template=True, log_samples=True,
            gen_kwargs="max_gen_toks=8,do_sample=False", system_instruction=system)

    # lm-eval's system instruction is run-wide: the caption task has none, the direct tasks
    # have ours, so they run apart
    caption = run(["covip_capeval_qa"], None)
    direct = run(["covip_lsd_direct", "covip_itr_direct", "covip_lar_direct"],
                 (out / "system_instruction.txt").read_text())
    return {"samples": {**caption["samples"], **direct["samples"]},
            "results": {**caption["results"], **direct["results"]}}, out


@pytest.fixture(scope="module")
def covip_run(small_dataset: Path):
    return evaluate(EvalSettings(
        model="tiny-random", model_args={"batch_size": 1},
        tasks=["capeval_qa", "lsd_direct", "itr_direct", "lar_direct"],
        dataset=str(small_dataset), judge="lexical", limit=LIMIT,
        gen_kwargs={"max_new_tokens": 8, "temperature": 0}, progress=False, keep_records=True))


def test_export_writes_flat_tasks(lmeval_run) -> None:
    _, out = lmeval_run
    assert sorted(p.name for p in out.glob("*.yaml")) == [
        "covip_capeval_qa.yaml", "covip_itr_direct.yaml", "covip_lar_direct.yaml",
        "covip_lsd_direct.yaml"]
    assert "judge_capeval_qa" in (out / "covip_capeval_qa.yaml").read_text()
    assert json.loads((out / "covip_export.json").read_text())["judge"] == "lexical"


def test_prompts_agree_image_positions_included(lmeval_run, covip_run, small_dataset) -> None:
    results, _ = lmeval_run
    model = TinyRandomModel()
    for task in ("capeval_qa", "lsd_direct"):
        for record in results["samples"][f"covip_{task}"]:
            ours = request(str(small_dataset), task, record["doc"])
            messages, images = to_hf_messages(ours)
            expected = model.processor.apply_chat_template(messages, tokenize=False,
                                                           add_generation_prompt=True)
            context = record["arguments"][0][0]
            assert context == expected
            assert context.count("<|vision_start|>") == len(images)


def test_outputs_and_scores_agree(lmeval_run, covip_run) -> None:
    results, _ = lmeval_run
    for task, metrics in (("capeval_qa", ("acc_pos", "acc_neg", "recognition_f1")),
                          ("lsd_direct", ("token_f1", "token_f1_content")),
                          ("itr_direct", ("keyword_recall", "keyword_leak", "keyword_clean")),
                          ("lar_direct", ("accuracy",))):
        records = covip_run.records[task]
        for record in results["samples"][f"covip_{task}"]:
            i = record["doc"]["idx"]
            # lm-eval cuts at the stop string; our adapter stops at EOS and drops special
            # tokens: the same greedy tokens give the same text
            assert record["resps"][0][0] == records[i].response
            ours = records[i].score.metrics
            for metric in metrics:  # each part's (numerator, denominator) in both harnesses
                assert tuple(record[metric][metric]) == tuple(ours.get(metric, (0.0, 0.0)))



def test_export_keeps_the_protocol_settings_and_directions(tmp_path: Path,
                                                           small_dataset: Path) -> None:
    import yaml

    def loaded(folder: Path, task: str) -> dict:
        text = (folder / f"covip_{task}.yaml").read_text().replace("!function ", "")
        return yaml.safe_load(text)

    full = export_lmeval(tmp_path / "full", str(small_dataset), "lexical", {})
    generation = loaded(full, "lsd_direct")["generation_kwargs"]
    assert generation["presence_penalty"] == 1.5 and generation["top_k"] == 20
    directions = {m["metric"]: m["higher_is_better"]
                  for m in loaded(full, "itr_direct")["metric_list"]}
    assert directions == {"keyword_recall": True, "keyword_leak": False, "keyword_clean": True}
    hf = export_lmeval(tmp_path / "hf", str(small_dataset), "lexical", {}, "hf-multimodal")
    assert "presence_penalty" not in loaded(hf, "lsd_direct")["generation_kwargs"]
    assert "presence_penalty" in json.loads((hf / "covip_export.json").read_text())["left_out"]


def test_bridge_scores_equal_covip_evals_with_a_failing_judge(small_dataset: Path) -> None:
    """Judge calls that fail leave their documents out in both harnesses."""
    from covip_eval.integrations import lmeval_bridge as bridge

    judge_args = {"reply": "\\boxed{A}", "fail_every": 3}
    outcome = evaluate(EvalSettings(model="oracle", tasks=["capeval_qa", "lar_direct"],
                                    dataset=str(small_dataset), judge="scripted",
                                    judge_args=judge_args, max_failure_rate=1.0,
                                    progress=False, keep_records=True))
    for run in outcome.runs:
        assert outcome.results["outcomes"][run.name]["judge_failures"] > 0
        parts = bridge.judge_filter(str(small_dataset), run.name, "scripted", judge_args,
                                    [[r.response] for r in outcome.records[run.name]],
                                    [{"idx": r.index} for r in outcome.records[run.name]])
        for metric in run.config.metrics:
            ours = outcome.results["results"][run.name][f"{metric},none"]
            theirs = bridge.aggregate(metric, [p[metric] for p in parts])
            assert theirs == pytest.approx(ours) if ours != "N/A" else theirs != theirs  # nan


def test_the_lm_eval_command_runs_our_tasks_on_a_tiny_folder(lmeval_run, tmp_path: Path) -> None:
    """As a user runs it: lm-eval's own command, its hf-multimodal model, no patching."""
    import os
    import shutil
    import subprocess

    _, out = lmeval_run
    command = shutil.which("lm_eval") or pytest.skip("the lm_eval command is not installed")
    done = subprocess.run(
        [command, "--model", "hf-multimodal", "--model_args",
         f"pretrained={tiny_random_path(0)},trust_remote_code=True,max_images=99",
         "--batch_size", "1", "--device", "cpu", "--include_path", str(out), "--tasks",
         "covip_lsd_direct",
         "--limit", "2", "--apply_chat_template", "--gen_kwargs",
         "max_gen_toks=8,do_sample=False", "--system_instruction",
         (out / "system_instruction.txt").read_text(), "--output_path", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "covip_lsd_direct" in done.stdout and "token_f1" in done.stdout


def test_shipped_and_built_folders_load_with_auto_processor() -> None:
    from transformers import AutoProcessor

    from covip_eval.models.covip_tiny import COVIP_TINY_DIR

    for folder in (COVIP_TINY_DIR, tiny_random_path(0)):
        processor = AutoProcessor.from_pretrained(str(folder), trust_remote_code=True)
        assert hasattr(processor, "tokenizer") and hasattr(processor, "image_processor")
