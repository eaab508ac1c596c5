"""Training: the model, the data, the reward and TRL's GRPOTrainer put together."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import shutil
from pathlib import Path
from typing import Any

from covip_eval.engine.cache import RequestCache
from covip_eval.errors import ConfigError, CovipError, MissingDependencyError
from covip_eval.models.qwen3vl_attention import use_grouped_vision_attention
from covip_eval.models.tiny_models import write_auto_processor
from covip_eval.registry import make_judge
from coviP_train.config import COVIP_TINY_INIT, TrainConfig
from coviP_train.data import build_prompts
from coviP_train.repic import RepicRewards, box_format, build_repic_prompts
from coviP_train.reward import CaptionReward, RewardWeights
from coviP_train.sft import sft_rows

COVIP_TINY_MARKER = {"model": "covip-tiny"}
TOKENIZER_CORPUS_TEXTS = 20_000


def _require_trl() -> Any:
    try:
        import peft  # noqa: F401
        import trl
    except ImportError as exc:
        raise MissingDependencyError("coviP-train", exc.name or "trl", "train") from None
    return trl


def load_model_and_processor(config: TrainConfig) -> tuple[Any, Any]:
    from transformers import AutoModelForImageTextToText

    from covip_eval.models.hf import load_processor
    from covip_eval.models.tiny_families import tiny_random_path

    source = str(tiny_random_path(config.seed)) if config.model == "tiny-random" else config.model
    processor = load_processor(source)
    # full fine-tuning keeps float32 master weights (bf16 is then autocast); a LoRA base can
    # stay in bfloat16
    dtype = "bfloat16" if config.bf16 and config.use_lora else "float32"
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
    return model, processor


VISION_TOWERS = ("visual", "vision_tower", "vision_model")  # Qwen-VL, LLaVA-likes, Idefics


def freeze_vision_tower(model: Any) -> None:
    """The vision tower's parameters stop training; ConfigError for a model without one."""
    inner = getattr(model, "model", model)
    tower = next((getattr(inner, name) for name in VISION_TOWERS if hasattr(inner, name)), None)
    if tower is None:
        raise ConfigError(f"freeze_vision: {type(model).__name__} has no vision tower under "
                          f"the names {', '.join(VISION_TOWERS)}")
    tower.requires_grad_(False)


def _lora(config: TrainConfig) -> Any:
    from peft import LoraConfig

    if not config.use_lora:
        return None
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout,
                      target_modules=config.lora_target_modules, task_type="CAUSAL_LM")


def _trl_arguments(config: TrainConfig) -> Any:
    """TRL's config as parsed; our datasets keep columns the model does not take (images,
    sample ids), so unused columns are never dropped."""
    config.trl.remove_unused_columns = False
    return config.trl


def _prepare(model: Any, config: TrainConfig) -> None:
    if config.group_vision_attention:
        use_grouped_vision_attention(model)
    if config.freeze_vision:
        freeze_vision_tower(model)


def build_sft_trainer(config: TrainConfig) -> Any:
    """TRL's SFTTrainer on the evaluation's requests with their targets (see sft.py)."""
    trl = _require_trl()
    data = sft_rows(config.dataset, config.sft_configs, config.limit, config.concept_counts)
    if config.model == COVIP_TINY_INIT:
        from covip_eval.models.tiny_models import (
            COVIP_TINY_MAX_PIXELS,
            build_covip_tiny,
            build_processor,
            train_bpe_tokenizer,
        )

        # the mini vocabulary is small: a few thousand rows' texts hold all of it
        corpus = list(itertools.islice(data.texts(), TOKENIZER_CORPUS_TEXTS))
        processor = build_processor(COVIP_TINY_MAX_PIXELS, train_bpe_tokenizer(
            corpus, config.tokenizer_vocab_size))
        model = build_covip_tiny(processor.tokenizer, config.seed)
    else:
        model, processor = load_model_and_processor(config)
    _prepare(model, config)
    trainer = trl.SFTTrainer(model=model, args=_trl_arguments(config),
                             train_dataset=data.as_dataset(),
                             processing_class=processor, peft_config=_lora(config))
    _add_callbacks(trainer, config)
    return trainer


def build_trainer(config: TrainConfig, model: Any = None, processor: Any = None
                  ) -> tuple[Any, CaptionReward | RepicRewards, dict[str, str]]:
    """The GRPOTrainer, its reward and the samples left out. A loaded model and processor may
    be passed in (benchmarks do); otherwise `config.model` is loaded."""
    trl = _require_trl()

    if model is None or processor is None:
        model, processor = load_model_and_processor(config)
    _prepare(model, config)
    reward: CaptionReward | RepicRewards
    if config.reward == "repic":
        reward = RepicRewards(box_format(config.box_format, model.config.model_type),
                              config.repic_parse_failure_reward)
        prompts = build_repic_prompts(config.dataset, config.limit, config.max_images,
                                      config.max_pixels, reward.fmt, config.seed,
                                      config.concept_counts)
    else:
        prompts = build_prompts(config.dataset, config.limit, config.max_images,
                                config.max_pixels, config.concept_counts)
        cache = RequestCache(Path(config.judge_cache) if config.judge_cache else None)
        judge = make_judge(config.judge, _judge_options(config), cache, progress=False)
        reward = CaptionReward(judge, RewardWeights(config.reward_positive,
                                                    config.reward_negative,
                                                    config.reward_degenerate,
                                                    config.repetition_threshold,
                                                    config.reward_negative_scale),
                               config.max_completion_length, prompts.samples,
                               config.max_reward_failure_rate)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=reward.reward_functions(),
                              args=_trl_arguments(config),
                              train_dataset=prompts.as_dataset(),
                              processing_class=processor, peft_config=_lora(config))
    _add_callbacks(trainer, config)
    return trainer, reward, prompts.skipped


SERVED_JUDGE_CONCURRENCY = 512


def _judge_options(config: TrainConfig) -> dict[str, Any]:
    """A judge served beside the trainer gets every question of a step in flight at once (a
    step's captions times their questions runs to hundreds), so that the reward costs about
    one judge latency per step; an explicit max_concurrency wins."""
    options = dict(config.judge_options)
    if config.judge == "openai-compatible":
        options.setdefault("max_concurrency", SERVED_JUDGE_CONCURRENCY)
    return options


def _tiny_marker(config: TrainConfig) -> str | None:
    """The marker file's text that makes a folder load as one of the project's tiny models
    (their processors are image-only), or None for any other model."""
    from covip_eval.models.tiny_families import MARKER, tiny_random_path

    if config.model == "tiny-random":
        return (tiny_random_path(config.seed) / MARKER).read_text()
    if config.model == COVIP_TINY_INIT:
        return json.dumps(COVIP_TINY_MARKER)
    if (Path(config.model) / MARKER).exists():  # a tiny model trained further
        return (Path(config.model) / MARKER).read_text()
    return None


def _write_tiny_marker(folder: Path, marker: str | None) -> None:
    from covip_eval.models.tiny_families import MARKER

    if marker is not None:
        (folder / MARKER).write_text(marker)


class TrainingDiverged(CovipError):
    pass


def _add_callbacks(trainer: Any, config: TrainConfig) -> None:
    """Each `checkpoint-N` folder of a tiny model loads as a model on its own (a stopped run
    leaves only those); a logged loss or gradient norm that is not finite stops training
    before it writes a final model whose weights are NaN."""
    from transformers import TrainerCallback

    marker = _tiny_marker(config)

    class TinyMarker(TrainerCallback):  # type: ignore[misc]
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                _write_tiny_marker(folder, marker)

    class StopOnNonFinite(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            for key in ("loss", "grad_norm"):
                value = (logs or {}).get(key)
                if isinstance(value, (int, float)) and not math.isfinite(value):
                    saved = sorted(Path(args.output_dir).glob("checkpoint-*"),
                                   key=lambda p: int(p.name.rsplit("-", 1)[1]))
                    raise TrainingDiverged(
                        f"step {state.global_step}: {key} is {value}, the weights are no longer "
                        "finite; stopped without saving a final model (last checkpoint: "
                        f"{saved[-1] if saved else 'none'}). Lower learning_rate, or train in "
                        "float32 (bf16=false)")

    trainer.add_callback(StopOnNonFinite())
    if marker is not None:
        trainer.add_callback(TinyMarker())


def save(trainer: Any, config: TrainConfig, skipped: dict[str, str],
         reward: CaptionReward | RepicRewards | None = None) -> Path:
    """Save the model (or the LoRA adapter) with its processor and the training config in
    `output_dir` itself, as TRL's scripts do (checkpoints stay in its `checkpoint-N`
    folders), so that `--model hf --model_args pretrained=OUTPUT_DIR` loads it. Only the main
    process writes."""
    out = Path(config.output_dir)
    trainer.save_model(str(out))  # TRL saves on the main process only
    if not trainer.is_world_process_zero():
        return out
    trainer.processing_class.save_pretrained(str(out))
    write_auto_processor(out, trainer.processing_class)
    (out / "README.md").write_text(model_card(config))  # in place of TRL's generic card
    _write_tiny_marker(out, _tiny_marker(config))
    (out / "covip_train.json").write_text(json.dumps(
        {"config": config.as_dict(), "skipped_samples": skipped,
         "log_history": trainer.state.log_history,
         "reward_judge_failures_per_step": reward.step_failures if reward else None},
        indent=1, default=str))
    return out


ALGORITHM_NAMES = {"gspo": "GSPO (Zheng et al., 2025)", "grpo": "GRPO (Shao et al., 2024)",
                   "dr_grpo": "Dr. GRPO (Liu et al., 2025)", "sft": "supervised fine-tuning"}


def model_card(config: TrainConfig) -> str:
    """The model card: the base model as the Hub names it (a local or built-in model is
    said to be one), the algorithm that actually ran, the data and the reward."""
    local = config.model in ("tiny-random", COVIP_TINY_INIT) or Path(config.model).exists()
    front = ["---", "library_name: " + ("peft" if config.use_lora else "transformers"),
             "tags: [covip-eval, trl, " + config.algorithm.replace("_", "-") + "]"]
    if not local:
        front.append(f"base_model: {config.model}")
    base = (f"`{config.model}` (a local or built-in model, not on the Hub)" if local
            else f"[{config.model}](https://huggingface.co/{config.model})")
    reward = "" if config.algorithm == "sft" else f" The reward: `{config.reward}`"
    if reward and config.reward == "covip":
        reward += (f" (judge `{config.judge}`; positive {config.reward_positive:.4g}, negative "
                   f"{config.reward_negative:.4g} on the `{config.reward_negative_scale}` "
                   f"scale, degenerate {config.reward_degenerate:.4g})")
    reward += "." if reward else ""
    return "\n".join([*front, "---", "", f"# {Path(config.output_dir).name}", "",
                      f"Trained from {base} with {ALGORITHM_NAMES[config.algorithm]} by "
                      f"`coviP-train` on `{config.dataset}`{' (LoRA)' if config.use_lora else ''}"
                      f".{reward} The whole configuration and the training log are in "
                      "`covip_train.json`. Evaluate it with `coviP-eval --model hf "
                      "--model_args pretrained=<this folder>`.", ""])


def trained_weights_digest(model: Any) -> str:
    """SHA-256 of the trainable weights as this process holds them: every process of one
    distributed run holds the same after each step (their gradients are reduced)."""
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        if param.requires_grad:
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def merge_lora(adapter_dir: Path, out: Path) -> Path:
    """Merge a LoRA adapter into its base model; the result loads with `--model hf`."""
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ConfigError(f"--adapter {adapter_dir}: no LoRA adapter there (no "
                          "adapter_config.json; a full fine-tune needs no merging)")
    _require_trl()
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForImageTextToText

    base_path = PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path
    base = AutoModelForImageTextToText.from_pretrained(base_path, dtype="auto")  # its dtype
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(str(out))
    for name in adapter_dir.iterdir():  # processor files and the tiny marker go along
        if name.is_file() and not name.name.startswith("adapter_") \
                and name.name != "training_args.bin":
            shutil.copy2(name, out / name.name)
    return out
