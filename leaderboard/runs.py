"""Reading `coviP-eval` result files, and what makes two runs comparable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from covip_eval.result_files import ResultFileError, ResultsFile, SamplesLine, read_samples

__all__ = ["ResultFileError", "Run", "load_runs"]

@dataclass(frozen=True)
class Run:
    """One results file (and its samples files, when they were logged)."""

    path: Path
    results: ResultsFile

    @property
    def model(self) -> str:
        config = self.results.config
        pretrained = (config.get("model_args") or {}).get("pretrained")
        return f"{config['model']} ({pretrained})" if pretrained else config["model"]

    def metric(self, row: str, metric: str) -> float | None:
        task, _, count = row.rpartition("_n")
        if row not in self.results.results and count.isdigit():
            row = f"{task}/n{count}"  # how older files named a per-count row
        return self.results.value(row, metric)

    def control_metric(self, control: str, row: str, metric: str) -> float | None:
        return self.results.control_value(control, row, metric)

    def sample_set(self, tasks: list[str]) -> dict[str, str]:
        """Which samples each task covered: how many of how many (a --limit shows here)."""
        counts = self.results.n_samples
        return {f"{t} samples": f"{counts[t].effective} of {counts[t].original}"
                for t in tasks if t in counts}

    def protocol(self, tasks: list[str]) -> dict[str, str]:
        """What must match for numbers to share a column, by name: the judge (for the tasks
        that are judged), and each task's prompts and dataset revision."""
        fields: dict[str, str] = {}
        for task in tasks:
            if task not in self.results.prompts:
                continue
            if self.results.configs.get(task, {}).get("needs_judge", True):
                fields["judge"] = json.dumps(self.results.judge, sort_keys=True)
            prompts = {r: p["sha256"][:12]
                       for r, p in sorted(self.results.prompts[task].items())}
            fields[f"{task} prompts"] = json.dumps(prompts, sort_keys=True)
            fields[f"{task} dataset revision"] = str(self.results.datasets[task].revision)
        return fields

    def samples_file(self, task: str) -> Path | None:
        stamp = self.path.stem.removeprefix("results_")
        candidate = self.path.with_name(f"samples_{task}_{stamp}.jsonl")
        return candidate if candidate.exists() else None

    def samples(self, task: str) -> list[SamplesLine]:
        path = self.samples_file(task)
        return [] if path is None else list(read_samples(path))


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
        results = ResultsFile.read(file)
        if results.config.get("predict_only"):
            raise ResultFileError(f"{file}: a --predict_only run has no scores")
        runs.append(Run(file, results))
    return runs
