"""The training configuration, parsed by TRL's own parser.

`TrlParser` reads two dataclasses together: `CovipArguments` (what TRL does not have: the model
to load, the data, the judge, LoRA, the reward's shape) and TRL's `GRPOConfig` (or `SFTConfig`
for `algorithm: sft`), so that every TRL field is accepted and validated by TRL, its own rules
included (the generation batch must hold whole groups of `num_generations`). Presets are YAML
files read as TRL reads `--config`; the command line overrides them, as `--key value` or
`key=value`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.options import parse_options
from covip_eval.errors import ConfigError, MissingDependencyError
from coviP_train.reward import NEGATIVE_SCALES

PRESETS_DIR = Path(__file__).parent / "presets"
ALGORITHMS = ("grpo", "dr_grpo", "gspo", "sft")
REWARDS = ("covip", "repic")
COVIP_TINY_INIT = "covip-tiny-init"
# SFT: dataset config -> the task whose request is the prompt
SFT_TASKS = {"capeval_qa": "capeval_qa", "lsd": "lsd_direct", "lar": "lar_direct",
             "itr": "itr_direct"}
SFT_WARMUP = "dialogues"  # the CapEval-QA concepts' dialogues as plain text
# Where our defaults differ from TRL's, and why.
DEFAULTS_OVER_TRL = {
    "output_dir": "runs/covip-train",
    "bf16": False,  # TRL turns it on, which a CPU refuses; GPU recipes set bf16=true
}


@dataclass
class CovipArguments:
    """The fields TRL does not have. Every one can be set in a preset file or overridden."""

    algorithm: str = field(default="gspo", metadata={"help": "grpo, dr_grpo, gspo or sft"})
    model: str = field(default="tiny-random", metadata={
        "help": "tiny-random, a local folder or a Hub id of an image-text-to-text model; "
                f"{COVIP_TINY_INIT}: covip-tiny's architecture, fresh, with a BPE tokenizer "
                "trained on the training texts (SFT only)"})
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "TRL's name for `model` (given, it wins)"})
    dataset: str = field(default="builtin:mini", metadata={"help": "dataset spec (coviP-eval's)"})
    limit: int | None = field(default=None, metadata={"help": "use the first N samples"})
    concept_counts: list[int] = field(default_factory=list, metadata={
        "help": "train only on samples with these numbers of concepts (empty: all)"})
    judge: str = field(default="lexical", metadata={"help": "any coviP-eval judge or model"})
    judge_args: str = field(default="", metadata={
        "help": "k=v,... for the judge, e.g. base_url and model of an OpenAI-compatible server"})
    judge_cache: str | None = field(default=None, metadata={
        "help": "SQLite cache for judge calls (default: none)"})
    # LoRA
    use_lora: bool = field(default=True, metadata={"help": "false: full fine-tuning"})
    use_peft: bool | None = field(default=None, metadata={
        "help": "TRL's name for `use_lora` (given, it wins)"})
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    # prompts: TRL never truncates them, so images are capped here
    max_pixels: int = field(default=256 * 28 * 28, metadata={"help": "pixel cap per image"})
    max_images: int = field(default=16, metadata={"help": "skip samples with more images"})
    reward: str = field(default="covip", metadata={
        "help": "covip: the caption reward judged by CapEval-QA's questions; repic: RePIC's "
                "object, localization and identity rewards (weighted by TRL's reward_weights)"})
    box_format: str = field(default="auto", metadata={
        "help": "repic: how the policy writes boxes, absolute (pixels) or relative_1000; auto: "
                "its family's convention"})
    repic_parse_failure_reward: float = field(default=-1.0, metadata={
        "help": "repic: the reward of a reply whose yes/no or box cannot be read"})
    # reward shape (the paper's: +1/3 per correct positive question, -1/N per leaked negative)
    reward_positive: float = field(default=1 / 3, metadata={"help": "per correct positive Q"})
    reward_negative: float = field(default=1.0, metadata={
        "help": "total: the penalty if every negative question leaks (each costs this / N); "
                "per_question: what each leaked question costs"})
    reward_negative_scale: str = field(default="total", metadata={
        "help": "total (the paper's): reward_negative is shared by a sample's N negative "
                "questions, so a leak costs less the more concepts are absent; per_question: "
                "each leak costs reward_negative, so guessing a name does not pay"})
    reward_degenerate: float = field(default=1.0, metadata={
        "help": "penalty for a caption that repeats itself or runs past the length cap"})
    max_reward_failure_rate: float = field(default=0.5, metadata={
        "help": "a step fails when the judge fails on more than this share of its captions"})
    repetition_threshold: float = field(default=0.5, metadata={
        "help": "a caption whose distinct 4-gram share is below this repeats itself"})
    freeze_vision: bool = field(default=False, metadata={
        "help": "full fine-tuning: keep the vision tower's weights as loaded (one trained on "
                "its own task, covip-tiny's vision stage)"})
    group_vision_attention: bool = field(default=True, metadata={
        "help": "Qwen3-VL: attend to all images of one size in one call (same result as "
                "transformers' per-image loop, fewer kernel launches)"})
    # SFT
    sft_configs: list[str] = field(default_factory=lambda: list(SFT_TASKS),
                                   metadata={"help": "dataset configs whose requests SFT learns;"
                                             " `dialogues` alone: the text warm-up"})
    tokenizer_vocab_size: int = field(default=4096, metadata={
        "help": f"BPE vocabulary size for {COVIP_TINY_INIT}"})


@dataclass(frozen=True)
class TrainConfig:
    """Our arguments and TRL's, read as one: `config.lora_r` and `config.learning_rate` both
    work; `config.trl` is the GRPOConfig or SFTConfig handed to the trainer as it is."""

    covip: CovipArguments
    trl: Any

    def __getattr__(self, name: str) -> Any:
        covip = self.__dict__["covip"]
        if hasattr(covip, name):
            return getattr(covip, name)
        return getattr(self.__dict__["trl"], name)

    @property
    def judge_options(self) -> dict[str, Any]:
        return parse_options(self.covip.judge_args, "judge_args")

    def as_dict(self) -> dict[str, Any]:
        return {**self.trl.to_dict(), **dataclasses.asdict(self.covip)}


def check(config: TrainConfig) -> None:
    """Our cross-field rules (TRL checks its own when the config is built)."""
    c = config
    if c.algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm={c.algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    if c.reward not in REWARDS:
        raise ConfigError(f"reward={c.reward!r}: choose one of {', '.join(REWARDS)}")
    if c.reward_negative_scale not in NEGATIVE_SCALES:
        raise ConfigError(f"reward_negative_scale={c.reward_negative_scale!r}: choose one of "
                          f"{', '.join(NEGATIVE_SCALES)}")
    if c.model == COVIP_TINY_INIT and c.algorithm != "sft":
        raise ConfigError(f"model={COVIP_TINY_INIT} starts from fresh weights: train it with "
                          "algorithm=sft first, then point model at the SFT output")
    if c.use_lora and (c.lora_r <= 0 or c.lora_alpha <= 0):
        raise ConfigError(f"lora_r={c.lora_r}, lora_alpha={c.lora_alpha}: both must be "
                          "positive with use_lora=true (or set use_lora=false)")
    if c.algorithm == "sft":
        unknown = sorted(set(c.sft_configs) - {*SFT_TASKS, SFT_WARMUP})
        if unknown:
            raise ConfigError(f"sft_configs: no {', '.join(unknown)} (choose from "
                              f"{', '.join(SFT_TASKS)}, or {SFT_WARMUP} alone)")
        if SFT_WARMUP in c.sft_configs and len(c.sft_configs) > 1:
            raise ConfigError(f"sft_configs={','.join(c.sft_configs)}: the {SFT_WARMUP} "
                              f"warm-up is text only and trains alone (sft_configs="
                              f"{SFT_WARMUP}); train the requests in a stage after it")
        return  # the checks below are about GRPO-family settings
    if c.epsilon_high is not None and c.epsilon_high < c.epsilon:
        raise ConfigError(f"epsilon_high={c.epsilon_high} is below epsilon={c.epsilon}: the "
                          "upper clip must be at least the lower one")
    if c.algorithm == "gspo":
        _check_gspo(c)


def _check_gspo(c: TrainConfig) -> None:
    if c.importance_sampling_level != "sequence":
        raise ConfigError(f"algorithm=gspo with importance_sampling_level="
                          f"{c.importance_sampling_level!r}: GSPO is sequence-level; set "
                          "importance_sampling_level=sequence")
    if c.num_iterations == 1 and c.steps_per_generation <= c.gradient_accumulation_steps:
        raise ConfigError(
            f"algorithm=gspo with num_iterations={c.num_iterations} and steps_per_generation="
            f"{c.steps_per_generation} (gradient_accumulation_steps="
            f"{c.gradient_accumulation_steps}) is fully on-policy, where GSPO equals GRPO: set "
            "num_iterations=2 or steps_per_generation above gradient_accumulation_steps")


def preset_path(preset_or_file: str) -> Path:
    path = Path(preset_or_file)
    if not path.is_file():
        path = PRESETS_DIR / f"{preset_or_file}.yaml"
    if not path.is_file():
        presets = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise ConfigError(f"--config {preset_or_file!r}: no such file or preset ({presets})")
    return path


def as_flags(args: list[str], list_keys: set[str]) -> list[str]:
    """`key=value` overrides as the `--key value` flags TRL's parser reads (a comma list
    becomes several values for the fields that take several); `--key value` flags, and the
    value after a flag, pass as they are."""
    flags: list[str] = []
    after_flag = False
    for item in args:
        key, sep, value = item.partition("=")
        if item.startswith("-"):
            flags.append(item)
            after_flag = not sep
        elif after_flag or not sep:
            flags.append(item)
            after_flag = False
        else:
            flags += [f"--{key}", *(value.split(",") if key in list_keys else [value])]
    return flags


def load_config(preset_or_file: str, overrides: list[str]) -> TrainConfig:
    """A preset name (grpo, dr_grpo, gspo, sft) or a YAML file, then overrides (`key=value` or
    `--key value`), all read by TRL's parser."""
    path = preset_path(preset_or_file)
    values = yaml.safe_load(path.read_text()) or {}
    algorithm = _last_value(as_flags(overrides, set()), "algorithm") or \
        values.get("algorithm", "gspo")
    parser = trl_parser(algorithm)
    list_keys = {a.dest for a in parser._actions if a.nargs in ("+", "*")}
    flags = _new_names(as_flags(overrides, list_keys), parser)
    try:
        covip, trl = parser.parse_args_and_config(["--config", str(path), *flags])
    except ValueError as exc:  # TRL's own checks, and keys no dataclass has
        raise ConfigError(str(exc).splitlines()[0]) from None
    config = TrainConfig(_with_trl_names(covip), trl)
    check(config)
    return config


def _with_trl_names(covip: CovipArguments) -> CovipArguments:
    """TRL's `model_name_or_path` and `use_peft`, where given, as our `model` and `use_lora`."""
    if covip.model_name_or_path is not None:
        covip = dataclasses.replace(covip, model=covip.model_name_or_path)
    if covip.use_peft is not None:
        covip = dataclasses.replace(covip, use_lora=covip.use_peft)
    return covip


def _last_value(flags: list[str], key: str) -> str | None:
    found = [flags[i + 1] for i, f in enumerate(flags[:-1]) if f == f"--{key}"]
    return found[-1] if found else None


def trl_parser(algorithm: str) -> Any:
    try:
        from trl import GRPOConfig, SFTConfig, TrlParser
    except ImportError:
        raise MissingDependencyError("coviP-train", "trl", "train") from None

    class Parser(TrlParser):
        def error(self, message: str) -> Any:  # one line, never an exit from a library call
            raise ConfigError(message)

    classes: list[Any] = [CovipArguments, SFTConfig if algorithm == "sft" else GRPOConfig]
    parser = Parser(classes, prog="coviP-train")
    parser.set_defaults(**DEFAULTS_OVER_TRL, **_checkpointing_defaults(parser),
                        **_launch_defaults())
    return parser


def _launch_defaults() -> dict[str, Any]:
    """Several processes on a machine without a GPU (`torchrun` on CPUs): transformers sets up
    its distributed state only when told to use the CPU, with gloo; otherwise every process
    believes it is alone, the batch rule counts one process and the gradients are never
    reduced."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return {"use_cpu": True, "ddp_backend": "gloo"}
    return {}


# transformers 5 renamed gradient_checkpointing* to activation_checkpointing*, and warns when
# the old name carries the value (TRL's configs set it by default)
RENAMED = {"gradient_checkpointing": "activation_checkpointing",
           "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs"}


def _checkpointing_defaults(parser: Any) -> dict[str, Any]:
    """TRL's defaults under the new names, where this transformers has them."""
    dests: dict[str, Any] = {}
    for action in parser._actions:  # the first of a name: `--no_x` comes after `--x`
        dests.setdefault(action.dest, action.default)
    return {key: value for old, new in RENAMED.items() if new in dests
            for key, value in ((new, dests[old]), (old, None))}


def _new_names(flags: list[str], parser: Any) -> list[str]:
    """`--gradient_checkpointing X` as `--activation_checkpointing X` where both exist."""
    dests = {a.dest for a in parser._actions}
    return [f"--{RENAMED[f[2:]]}" if f.startswith("--") and f[2:] in RENAMED
            and RENAMED[f[2:]] in dests else f for f in flags]
