"""Registries: tasks (YAML files), models and judges (lazy, by import path), scorers.

A model backend is one module plus one line in MODELS; it is imported only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from covip_eval.errors import ConfigError, UnknownNameError
from covip_eval.taskconfig import TaskConfig, load_task_file
from tasks import TASKS_DIR

MODELS: dict[str, str] = {
    "blind": "covip_eval.models.baselines:BlindModel",
    "text-only": "covip_eval.models.baselines:TextOnlyModel",
    "oracle": "covip_eval.models.baselines:OracleModel",
    "retrieval": "covip_eval.models.baselines:RetrievalModel",
    "scripted": "covip_eval.models.scripted:ScriptedModel",
    "captions": "covip_eval.models.caption_file:CaptionFileModel",
    "hf": "covip_eval.models.hf:HFModel",
    "tiny-random": "covip_eval.models.tiny_random:TinyRandomModel",
    "openai": "covip_eval.models.openai_chat:OpenAIModel",
    "openai-compatible": "covip_eval.models.openai_chat:OpenAICompatibleModel",
    "anthropic": "covip_eval.models.anthropic_messages:AnthropicModel",
    "gemini": "covip_eval.models.gemini:GeminiModel",
    "vllm": "covip_eval.models.vllm_engine:VLLMModel",
}

JUDGES: dict[str, str] = {
    "lexical": "covip_eval.judges.lexical:LexicalJudge",
}

SCORERS: dict[str, Callable[..., Any]] = {}


def register_scorer(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        SCORERS[name] = fn
        return fn

    return decorate


def import_object(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def model_class(name: str) -> type:
    if name not in MODELS:
        from covip_eval.aliases import aliases

        raise UnknownNameError("model", name, [*MODELS, *aliases()])
    return import_object(MODELS[name])


def judge_class(name: str) -> type:
    if name not in JUDGES:
        raise UnknownNameError("judge", name, [*JUDGES, *MODELS])
    return import_object(JUDGES[name])


class TaskIndex:
    """Every task file found in the built-in folder and in `include_paths`, and their groups."""

    def __init__(self, include_paths: Iterable[Path] = ()):
        self.tasks: dict[str, TaskConfig] = {}
        for folder in (TASKS_DIR, *include_paths):
            if not Path(folder).is_dir():
                raise ConfigError(f"--include_path {folder}: not a folder")
            for path in sorted(Path(folder).glob("*.yaml")):
                if path.name.startswith("_"):
                    continue  # shared fragments, pulled in with `include:`
                config = load_task_file(path)
                self.tasks[config.task] = config

    @property
    def groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for name, config in self.tasks.items():
            for group in config.groups:
                groups.setdefault(group, []).append(name)
        return groups

    def resolve(self, names: Iterable[str]) -> list[TaskConfig]:
        """Task and group names to task configs, in order, without repeats."""
        chosen: dict[str, TaskConfig] = {}
        groups = self.groups
        for name in names:
            if name in self.tasks:
                chosen[name] = self.tasks[name]
            elif name in groups:
                chosen.update({t: self.tasks[t] for t in groups[name]})
            else:
                raise UnknownNameError("task", name, [*self.tasks, *groups])
        return list(chosen.values())
