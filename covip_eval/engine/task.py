"""A task, resolved once from its file: the settings, the chain of stages its samples go
through, its scorer (with the judge templates it asks), and its metrics. The evaluator, the
exports and the trainer ask the task; none of them knows a task or a mode by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from benchmark.options import validation_message
from covip_eval.engine.prompts import PromptTemplate
from covip_eval.engine.scoring import Scorer
from covip_eval.engine.stages import Chain, Stage, required_prompts
from covip_eval.engine.taskconfig import GenerationConfig, TaskConfig
from covip_eval.errors import ConfigError
from covip_eval.judges.base import JudgeTemplate
from covip_eval.metrics import Metric, metric
from covip_eval.requests import GenParams

# lm-eval's names for generation settings, as users type them in --gen_kwargs
LMEVAL_GEN_NAMES = {"max_gen_toks": "max_new_tokens"}


@dataclass(frozen=True)
class Task:
    config: TaskConfig
    chain: Chain
    scorer: Scorer
    metrics: tuple[Metric, ...]

    @classmethod
    def resolve(cls, config: TaskConfig, chain: Chain, scorer: Scorer) -> Task:
        """The task, once its file is known to give every prompt the chain renders and its
        scorer every part of its metrics."""
        missing = [p for p in required_prompts(chain) if p not in config.prompts]
        if missing:
            raise ConfigError(f"{config.source}: key 'prompts': missing {', '.join(missing)} "
                              f"(needed by mode {config.mode!r})")
        metrics = tuple(metric(name) for name in config.metrics)
        unknown = [m.name for m in metrics if any(p not in scorer.metrics for p in m.parts)]
        if unknown:
            raise ConfigError(f"{config.source}: key 'metrics': {', '.join(unknown)} not "
                              f"produced by scorer {config.scorer!r} (it gives "
                              f"{', '.join(scorer.metrics)})")
        return cls(config, chain, scorer, metrics)

    @property
    def name(self) -> str:
        return self.config.task

    @property
    def judge_templates(self) -> tuple[JudgeTemplate, ...]:
        return self.scorer.judge_templates

    @property
    def per_count(self) -> bool:
        """Whether its metrics have a row per number of concepts too."""
        return any(m.per_count for m in self.metrics)

    @property
    def reply(self) -> Stage:
        """The stage whose output is scored."""
        return self.chain[-1]

    def prompt_templates(self) -> dict[str, PromptTemplate]:
        return self.config.prompt_templates()

    def generation(self, stage: Stage) -> GenerationConfig:
        """The generation settings the task file gives a stage."""
        settings: GenerationConfig = getattr(self.config, stage.settings)
        return settings

    def params(self, overrides: dict[str, Any], seed: int) -> tuple[GenParams, ...]:
        """Each stage's generation parameters, with `--gen_kwargs` applied."""
        return tuple(_params(self.generation(stage), overrides, seed) for stage in self.chain)


def _our_names(overrides: dict[str, Any]) -> dict[str, Any]:
    """--gen_kwargs in our names; lm-eval's `max_gen_toks` and `do_sample` are understood."""
    out = {LMEVAL_GEN_NAMES.get(k, k): v for k, v in overrides.items() if k != "do_sample"}
    if overrides.get("do_sample") is False:
        out["temperature"] = 0.0  # greedy
    if "until" in out:
        raise ConfigError("--gen_kwargs: until (stop strings) is not supported: every task "
                          "generates to the end of the model's turn or max_new_tokens")
    return out


def _params(gen: GenerationConfig, overrides: dict[str, Any], seed: int) -> GenParams:
    try:
        merged = GenerationConfig(**{**gen.model_dump(), **_our_names(overrides)})
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, "--gen_kwargs")) from None
    return merged.params(seed)
