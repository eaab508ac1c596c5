"""covip-tiny, the model shipped in the package: its files are there and small, it loads
offline through `--model covip-tiny`, and it writes the captions recorded when it shipped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from covip_eval.engine.run import EvalSettings, evaluate  # noqa: E402
from covip_eval.models.covip_tiny import COVIP_TINY_DIR  # noqa: E402

RECORDED = Path(__file__).parent / "data" / "covip_tiny_outputs.json"
RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def test_the_shipped_folder_holds_weights_card_and_processor() -> None:
    names = {p.name for p in COVIP_TINY_DIR.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "processor_config.json",
            "chat_template.jinja", "covip_tiny_random.json", "README.md"} <= names
    assert (COVIP_TINY_DIR / "model.safetensors").stat().st_size <= 16 * 2**20


def test_covip_tiny_writes_the_recorded_captions(tmp_path: Path) -> None:
    recorded = json.loads(RECORDED.read_text())
    outcome = evaluate(EvalSettings(model="covip-tiny", tasks=["capeval_qa"],
                                    limit=len(recorded["captions"]),
                                    gen_kwargs=recorded["gen_kwargs"], output_path=tmp_path,
                                    log_samples=True, progress=False))
    (samples,) = [p for p in outcome.samples_paths if "capeval_qa" in p.name]
    captions = [json.loads(line)["filtered_resps"][0] for line in samples.read_text().splitlines()]
    assert captions == recorded["captions"]
    assert outcome.results["config"]["model_identity"]["weights"] == recorded["weights"]


def test_the_probe_finds_copying_in_the_prompts_and_in_text() -> None:
    """What the shipped model was measured to do (docs/covip_tiny.md): the first release
    copied in text only (0.135 in the prompts); the second, trained on whole conversations,
    in both."""
    out = subprocess.run([sys.executable, str(RECIPES / "covip_tiny_probe.py"),
                          str(COVIP_TINY_DIR), "--samples", "2"],
                         capture_output=True, text=True, check=True).stdout
    means = [float(m) for m in re.findall(r"mean probability ([0-9.]+)", out)]
    assert len(means) == 2 and min(means) > 0.5, out


def test_the_hops_reader_labels_the_targets_tokens(small_dataset: Path) -> None:
    sys.path.insert(0, str(RECIPES))
    from covip_tiny_hops import token_kinds

    from benchmark import load_benchmark
    from coviP_train.sft import caption_target

    sample = load_benchmark(str(small_dataset), "capeval_qa").samples[1]  # two concepts
    target = caption_target(sample)
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", target)]
    labelled = dict(zip((target[a:b] for a, b in words), token_kinds(target, sample, words)))
    assert labelled["I"] == labelled["can"] == labelled["see"] == "form"
    for k in sample.positive_indices:
        concept = sample.context[k]
        assert labelled[f"{concept.name}:"] == "name"
        fact = next(iter(concept.facts.values())).split()[0]
        assert labelled.get(fact, labelled.get(f"{fact};", labelled.get(f"{fact}."))) == "fact"


def test_the_hops_reader_runs_on_the_shipped_model() -> None:
    """The shipped model writes the caption's own wording; its name choice, a share of three
    samples, is only checked to be read."""
    out = subprocess.run([sys.executable, str(RECIPES / "covip_tiny_hops.py"),
                          str(COVIP_TINY_DIR), "--samples", "3"],
                         capture_output=True, text=True, check=True).stdout
    shares = dict(re.findall(r"^  (name choice|fact|form) +([0-9.]+)%", out, re.M))
    assert float(shares["form"]) == 100.0 and {"name choice", "fact"} <= shares.keys(), out


@pytest.mark.slow
def test_the_vision_stage_trains_the_tower_alone(tmp_path: Path, small_dataset: Path) -> None:
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "vision"
    subprocess.run([sys.executable, str(RECIPES / "covip_tiny_vision.py"), "--model",
                    str(COVIP_TINY_DIR), "--dataset", str(small_dataset), "--out", str(out),
                    "--evaluation", str(small_dataset), "--steps", "2", "--batch", "2",
                    "--eval_every", "1", "--workers", "0", "--device", "cpu"],
                   capture_output=True, text=True, check=True)
    before, after = (load_file(d / "model.safetensors") for d in (COVIP_TINY_DIR, out))
    changed = {k for k in before if not torch.equal(before[k].float(), after[k].float())}
    assert changed and all(k.startswith("model.visual.") for k in changed)
    record = json.loads((out / "vision_stage.json").read_text())
    assert record["step"] == 2 and "choice among 3 (1 concept)" in record["held_out"]
    assert f"evaluation set ({small_dataset})" in record
    assert (out / "covip_tiny_random.json").exists() and not (out / "README.md").exists()


def test_curves_read_records_and_console_logs(tmp_path: Path) -> None:
    record = tmp_path / "covip_train.json"
    record.write_text(json.dumps({"log_history": [
        {"step": 10, "loss": 2.0, "mean_token_accuracy": 0.4},
        {"step": 20, "loss": 1.0, "mean_token_accuracy": 0.6}]}))
    console = tmp_path / "gspo.log"
    console.write_text("noise\n" + "\n".join(
        str({"loss": "0.0", "reward": str(r), "rewards/reward_positive/mean": str(r),
             "rewards/reward_negative/mean": "-0.01"}) for r in (0.1, 0.2)) + "\n")
    out = tmp_path / "curves.png"
    subprocess.run([sys.executable, str(RECIPES / "covip_tiny_curves.py"), "--warmup",
                    str(record), "--sft", str(record), "--sft_context", str(record), "--gspo",
                    str(console), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
