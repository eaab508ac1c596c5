"""The files a run writes, typed: the results file and a line of a samples file, in
lm-eval's layout (its `make_table` and W&B logger read them as they are), plus ours.

Everything that writes or reads them goes through these models: the run, merge, the judge
agreement, the loggers, the tables and the leaderboard. lm-eval's key conventions (a metric's
value under `"<metric>,none"`, its error under `"<metric>_stderr,none"`, `"N/A"` for none, a
per-count row named `<task>_n<count>`) are spelt here and nowhere else.

The models accept keys they do not declare (lm-eval's layout grows, and older files have
fewer), and keep them when written again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchmark.errors import CovipError

FILTER = "none"  # lm-eval's filter name; ours apply no filter
NOT_AVAILABLE = "N/A"


class ResultFileError(CovipError):
    """A results or samples file that cannot be read; the message names the file."""


def metric_key(metric: str) -> str:
    return f"{metric},{FILTER}"


def stderr_key(metric: str) -> str:
    return f"{metric}_stderr,{FILTER}"


def per_count_name(task: str, n: int) -> str:
    """The row of a task's samples with `n` concepts: a subtask as lm-eval names them."""
    return f"{task}_n{n}"


def per_count_rows(task: str, rows: Iterable[str]) -> list[str]:
    """The per-count rows of `task` among result rows."""
    prefix = per_count_name(task, 0)[:-1]
    return [row for row in rows if row.startswith(prefix) and row[len(prefix):].isdigit()]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None  # "N/A": none


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class MetricRow(_Open):
    """One row of `results`: its alias, then each metric's value and standard error."""

    alias: str = ""

    @classmethod
    def of(cls, alias: str, estimates: Mapping[str, tuple[float | None, float | None]]
           ) -> MetricRow:
        """From each metric's (value, standard error); None is written as lm-eval's "N/A"."""
        values: dict[str, Any] = {"alias": alias}
        for name, (value, stderr) in estimates.items():
            values[metric_key(name)] = NOT_AVAILABLE if value is None else value
            values[stderr_key(name)] = NOT_AVAILABLE if stderr is None else stderr
        return cls.model_validate(values)

    def metrics(self) -> list[str]:
        """The metrics the row has, in order."""
        suffix = metric_key("")
        return [k[:-len(suffix)] for k in self.model_extra or {}
                if k.endswith(suffix) and not k.endswith(stderr_key(""))]

    def value(self, metric: str) -> float | None:
        return _number((self.model_extra or {}).get(metric_key(metric)))

    def stderr(self, metric: str) -> float | None:
        return _number((self.model_extra or {}).get(stderr_key(metric)))


class NSamples(_Open):
    original: int
    effective: int


class Outcomes(_Open):
    """What became of a task's samples (`tally.TaskTally.outcomes`)."""

    samples: int = 0
    scored: int = 0
    generation_failures: int = 0
    judge_failures: int = 0
    judge_parse_failures: int = 0
    samples_with_parse_failures: int = 0
    cut_replies: int = 0

    @property
    def failed(self) -> int:
        return self.generation_failures + self.judge_failures


class DatasetRecord(_Open):
    spec: str
    config: str
    revision: str | None = None
    location: str | None = None


class ResultsFile(_Open):
    """`results_<timestamp>.json`."""

    results: dict[str, MetricRow]
    counts: dict[str, dict[str, int]] = {}
    group_subtasks: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    n_shot: dict[str, int] = Field({}, alias="n-shot")
    higher_is_better: dict[str, dict[str, bool]] = {}
    configs: dict[str, dict[str, Any]] = {}
    n_samples: dict[str, NSamples] = Field({}, alias="n-samples")
    config: dict[str, Any]
    judge: dict[str, Any] | None
    prompts: dict[str, dict[str, dict[str, Any]]]
    datasets: dict[str, DatasetRecord]
    failures: dict[str, dict[str, int]] = {}
    outcomes: dict[str, Outcomes] = {}
    usage: dict[str, Any] = {}
    git_hash: str | None = None
    date: float | None
    model_name: str = ""
    model_name_sanitized: str = ""
    package_versions: dict[str, str] = {}
    controls: dict[str, dict[str, MetricRow]] = {}
    control_outcomes: dict[str, dict[str, Outcomes]] = {}
    failure_rate: dict[str, Any] = {}

    @classmethod
    def read(cls, path: Path) -> ResultsFile:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResultFileError(f"{path}: not a JSON file ({exc})") from None
        if not isinstance(data, dict):
            raise ResultFileError(f"{path}: not a coviP-eval results file (not an object)")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ResultFileError(f"{path}: not a coviP-eval results file "
                                  f"({_first_problem(exc)})") from None

    def write(self, path: Path) -> None:
        """Written whole or not at all: to a temporary file, then renamed."""
        write_json_atomic(path, self.dump())

    def value(self, row: str, metric: str) -> float | None:
        found = self.results.get(row)
        return found.value(metric) if found is not None else None

    def control_value(self, control: str, row: str, metric: str) -> float | None:
        found = self.controls.get(control, {}).get(row)
        return found.value(metric) if found is not None else None


class SampleDoc(_Open):
    sample_id: str
    n_concepts: int
    names_context: list[str] = []
    query_image_sha256: str = ""


class SamplesLine(_Open):
    """One line of `samples_<task>_<timestamp>.jsonl`: lm-eval's fields first, then ours. Each
    metric's value is also a key of its own, as lm-eval writes them."""

    doc_id: int
    doc: SampleDoc
    target: Any = None
    arguments: dict[str, dict[str, Any]] = {}
    resps: list[list[str | None]] = []
    filtered_resps: list[str | None] = []
    filter: str = FILTER
    caption: str | None = None
    failure: str | None = None
    cut: bool = False
    failure_stage: str | None = None  # "generation", "judge" or None
    metrics: dict[str, tuple[float, float]] = {}  # (numerator, denominator) per metric
    counts: dict[str, int] = {}
    details: dict[str, Any] = {}
    doc_hash: str = ""
    prompt_hash: str | None = None
    caption_prompt_hash: str | None = None
    target_hash: str = ""

    @classmethod
    def of(cls, values: dict[str, Any]) -> SamplesLine:
        """A line, with each metric's value as a key of its own (None: not applicable)."""
        line = cls.model_validate(values)
        for metric, (n, d) in line.metrics.items():
            setattr(line, metric, n / d if d else None)
        return line

    def to_json(self) -> str:
        return json.dumps(self.dump(), ensure_ascii=False, default=str)


def read_samples(path: Path) -> Iterator[SamplesLine]:
    """The lines of a samples file, each checked; a bad one is an error naming its line."""
    with path.open() as fh:
        for n, text in enumerate(fh, start=1):
            try:
                yield SamplesLine.model_validate_json(text)
            except ValidationError as exc:
                raise ResultFileError(f"{path}: line {n}: not a samples line "
                                      f"({_first_problem(exc)})") from None


def _first_problem(exc: ValidationError) -> str:
    """The keys missing at the top, or else the first problem and where it is."""
    errors = exc.errors()
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing" and len(e["loc"]) == 1]
    if missing:
        return f"missing {', '.join(missing)}"
    where = ".".join(str(p) for p in errors[0]["loc"])
    return f"{where}: {errors[0]['msg'].lower()}" if where else errors[0]["msg"].lower()


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)
