"""The training configuration: documented fields, presets in YAML, cross-field checks."""

from __future__ import annotations

import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from benchmark.options import parse_options
from covip_eval.errors import ConfigError

PRESETS_DIR = Path(__file__).parent / "presets"
ALGORITHMS = ("grpo", "dr_grpo", "gspo", "sft")
COVIP_TINY_INIT = "covip-tiny-init"


@dataclass
class TrainConfig:
    """Every field can be set in a preset file and overridden on the command line (key=value)."""

    algorithm: str = field(default="gspo", metadata={"help": "grpo, dr_grpo, gspo or sft"})
    model: str = field(default="tiny-random", metadata={
        "help": "tiny-random, a local folder or a Hub id of an image-text-to-text model; "
                f"{COVIP_TINY_INIT}: covip-tiny's architecture, fresh, with a BPE tokenizer "
                "trained on the training texts (SFT only)"})
    dataset: str = field(default="builtin:mini", metadata={"help": "dataset spec (coviP-eval's)"})
    limit: int | None = field(default=None, metadata={"help": "use the first N samples"})
    concept_counts: list[int] = field(default_factory=list, metadata={
        "help": "train only on samples with these numbers of concepts (empty: all)"})
    judge: str = field(default="lexical", metadata={"help": "any coviP-eval judge or model"})
    judge_args: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "judge arguments, e.g. base_url and model of an OpenAI-compatible server"})
    judge_cache: str | None = field(default=None, metadata={
        "help": "SQLite cache for judge calls (default: none)"})
    output_dir: str = field(default="runs/covip-train", metadata={"help": "checkpoints go here"})
    seed: int = 0
    # LoRA
    use_lora: bool = field(default=True, metadata={"help": "false: full fine-tuning"})
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    # optimisation
    learning_rate: float = 5e-6
    num_train_epochs: float = 2.0
    max_steps: int = field(default=-1, metadata={"help": "overrides epochs when > 0"})
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    bf16: bool = False
    gradient_checkpointing: bool = False
    # GRPO family
    num_generations: int = 4
    beta: float = 0.0
    loss_type: str = "grpo"
    importance_sampling_level: str = "token"
    epsilon: float = 0.2
    epsilon_high: float | None = None
    scale_rewards: str = "group"
    steps_per_generation: int | None = None
    num_iterations: int = 1
    temperature: float = 1.0
    max_completion_length: int = field(default=511, metadata={
        "help": "caption length cap in tokens; reaching it costs the length penalty"})
    # prompts: TRL never truncates them, so images are capped here
    max_pixels: int = field(default=256 * 28 * 28, metadata={"help": "pixel cap per image"})
    max_images: int = field(default=16, metadata={"help": "skip samples with more images"})
    # reward shape (the paper's: +1/3 per correct positive question, -1/N per leaked negative)
    reward_positive: float = field(default=1 / 3, metadata={"help": "per correct positive Q"})
    reward_negative: float = field(default=1.0, metadata={
        "help": "total penalty if every negative question leaks (each costs this / N)"})
    reward_degenerate: float = field(default=1.0, metadata={
        "help": "penalty for a caption that repeats itself or runs past the length cap"})
    max_reward_failure_rate: float = field(default=0.5, metadata={
        "help": "a step fails when the judge fails on more than this share of its captions"})
    repetition_threshold: float = field(default=0.5, metadata={
        "help": "a caption whose distinct 4-gram share is below this repeats itself"})
    # generation backends
    use_vllm: bool = False
    vllm_mode: str = field(default="colocate", metadata={"help": "colocate or server"})
    vllm_server_base_url: str | None = None
    # SFT
    sft_configs: list[str] = field(default_factory=lambda: ["capeval_qa", "lsd", "lar", "itr"],
                                   metadata={"help": "dataset configs whose requests SFT learns"})
    tokenizer_vocab_size: int = field(default=4096, metadata={
        "help": f"BPE vocabulary size for {COVIP_TINY_INIT}"})
    lr_scheduler_type: str = "linear"
    warmup_steps: float = field(default=0, metadata={
        "help": "warmup steps, or a fraction of all steps when below 1"})
    weight_decay: float = 0.0
    dataloader_num_workers: int = 0
    logging_steps: int = 1
    save_steps: int = 500
    report_to: str = "none"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm={self.algorithm!r}: choose one of "
                              f"{', '.join(ALGORITHMS)}")
        if self.model == COVIP_TINY_INIT and self.algorithm != "sft":
            raise ConfigError(f"model={COVIP_TINY_INIT} starts from fresh weights: train it with "
                              "algorithm=sft first, then point model at the SFT output")
        if self.algorithm == "sft":
            return  # the checks below are about GRPO-family settings
        if self.epsilon_high is not None and self.epsilon_high < self.epsilon:
            raise ConfigError(f"epsilon_high={self.epsilon_high} is below epsilon={self.epsilon}:"
                              " the upper clip must be at least the lower one")
        # TRL's rule: the generation batch (per device x processes x steps per generation)
        # holds whole groups of num_generations
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        steps = self.steps_per_generation or self.gradient_accumulation_steps
        batch = self.per_device_train_batch_size * processes * steps
        if batch % self.num_generations:
            raise ConfigError(
                f"per_device_train_batch_size={self.per_device_train_batch_size} x {processes} "
                f"process(es) x steps_per_generation={steps} = {batch} is not a multiple of "
                f"num_generations={self.num_generations}: every prompt's generations must land "
                "in one generation batch; change one of them")
        if self.num_generations < 2:
            raise ConfigError(f"num_generations={self.num_generations}: group-relative "
                              "advantages need at least 2 generations per prompt")
        if self.algorithm == "gspo":
            self._check_gspo()
        if self.use_lora and (self.lora_r <= 0 or self.lora_alpha <= 0):
            raise ConfigError(f"lora_r={self.lora_r}, lora_alpha={self.lora_alpha}: both must be "
                              "positive with use_lora=true (or set use_lora=false)")
        if self.vllm_mode not in ("colocate", "server"):
            raise ConfigError(f"vllm_mode={self.vllm_mode!r}: colocate or server")

    def _check_gspo(self) -> None:
        if self.importance_sampling_level != "sequence":
            raise ConfigError(f"algorithm=gspo with importance_sampling_level="
                              f"{self.importance_sampling_level!r}: GSPO is sequence-level; set "
                              "importance_sampling_level=sequence")
        off_policy = (self.num_iterations > 1 or (self.steps_per_generation or 0)
                      > self.gradient_accumulation_steps)
        if not off_policy:
            raise ConfigError(
                f"algorithm=gspo with num_iterations={self.num_iterations} and "
                f"steps_per_generation={self.steps_per_generation} (gradient_accumulation_steps="
                f"{self.gradient_accumulation_steps}) is fully on-policy, where GSPO equals GRPO:"
                " set num_iterations=2 or steps_per_generation above gradient_accumulation_steps")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(name: str, value: str, current: Any) -> Any:
    if isinstance(current, bool):
        if value.lower() not in ("true", "false"):
            raise ConfigError(f"{name}={value!r}: expected true or false")
        return value.lower() == "true"
    if isinstance(current, list):
        items = [v for v in value.split(",") if v]
        return [int(v) for v in items] if name == "concept_counts" else items
    if isinstance(current, dict):
        return parse_options(value, name)
    if value.lower() in ("none", "null"):
        return None
    for kind in (int, float):
        if isinstance(current, kind):
            try:
                return kind(value) if kind is float else int(value)
            except ValueError:
                raise ConfigError(f"{name}={value!r}: expected a {kind.__name__}") from None
    return yaml.safe_load(value)


def load_config(preset_or_file: str, overrides: list[str]) -> TrainConfig:
    """A preset name (grpo, dr_grpo, gspo) or a YAML file, then key=value overrides."""
    path = Path(preset_or_file)
    if not path.is_file():
        path = PRESETS_DIR / f"{preset_or_file}.yaml"
    if not path.is_file():
        presets = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise ConfigError(f"--config {preset_or_file!r}: no such file or preset ({presets})")
    values = yaml.safe_load(path.read_text()) or {}
    known = {f.name: f for f in fields(TrainConfig)}
    unknown = [k for k in values if k not in known]
    if unknown:
        raise ConfigError(f"{path}: unknown keys {', '.join(unknown)}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ConfigError(f"override {item!r}: expected key=value with a key of TrainConfig")
        values[key] = _coerce(key, value, values.get(key, _default(known[key])))
    return TrainConfig(**values)


def _default(spec: Any) -> Any:
    return spec.default_factory() if spec.default is MISSING else spec.default
