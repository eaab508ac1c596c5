"""coviP-train: configuration checks by TRL's parser, a few steps of every preset on
tiny-random, and a checkpoint that coviP-eval evaluates (the reward: test_reward.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

from covip_eval.engine.run import EvalSettings, evaluate  # noqa: E402
from covip_eval.errors import ConfigError  # noqa: E402
from coviP_train.cli import main as train_main  # noqa: E402
from coviP_train.config import load_config  # noqa: E402


def test_presets_carry_the_paper_settings() -> None:
    gspo = load_config("gspo", [])
    assert (gspo.lora_r, gspo.lora_alpha, gspo.num_generations, gspo.beta) == (64, 128, 4, 0.0)
    assert (gspo.learning_rate, gspo.num_train_epochs) == (5e-6, 2)
    assert (gspo.epsilon, gspo.epsilon_high, gspo.importance_sampling_level) == (
        3e-4, 4e-4, "sequence")
    assert gspo.num_iterations > 1  # off-policy, or GSPO would equal GRPO
    dr = load_config("dr_grpo", ["learning_rate=1e-5", "use_lora=false"])
    assert (dr.epsilon, dr.epsilon_high, dr.loss_type) == (0.2, 0.28, "dr_grpo")
    assert dr.learning_rate == 1e-5 and dr.use_lora is False


@pytest.mark.parametrize(("overrides", "message"), [
    (["num_iterations=1"], "fully on-policy, where GSPO equals GRPO"),
    (["importance_sampling_level=token"], "GSPO is sequence-level"),
    # TRL's own rule, checked by TRL
    (["per_device_train_batch_size=3"], r"generation_batch_size \(3\) must be divisible by "
                                        r"num_generations \(4\)"),
    (["--per_device_train_batch_size", "3", "steps_per_generation=2"],
     r"generation_batch_size \(6\) must be divisible"),
    (["epsilon_high=0.0001"], "epsilon_high=0.0001 is below epsilon=0.0003"),
    (["learning_rate=fast"], "--learning_rate.*invalid float value: 'fast'"),
    (["no_such_key=1"], "not used by the HfArgumentParser: .'--no_such_key'"),
])
def test_configuration_errors_name_values_and_fix(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("gspo", overrides)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["grpo", "dr_grpo", "gspo"])
def test_a_few_steps_of_each_preset(preset: str, tmp_path: Path, small_dataset: Path,
                                    capsys) -> None:
    code = train_main(["--config", preset, "--max_steps", "2", "--dataset", str(small_dataset),
                       "--output_dir", str(tmp_path), "concept_counts=1",
                       "per_device_train_batch_size=4", "max_completion_length=16",
                       "logging_steps=1"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-2])
    assert summary["steps"] == 2 and summary["reward_first"] is not None
    saved = json.loads((tmp_path / "covip_train.json").read_text())
    assert saved["config"]["algorithm"] == preset
    assert any("rewards/reward_degenerate/mean" in h for h in saved["log_history"])
    assert (tmp_path / "adapter_config.json").exists()  # LoRA by default, in output_dir
    card = (tmp_path / "README.md").read_text()
    assert "[None]" not in card and "base_model:" not in card  # tiny-random is local
    assert {"grpo": "GRPO (", "dr_grpo": "Dr. GRPO", "gspo": "GSPO"}[preset] in card


@pytest.mark.slow
def test_checkpoints_evaluate_in_coviP_eval(tmp_path: Path, small_dataset: Path) -> None:
    assert train_main(["--config", "grpo", "--max_steps", "1", "--dataset", str(small_dataset),
                       "--output_dir", str(tmp_path / "lora"), "concept_counts=1",
                       "per_device_train_batch_size=4", "max_completion_length=8"]) == 0
    assert train_main(["merge", "--adapter", str(tmp_path / "lora"),
                       "--out", str(tmp_path / "merged")]) == 0
    assert train_main(["--config", "grpo", "--max_steps", "1", "--dataset", str(small_dataset),
                       "--output_dir", str(tmp_path / "full"), "use_lora=false",
                       "concept_counts=1", "per_device_train_batch_size=4",
                       "max_completion_length=8"]) == 0
    for folder in (tmp_path / "merged", tmp_path / "full"):
        results = evaluate(EvalSettings(model="hf", model_args={"pretrained": str(folder)},
                                        tasks=["capeval_qa"], dataset=str(small_dataset),
                                        judge="lexical", limit=1,
                                        gen_kwargs={"max_new_tokens": 8}, progress=False)).results
        assert results["counts"]["capeval_qa"]["n_scored"] == 1
        assert results["config"]["model_identity"]["pretrained"] == str(folder)


@pytest.mark.parametrize("preset", ["grpo", "dr_grpo", "gspo", "repic", "sft"])
def test_presets_are_valid_and_any_trl_field_is_accepted(preset: str) -> None:
    """Fields we never listed (scheduler, clipping, logging, vLLM) reach TRL's config."""
    config = load_config(preset, ["max_grad_norm=0.5", "--lr_scheduler_type", "cosine",
                                  "warmup_steps=3", "push_to_hub=false"])
    assert (config.trl.max_grad_norm, config.trl.warmup_steps) == (0.5, 3)
    expected = {"repic": "grpo"}.get(preset, preset)  # RePIC's recipe is GRPO's
    assert config.trl.lr_scheduler_type == "cosine" and config.algorithm == expected
    if preset != "sft":
        config = load_config(preset, ["log_completions=true", "vllm_gpu_memory_utilization=0.5"])
        assert config.trl.log_completions and config.trl.vllm_gpu_memory_utilization == 0.5


@pytest.mark.parametrize("config", sorted(
    (Path(__file__).parent.parent / "coviP_train" / "accelerate").glob("*.yaml")),
    ids=lambda path: path.stem)
def test_shipped_accelerate_configs_are_read_by_accelerate(config: Path) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    cluster = ClusterConfig.from_yaml_file(str(config))
    assert cluster.distributed_type.value in {"MULTI_GPU", "FSDP", "DEEPSPEED"}
    assert cluster.mixed_precision == "bf16" and cluster.num_processes >= 2


@pytest.mark.slow
def test_sft_from_scratch_gives_a_model_coviP_eval_runs(tmp_path: Path,
                                                        small_dataset: Path) -> None:
    assert train_main(["--config", "sft", "--model", "covip-tiny-init", "--max_steps", "2",
                       "--dataset", str(small_dataset), "--output_dir", str(tmp_path),
                       "use_lora=false", "per_device_train_batch_size=4",
                       "tokenizer_vocab_size=1024", "learning_rate=1e-3",
                       "logging_steps=1"]) == 0
    folder = tmp_path
    saved = json.loads((folder / "covip_train.json").read_text())
    assert saved["config"]["algorithm"] == "sft"
    assert any("loss" in h for h in saved["log_history"])
    results = evaluate(EvalSettings(model="hf", model_args={"pretrained": str(folder)},
                                    tasks=["capeval_qa", "lsd_direct"],
                                    dataset=str(small_dataset), judge="lexical", limit=1,
                                    gen_kwargs={"max_new_tokens": 4}, progress=False)).results
    assert results["counts"]["lsd_direct"]["n_scored"] == 1


@pytest.mark.slow
def test_freeze_vision_trains_the_language_model_alone(tmp_path: Path,
                                                      small_dataset: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from covip_eval.models.tiny_families import tiny_random_path
    from coviP_train.trainer import freeze_vision_tower

    source = tiny_random_path(0)
    assert train_main(["--config", "sft", "--model", str(source), "--max_steps", "2",
                       "--dataset", str(small_dataset), "--output_dir", str(tmp_path),
                       "use_lora=false", "freeze_vision=true",
                       "per_device_train_batch_size=2", "learning_rate=1e-2"]) == 0
    before = load_file(source / "model.safetensors")
    after = load_file(tmp_path / "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and not any(".visual." in k for k in changed)
    assert any("language_model" in k for k in changed)
    with pytest.raises(ConfigError, match="no vision tower"):
        freeze_vision_tower(torch.nn.Linear(2, 2))


def test_the_dialogues_warm_up_trains_alone_and_names_what_exists() -> None:
    with pytest.raises(ConfigError, match="trains alone"):
        load_config("sft", ["sft_configs=dialogues,capeval_qa"])
    with pytest.raises(ConfigError, match="no captions .choose from capeval_qa"):
        load_config("sft", ["sft_configs=captions"])


@pytest.mark.slow
def test_warm_up_on_dialogues_then_sft_on_the_requests(tmp_path: Path,
                                                       small_dataset: Path) -> None:
    """The recipe's first two stages: text-only warm-up from scratch, then the requests, here
    from the warm-up's checkpoint (a run stopped early leaves only those)."""
    from coviP_train.sft import sft_rows

    rows = list(sft_rows(str(small_dataset), ["dialogues"], 2).rows())
    assert rows and all(set(r) == {"text"} and "This is" in r["text"] for r in rows)
    common = ["--dataset", str(small_dataset), "use_lora=false", "logging_steps=1",
              "per_device_train_batch_size=4"]
    assert train_main(["--config", "sft", "--model", "covip-tiny-init", "--max_steps", "2",
                       "--output_dir", str(tmp_path / "warm"), "sft_configs=dialogues",
                       "tokenizer_vocab_size=1024", "save_steps=2", *common]) == 0
    assert train_main(["--config", "sft", "--model", str(tmp_path / "warm" / "checkpoint-2"),
                       "--max_steps", "1",
                       "--output_dir", str(tmp_path / "sft"), *common]) == 0
    results = evaluate(EvalSettings(model="hf", model_args={"pretrained": str(tmp_path / "sft")},
                                    tasks=["lsd_direct"], dataset=str(small_dataset),
                                    judge="lexical", limit=1, gen_kwargs={"max_new_tokens": 4},
                                    progress=False)).results
    assert results["counts"]["lsd_direct"]["n_scored"] == 1


def test_a_non_finite_gradient_stops_training_and_names_the_last_checkpoint(
        tmp_path: Path) -> None:
    from types import SimpleNamespace

    from coviP_train.trainer import TrainingDiverged, _add_callbacks

    callbacks: list = []
    _add_callbacks(SimpleNamespace(add_callback=callbacks.append),
                   load_config("gspo", [f"model={tmp_path}"]))
    (stop,) = callbacks  # not a tiny model: no marker to keep
    (tmp_path / "checkpoint-20").mkdir()
    args, state = SimpleNamespace(output_dir=str(tmp_path)), SimpleNamespace(global_step=23)
    stop.on_log(args, state, None, logs={"loss": 0.1, "grad_norm": 0.3})
    with pytest.raises(TrainingDiverged, match="step 23: grad_norm is nan.*checkpoint-20"):
        stop.on_log(args, state, None, logs={"loss": 0.0, "grad_norm": float("nan")})


def test_covip_tiny_init_needs_sft_first() -> None:
    with pytest.raises(ConfigError, match="algorithm=sft first"):
        load_config("gspo", ["model=covip-tiny-init"])


@pytest.mark.slow
def test_resume_from_checkpoint(tmp_path: Path, small_dataset: Path, capsys) -> None:
    common = ["--config", "grpo", "--dataset", str(small_dataset), "--output_dir",
              str(tmp_path), "concept_counts=1", "per_device_train_batch_size=4",
              "max_completion_length=8", "save_steps=1", "logging_steps=1"]
    assert train_main([*common, "--max_steps", "2"]) == 0
    assert (tmp_path / "checkpoint-2").is_dir()
    capsys.readouterr()
    assert train_main([*common, "--max_steps", "3", "--resume_from_checkpoint", "true"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-2])
    assert summary["steps"] == 3 and (tmp_path / "checkpoint-3").is_dir()
    history = json.loads((tmp_path / "covip_train.json").read_text())["log_history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3]  # the state came back


def test_subcommands_are_real_and_listed(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        train_main(["--help"])
    out = capsys.readouterr().out
    assert "train     train with a preset" in out and "merge     merge a LoRA" in out
    assert train_main(["--config", "gspo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--num_generations" in out and "--reward_positive" in out  # TRL's and ours
    assert train_main(["merge", "--adapter", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "no LoRA adapter there" in capsys.readouterr().err


def test_values_with_equals_signs_and_commas_reach_their_fields() -> None:
    config = load_config("grpo", [
        "--dataset", "builtin:mini?seed=1&capeval_per_count=2",
        "judge_args=base_url=http://localhost:8001/v1,model=judge",
        "--judge", "openai-compatible", "lora_target_modules=q_proj,v_proj",
        "--concept_counts", "1", "2"])
    assert config.dataset == "builtin:mini?seed=1&capeval_per_count=2"
    assert config.judge_options == {"base_url": "http://localhost:8001/v1", "model": "judge"}
    assert config.lora_target_modules == ["q_proj", "v_proj"]
    assert config.concept_counts == [1, 2] and config.judge == "openai-compatible"


@pytest.mark.slow
def test_two_processes_train_and_save_one_model(tmp_path: Path, isolated_cache: Path) -> None:
    """DDP on CPU (gloo): two ranks train together on different prompts (the batch rule counts
    both: 2 prompts a rank make one group of 4), their weights stay identical, and one model is
    saved."""
    import os
    import shutil
    import subprocess

    torchrun = shutil.which("torchrun") or pytest.skip("torchrun is not installed")
    out = tmp_path / "ddp"
    run = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "coviP_train.cli", "--config", "grpo",
         "--max_steps", "2", "--output_dir", str(out), "--dataset",
         "builtin:mini?seed=3&capeval_per_count=2&lsd=1&lar=1&itr=1", "concept_counts=1",
         "per_device_train_batch_size=2", "max_completion_length=8", "logging_steps=1",
         "learning_rate=1e-3"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "COVIP_CACHE_DIR": str(isolated_cache)}, cwd=Path(__file__).parents[1])
    assert run.returncode == 0, run.stderr[-2000:]
    saved = [json.loads(line) for line in run.stdout.splitlines()
             if line.startswith('{"saved"')]
    assert len(saved) == 2  # both ranks ran to the end
    # each rank generated and judged completions of its own, yet both hold the same weights:
    # the gradients were reduced, not two runs side by side
    assert saved[0]["completions_judged"] != saved[1]["completions_judged"]
    assert saved[0]["trained_weights"] == saved[1]["trained_weights"]
    assert (out / "adapter_model.safetensors").is_file() and (out / "checkpoint-2").is_dir()
    history = json.loads((out / "covip_train.json").read_text())["log_history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2]


def test_a_served_judge_gets_a_whole_step_in_flight() -> None:
    from coviP_train.trainer import SERVED_JUDGE_CONCURRENCY, _judge_options

    served = load_config("gspo", ["judge=openai-compatible",
                                  "judge_args=base_url=http://localhost:8001/v1,model=j"])
    assert _judge_options(served)["max_concurrency"] == SERVED_JUDGE_CONCURRENCY
    chosen = load_config("gspo", ["judge=openai-compatible",
                                  "judge_args=base_url=http://x/v1,model=j,max_concurrency=8"])
    assert _judge_options(chosen)["max_concurrency"] == 8
    assert _judge_options(load_config("gspo", [])) == {}  # the offline judge takes none


def _batch_of_sized_images(processor, groups):
    """One prompt per group of (size, colour) images: the images, then a question."""
    from PIL import Image

    images = [[Image.new("RGB", size, colour) for size, colour in group] for group in groups]
    texts = [processor.apply_chat_template([{"role": "user", "content": [
        *[{"type": "image"}] * len(group), {"type": "text", "text": "Who is this?"}]}],
        add_generation_prompt=True) for group in images]
    return processor(text=texts, images=images, return_tensors="pt", padding=True)


THREE_SIZES = [((64, 64), "red"), ((96, 64), "blue"), ((64, 64), "green")]


def test_grouped_vision_attention_equals_the_per_image_loop() -> None:
    import copy

    import torch

    from covip_eval.models.qwen3vl_attention import (
        VISION_ATTENTION_NAME,
        use_grouped_vision_attention,
    )
    from covip_eval.models.tiny_models import COVIP_TINY_TEXT, build_processor, random_qwen3vl
    from covip_eval.models.tiny_models import COVIP_TINY_VISION as VISION

    processor = build_processor(max_pixels=96 * 96)
    torch.manual_seed(0)
    per_image = random_qwen3vl(processor.tokenizer, COVIP_TINY_TEXT | {"vocab_size": 300},
                               VISION, tie=True).train()
    grouped = copy.deepcopy(per_image)
    assert use_grouped_vision_attention(grouped)
    assert grouped.config.vision_config._attn_implementation == VISION_ATTENTION_NAME
    assert grouped.config.text_config._attn_implementation == "sdpa"  # the text keeps its own
    # three sizes of image, two of one size, in two prompts
    batch = _batch_of_sized_images(processor, [THREE_SIZES, [((32, 96), "white")]])
    assert len(set(map(tuple, batch["image_grid_thw"].tolist()))) == 3
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    losses = []
    for model in (per_image, grouped):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for a, b in zip(per_image.parameters(), grouped.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6)


@pytest.mark.parametrize(("family", "grouped"), [("qwen3_vl_moe", True), ("gemma3", False)])
def test_grouped_vision_attention_by_family(family: str, grouped: bool, tmp_path: Path) -> None:
    """Qwen3-VL-MoE's vision tower takes it too, with the same loss; other families are left
    alone."""
    import copy

    from transformers import AutoModelForImageTextToText

    from covip_eval.models.hf import load_processor
    from covip_eval.models.qwen3vl_attention import use_grouped_vision_attention
    from covip_eval.models.tiny_families import save_tiny_random

    folder = save_tiny_random(tmp_path / family, seed=0, servable=False, name=family)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert use_grouped_vision_attention(other := copy.deepcopy(model)) is grouped
    if not grouped:
        return
    batch = _batch_of_sized_images(load_processor(str(folder)), [THREE_SIZES])
    losses = [m(**batch, labels=batch["input_ids"]).loss.item() for m in (model, other)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_no_deprecation_warning_of_ours_and_a_card_naming_the_hub_base() -> None:
    import warnings

    from coviP_train.trainer import model_card

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        default = load_config("gspo", [])
        off = load_config("sft", ["gradient_checkpointing=false"])
    assert default.trl.gradient_checkpointing and not off.trl.gradient_checkpointing
    card = model_card(load_config("gspo", ["--model_name_or_path", "Qwen/Qwen3-VL-8B-Instruct",
                                           "reward_negative_scale=per_question"]))
    assert "base_model: Qwen/Qwen3-VL-8B-Instruct" in card and "GSPO" in card
    assert "`per_question` scale" in card and "library_name: peft" in card


def test_trls_names_for_the_model_and_lora() -> None:
    config = load_config("gspo", ["--model_name_or_path", "some/model", "use_peft=false"])
    assert (config.model, config.use_lora) == ("some/model", False)
    assert load_config("gspo", []).use_lora and load_config("gspo", []).model == "tiny-random"
