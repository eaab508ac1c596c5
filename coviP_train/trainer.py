"""Training: the model, the data, the reward and TRL's GRPOTrainer put together."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from covip_eval.cache import RequestCache
from covip_eval.errors import MissingDependencyError
from covip_eval.registry import make_judge
from coviP_train.config import TrainConfig
from coviP_train.data import build_prompts
from coviP_train.reward import CaptionReward, RewardWeights


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
    from covip_eval.tiny_models import tiny_random_path

    source = str(tiny_random_path(config.seed)) if config.model == "tiny-random" else config.model
    processor = load_processor(source)
    dtype = "bfloat16" if config.bf16 else "float32"
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
    return model, processor


def grpo_arguments(config: TrainConfig) -> Any:
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=config.output_dir, seed=config.seed, learning_rate=config.learning_rate,
        num_train_epochs=config.num_train_epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        bf16=config.bf16, gradient_checkpointing=config.gradient_checkpointing,
        num_generations=config.num_generations, beta=config.beta, loss_type=config.loss_type,
        importance_sampling_level=config.importance_sampling_level, epsilon=config.epsilon,
        epsilon_high=config.epsilon_high, scale_rewards=config.scale_rewards,
        steps_per_generation=config.steps_per_generation, num_iterations=config.num_iterations,
        temperature=config.temperature, max_completion_length=config.max_completion_length,
        use_vllm=config.use_vllm, vllm_mode=config.vllm_mode,
        **({"vllm_server_base_url": config.vllm_server_base_url}
           if config.vllm_server_base_url else {}),
        logging_steps=config.logging_steps, save_steps=config.save_steps,
        report_to=config.report_to, remove_unused_columns=False,
    )


def build_trainer(config: TrainConfig, model: Any = None, processor: Any = None
                  ) -> tuple[Any, CaptionReward, dict[str, str]]:
    """The GRPOTrainer, its reward and the samples left out. A loaded model and processor may
    be passed in (benchmarks do); otherwise `config.model` is loaded."""
    trl = _require_trl()
    from datasets import Dataset
    from peft import LoraConfig

    if model is None or processor is None:
        model, processor = load_model_and_processor(config)
    prompts = build_prompts(config.dataset, config.limit, config.max_images, config.max_pixels,
                            config.concept_counts)
    cache = RequestCache(Path(config.judge_cache) if config.judge_cache else None)
    judge = make_judge(config.judge, dict(config.judge_args), cache, progress=False)
    reward = CaptionReward(judge, RewardWeights(config.reward_positive, config.reward_negative,
                                                config.reward_degenerate,
                                                config.repetition_threshold),
                           config.max_completion_length, prompts.samples)
    peft_config = None
    if config.use_lora:
        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=config.lora_dropout,
                                 target_modules=config.lora_target_modules, task_type="CAUSAL_LM")
    trainer = trl.GRPOTrainer(model=model, reward_funcs=reward.reward_functions(),
                              args=grpo_arguments(config),
                              train_dataset=Dataset.from_list(prompts.rows),
                              processing_class=processor, peft_config=peft_config)
    return trainer, reward, prompts.skipped


def save(trainer: Any, config: TrainConfig, skipped: dict[str, str]) -> Path:
    """Save the model (or the LoRA adapter) with its processor and the training config."""
    out = Path(config.output_dir) / "final"
    trainer.save_model(str(out))
    trainer.processing_class.save_pretrained(str(out))
    if config.model == "tiny-random":
        from covip_eval.tiny_models import MARKER, tiny_random_path

        shutil.copy2(tiny_random_path(config.seed) / MARKER, out / MARKER)
    (out / "covip_train.json").write_text(json.dumps(
        {"config": config.as_dict(), "skipped_samples": skipped,
         "log_history": trainer.state.log_history}, indent=1, default=str))
    return out


def merge_lora(adapter_dir: Path, out: Path) -> Path:
    """Merge a LoRA adapter into its base model; the result loads with `--model hf`."""
    _require_trl()
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForImageTextToText

    base_path = PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path
    base = AutoModelForImageTextToText.from_pretrained(base_path)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(str(out))
    for name in adapter_dir.iterdir():  # processor files and the tiny marker go along
        if name.is_file() and not name.name.startswith("adapter_"):
            shutil.copy2(name, out / name.name)
    return out
