"""Task files: flat YAML validated against a schema, with `include:` for shared settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchmark import CONFIGS
from benchmark.options import validation_message
from covip_eval.engine.prompts import PromptTemplate, load_template
from covip_eval.errors import ConfigError
from covip_eval.metrics import metric
from covip_eval.requests import GenParams


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_new_tokens: int = Field(1024, gt=0)
    temperature: float = Field(0.0, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = None

    def params(self, seed: int | None) -> GenParams:
        return GenParams(**self.model_dump(), seed=None if self.temperature == 0 else seed)


class TaskConfig(BaseModel):
    """One task file: a dataset, a mode (a registered chain of stages), prompt templates,
    generation settings, a scorer and its metrics."""

    model_config = ConfigDict(extra="forbid")
    task: str
    version: str = "1"
    dataset: str = "builtin:mini"
    dataset_config: Literal[CONFIGS]  # type: ignore[valid-type]
    mode: str
    groups: list[str] = []
    prompts: dict[str, str]
    generation: GenerationConfig = GenerationConfig()
    caption_generation: GenerationConfig = GenerationConfig()
    scorer: str
    metrics: list[str]
    source: str = ""  # the file it came from (filled in by the loader)

    def prompt_templates(self) -> dict[str, PromptTemplate]:
        """The task's templates by role; paths are relative to the task file."""
        base = Path(self.source).parent if self.source else None
        return {role: load_template(ref, base) for role, ref in self.prompts.items()}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a task file must be a mapping of keys to values")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_task_file(path: Path) -> TaskConfig:
    data = _read_yaml(path)
    include = data.pop("include", None)
    if include is not None:
        included = path.parent / str(include)
        if not included.is_file():
            raise ConfigError(f"{path}: key 'include': file {include!r} not found")
        data = _merge(_read_yaml(included), data)
    try:
        config = TaskConfig(**data, source=str(path))
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, str(path))) from None
    for name in config.metrics:
        try:
            metric(name)
        except ConfigError as exc:
            raise ConfigError(f"{path}: key 'metrics': {exc}") from None
    return config
