"""Registries: what a name on the command line or in a task file stands for.

Models, judges, scorers and modes (chains of stages) are tables of import strings, resolved
only when a name is used, so importing this module imports no backend and fills nothing as a
side effect. A plugin adds an entry with `register_model`, `register_judge`, `register_scorer`
or `register_mode`, or with no code at all as an installed package's entry point
(`[project.entry-points."covip_eval.models"] mine = "pkg.module:MyAdapter"`; groups
`covip_eval.models`, `covip_eval.judges`, `covip_eval.scorers`, `covip_eval.modes`), found the
first time a name is looked up. A name is registered once. The factories that turn a name and
its arguments into an object live here too; tasks are the YAML files of `tasks/` and of every
`--include_path`, each resolved once into a `Task`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from benchmark.options import validation_message
from covip_eval.engine.cache import RequestCache
from covip_eval.engine.generation import GenerationRunner
from covip_eval.engine.scoring import Scorer
from covip_eval.engine.stages import Chain
from covip_eval.engine.task import Task
from covip_eval.engine.taskconfig import load_task_file
from covip_eval.errors import ConfigError, UnknownNameError
from covip_eval.judges.base import Judge
from covip_eval.judges.llm import JudgeSettings, ModelJudge, split_judge_args
from covip_eval.models.aliases import aliases, resolve_alias
from covip_eval.models.base import ModelAdapter
from tasks import TASKS_DIR

MODELS: dict[str, str | type[ModelAdapter]] = {
    "blind": "covip_eval.models.baselines:BlindModel",
    "text-only": "covip_eval.models.baselines:TextOnlyModel",
    "oracle": "covip_eval.models.baselines:OracleModel",
    "retrieval": "covip_eval.models.baselines:RetrievalModel",
    "probe-name-frequency": "covip_eval.models.probes:NameFrequencyProbe",
    "probe-category-uniqueness": "covip_eval.models.probes:CategoryUniquenessProbe",
    "probe-one-individual": "covip_eval.models.probes:OneIndividualProbe",
    "probe-facts-unnamed": "covip_eval.models.probes:FactsUnnamedProbe",
    "probe-constant": "covip_eval.models.probes:ConstantProbe",
    "scripted": "covip_eval.models.scripted:ScriptedModel",
    "captions": "covip_eval.models.caption_file:CaptionFileModel",
    "hf": "covip_eval.models.hf:HFModel",
    "tiny-random": "covip_eval.models.tiny_random:TinyRandomModel",
    "covip-tiny": "covip_eval.models.covip_tiny:CovipTinyModel",
    "openai": "covip_eval.models.openai_chat:OpenAIModel",
    "openai-compatible": "covip_eval.models.openai_chat:OpenAICompatibleModel",
    "anthropic": "covip_eval.models.anthropic_messages:AnthropicModel",
    "gemini": "covip_eval.models.gemini:GeminiModel",
    "vllm": "covip_eval.models.vllm_engine:VLLMModel",
}

JUDGES: dict[str, str | type[Judge]] = {
    "lexical": "covip_eval.judges.lexical:LexicalJudge",
}

SCORERS: dict[str, str | type[Scorer]] = {
    "capeval_mcqa": "covip_eval.engine.scoring:CapEvalMCQAScorer",
    "lsd_token_f1": "covip_eval.engine.scoring:LSDScorer",
    "lsd_token_f1_lenient": "covip_eval.engine.scoring:LenientLSDScorer",
    "lar_judge": "covip_eval.engine.scoring:LARScorer",
    "itr_keyword": "covip_eval.engine.scoring:ITRScorer",
    "itr_keyword_lenient": "covip_eval.engine.scoring:LenientITRScorer",
}

MODES: dict[str, str | Chain] = {
    "direct": "covip_eval.engine.stages:DIRECT",
    "caption": "covip_eval.engine.stages:CAPTION",
    "cag": "covip_eval.engine.stages:CAG",
}

T = TypeVar("T")


def _register(table: dict[str, Any], kind: str, name: str, target: Any) -> Any:
    def put(value: Any) -> Any:
        known = table.get(name)
        if known is not None and known != value:
            raise ConfigError(f"{kind} {name!r} is registered already (as {_describe(known)}); "
                              f"{_describe(value)} needs another name")
        table[name] = value
        return value

    return put if target is None else put(target)  # without a target: a class decorator


def _describe(target: Any) -> str:
    if isinstance(target, str):
        return target
    if isinstance(target, tuple):  # a chain of stages
        return f"the chain ({', '.join(type(stage).__name__ for stage in target)})"
    return f"{target.__module__}:{target.__qualname__}"


def register_model(name: str, target: str | type[ModelAdapter] | None = None) -> Any:
    """`register_model("mine", "pkg.module:MyAdapter")`, or `@register_model("mine")` on a
    class."""
    return _register(MODELS, "model", name, target)


def register_judge(name: str, target: str | type[Judge] | None = None) -> Any:
    return _register(JUDGES, "judge", name, target)


def register_scorer(name: str, target: str | type[Scorer] | None = None) -> Any:
    return _register(SCORERS, "scorer", name, target)


def register_mode(name: str, target: str | Chain) -> Any:
    """A chain of stages (`stages.py`) that task files can name as their `mode`."""
    return _register(MODES, "mode", name, target)


ENTRY_POINT_GROUPS: dict[str, tuple[dict[str, Any], str]] = {
    "covip_eval.models": (MODELS, "model"),
    "covip_eval.judges": (JUDGES, "judge"),
    "covip_eval.scorers": (SCORERS, "scorer"),
    "covip_eval.modes": (MODES, "mode"),
}
_discovered = False


def discover_plugins(again: bool = False) -> None:
    """Register the entry points of installed packages (their import strings: nothing is
    imported until a name is used). Once per process, unless `again`."""
    global _discovered
    if _discovered and not again:
        return
    _discovered = True
    for group, (table, kind) in ENTRY_POINT_GROUPS.items():
        for entry in entry_points(group=group):
            _register(table, kind, entry.name, entry.value)


def _resolve(table: dict[str, Any], kind: str, name: str,
             known: Callable[[], Iterable[str]]) -> Any:
    if name not in table:
        discover_plugins()
    if name not in table:
        raise UnknownNameError(kind, name, known())
    target = table[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target


def model_class(name: str) -> type[ModelAdapter]:
    return _resolve(MODELS, "model", name, lambda: [*MODELS, *aliases()])


def judge_class(name: str) -> type[Judge]:
    return _resolve(JUDGES, "judge", name, lambda: [*JUDGES, *MODELS])


def scorer_class(name: str) -> type[Scorer]:
    return _resolve(SCORERS, "scorer", name, lambda: SCORERS)


def mode_chain(name: str) -> Chain:
    chain: Chain = _resolve(MODES, "mode", name, lambda: MODES)
    return chain


def model_option_names(name: str, args: dict[str, Any]) -> tuple[str, set[str]]:
    """The adapter a model name or alias runs on, and the options it takes."""
    adapter, _, _ = resolve_alias(name, args)
    return adapter, set(model_class(adapter).Options.model_fields)


def make_model(name: str, args: dict[str, Any]) -> ModelAdapter:
    """An adapter by registered name or alias (an open-weights alias picks vLLM or hf)."""
    adapter, adapter_args, note = resolve_alias(name, args)
    if note:
        print(f"coviP-eval: {note}", file=sys.stderr)
    return model_class(adapter)(**adapter_args)


def make_judge(name: str, args: dict[str, Any], cache: RequestCache, progress: bool) -> Judge:
    """A registered judge by name, or the judge role played by any model (or alias)."""
    if name in JUDGES:
        return judge_class(name)(**args)
    if name not in MODELS and name not in aliases():
        judge_class(name)  # raises the "did you mean" error over judges and models
    settings, model_args = split_judge_args(args)
    try:
        judge_settings = JudgeSettings(**settings)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, "--judge_args")) from None
    runner = GenerationRunner(make_model(name, model_args), cache, progress)
    return ModelJudge(runner, judge_settings)


def make_task(path: Path) -> Task:
    """A task file resolved: its mode's chain and its scorer found, its prompts and metrics
    checked against them."""
    config = load_task_file(path)
    try:
        chain = mode_chain(config.mode)
    except UnknownNameError as exc:
        raise ConfigError(f"{path}: mode: {exc}") from None
    return Task.resolve(config, chain, scorer_class(config.scorer)())


class TaskIndex:
    """Every task file found in the built-in folder and in `include_paths`, and their groups."""

    def __init__(self, include_paths: Iterable[Path] = ()):
        self.tasks: dict[str, Task] = {}
        for folder in (TASKS_DIR, *include_paths):
            if not Path(folder).is_dir():
                raise ConfigError(f"--include_path {folder}: not a folder")
            for path in sorted(Path(folder).glob("*.yaml")):
                if path.name.startswith("_"):
                    continue  # shared fragments, pulled in with `include:`
                task = make_task(path)
                self.tasks[task.name] = task

    @property
    def groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for name, task in self.tasks.items():
            for group in task.config.groups:
                groups.setdefault(group, []).append(name)
        return groups

    def resolve(self, names: Iterable[str]) -> list[Task]:
        """Task and group names to tasks, in order, without repeats."""
        chosen: dict[str, Task] = {}
        groups = self.groups
        for name in names:
            if name in self.tasks:
                chosen[name] = self.tasks[name]
            elif name in groups:
                chosen.update({t: self.tasks[t] for t in groups[name]})
            else:
                raise UnknownNameError("task", name, [*self.tasks, *groups])
        return list(chosen.values())
