"""Reading `coviP-eval` result files, and what makes two runs comparable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import CovipError

REQUIRED_KEYS = ("results", "config", "judge", "prompts", "datasets", "date")


class ResultFileError(CovipError):
    """A result file that cannot be read or used; the message names the file."""


@dataclass(frozen=True)
class Run:
    """One results file (and its samples files, when they were logged)."""

    path: Path
    data: dict[str, Any]

    @property
    def model(self) -> str:
        config = self.data["config"]
        pretrained = (config.get("model_args") or {}).get("pretrained")
        return f"{config['model']} ({pretrained})" if pretrained else config["model"]

    def metric(self, row: str, metric: str) -> float | None:
        results = self.data["results"]
        task, _, count = row.rpartition("_n")
        legacy = f"{task}/n{count}" if count.isdigit() else row  # how older files named it
        value = results.get(row, results.get(legacy, {})).get(f"{metric},none")
        return float(value) if isinstance(value, (int, float)) else None  # "N/A": none

    def control_metric(self, control: str, row: str, metric: str) -> float | None:
        value = (self.data.get("controls") or {}).get(control, {}).get(row, {}).get(
            f"{metric},none")
        return float(value) if isinstance(value, (int, float)) else None

    def sample_set(self, tasks: list[str]) -> dict[str, str]:
        """Which samples each task covered: how many of how many (a --limit shows here)."""
        counts = self.data.get("n-samples", {})
        return {f"{t} samples": f"{counts[t]['effective']} of {counts[t]['original']}"
                for t in tasks if t in counts}

    def protocol(self, tasks: list[str]) -> dict[str, str]:
        """What must match for numbers to share a column, by name: the judge (for the tasks
        that are judged), and each task's prompts and dataset revision."""
        fields: dict[str, str] = {}
        for task in tasks:
            if task not in self.data["prompts"]:
                continue
            if (self.data.get("configs") or {}).get(task, {}).get("needs_judge", True):
                fields["judge"] = json.dumps(self.data["judge"], sort_keys=True)
            prompts = {r: p["sha256"][:12] for r, p in sorted(self.data["prompts"][task].items())}
            fields[f"{task} prompts"] = json.dumps(prompts, sort_keys=True)
            fields[f"{task} dataset revision"] = str(self.data["datasets"][task]["revision"])
        return fields

    def samples_file(self, task: str) -> Path | None:
        stamp = self.path.stem.removeprefix("results_")
        candidate = self.path.with_name(f"samples_{task}_{stamp}.jsonl")
        return candidate if candidate.exists() else None

    def samples(self, task: str) -> list[dict[str, Any]]:
        path = self.samples_file(task)
        if path is None:
            return []
        records = []
        for n, line in enumerate(path.read_text().splitlines()):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ResultFileError(f"{path}: line {n + 1}: not valid JSON ({exc.msg})") from None
        return records


def _result_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("results_*.json"))
            if not found:
                raise ResultFileError(f"{path}: no results_*.json files in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ResultFileError(f"{path}: no such file or folder")
    return files


def load_runs(paths: list[Path]) -> list[Run]:
    runs = []
    for file in _result_files(paths):
        try:
            data = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ResultFileError(f"{file}: not a JSON file ({exc})") from None
        if not isinstance(data, dict):
            raise ResultFileError(f"{file}: not a coviP-eval results file (not an object)")
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ResultFileError(f"{file}: not a coviP-eval results file (missing "
                                  f"{', '.join(missing)})")
        if data["config"].get("predict_only"):
            raise ResultFileError(f"{file}: a --predict_only run has no scores")
        runs.append(Run(file, data))
    return runs
