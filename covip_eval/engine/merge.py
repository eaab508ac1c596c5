"""Merging sharded runs: `coviP-eval ... --shard i/n --log_samples` on any number of
machines, then `coviP-eval merge DIR...` writes one results file whose metrics, standard
errors, counts and failure lists are those of a single-process run.

Each shard's samples file holds, per sample, the metric parts, the counts and the failure
(and where it happened). The merge tallies the lines of every task in the order of the full
run, as the evaluation tallies its records (`tally.py`), so nothing is computed twice in two
ways. Shards that disagree on what was measured are refused, and missing ones
are named.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark import load_benchmark
from covip_eval.engine.result_parts import config_records, failure_rate, task_tables
from covip_eval.engine.results import partial_file, samples_path, timestamp
from covip_eval.engine.tally import TaskTally, metric_rows, sample_counts
from covip_eval.engine.taskconfig import TaskConfig
from covip_eval.errors import ConfigError
from covip_eval.registry import TaskIndex
from covip_eval.result_files import ResultsFile, read_samples

# what every shard must agree on for their numbers to be one run's
SAME = ("model_identity", "limit", "seed", "gen_kwargs", "predict_only")
SAME_TOP = ("judge", "prompts", "datasets", "configs")


@dataclass(frozen=True)
class Shard:
    path: Path
    results: ResultsFile
    index: int
    count: int

    def samples_file(self, task: str) -> Path:
        path = samples_path(self.path, task)
        if not path.is_file():
            raise ConfigError(f"{self.path}: no samples file for {task} (shards must be run "
                              "with --log_samples)")
        return path


def find_shards(paths: list[Path]) -> list[Shard]:
    files = []
    for path in paths:
        files += sorted(path.rglob("results_*.json")) if path.is_dir() else [path]
    shards = []
    for f in files:
        results = ResultsFile.read(f)
        shard = results.config.get("shard")
        if shard:
            shards.append(Shard(f, results, *shard))
    if not shards:
        where = ", ".join(map(str, paths))
        raise ConfigError(f"no shard results (runs with --shard i/n) in {where}")
    return shards


def check_shards(shards: list[Shard]) -> None:
    first = shards[0]
    first_top = first.results.dump()
    for shard in shards[1:]:
        for key in SAME:
            if shard.results.config.get(key) != first.results.config.get(key):
                raise ConfigError(f"{shard.path} and {first.path} differ in {key}: they are not "
                                  "shards of one run")
        top = shard.results.dump()
        for key in SAME_TOP:
            if _tasks_only(top, key) != _tasks_only(first_top, key):
                raise ConfigError(f"{shard.path} and {first.path} differ in {key} (judge, "
                                  "prompts, dataset revision or tasks): not shards of one run")
    counts = {s.count for s in shards}
    if len(counts) > 1:
        raise ConfigError(f"shards split the run differently: into {sorted(counts)} parts")
    count = counts.pop()
    seen = [s.index for s in shards]
    duplicates = sorted({i for i in seen if seen.count(i) > 1})
    if duplicates:
        raise ConfigError(f"shard(s) {', '.join(f'{i}/{count}' for i in duplicates)} given "
                          "twice")
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise ConfigError(f"missing shard(s) {', '.join(f'{i}/{count}' for i in missing)} of "
                          f"{count}: merge needs them all")


def _task_config(record: dict[str, Any]) -> TaskConfig:
    return TaskConfig(**{k: v for k, v in record.items() if k in TaskConfig.model_fields})


def _tasks_only(top: dict[str, Any], key: str) -> Any:
    """An entry of a results file's top level (as written), the configurations without their
    per-count rows (a shard has those only for the numbers of concepts among its own
    samples)."""
    value = top.get(key)
    if key != "configs" or not isinstance(value, dict):
        return value
    return {k: v for k, v in value.items() if k in top.get("n-samples", {})}


def _chosen(results: ResultsFile) -> list[str]:
    """The groups a run was asked for: the roots of its group tree."""
    tree = results.group_subtasks
    children = {c for members in tree.values() for c in members}
    return [name for name in tree if name not in children]


def merge(paths: list[Path], out: Path, include_path: list[Path] | None = None) -> Path:
    """Write the merged results and samples files into `out`; returns the results path."""
    shards = find_shards(paths)
    check_shards(shards)
    template = shards[0].results
    if template.controls:
        raise ConfigError("runs with --controls cannot be merged: run the controls unsharded")
    seed = template.config["seed"]
    predict_only = template.config["predict_only"]
    tallies, lines_by_task = [], {}
    for task, source in template.datasets.items():
        dataset = load_benchmark(source.spec, source.config, progress=False)
        if dataset.revision != source.revision:
            raise ConfigError(f"{task}: the dataset {source.spec} is now at revision "
                              f"{dataset.revision}, the shards used {source.revision}")
        lines = sorted((line for shard in shards
                        for line in read_samples(shard.samples_file(task))),
                       key=lambda line: line.doc_id)
        lines_by_task[task] = lines
        tally = TaskTally(_task_config(template.configs[task]))
        for line in lines:
            tally.add_line(line)
        tallies.append(tally)
    configs = [t.config for t in tallies]
    rows = {} if predict_only else metric_rows(tallies, seed)
    outcomes = {t.name: t.outcomes() for t in tallies}
    merged = {
        **template.dump(),
        "results": rows,
        "counts": {} if predict_only else sample_counts(tallies),
        "configs": config_records(configs, rows),
        **task_tables(configs, rows, TaskIndex(include_path or []), _chosen(template)),
        "n-samples": {t.name: {"original": template.n_samples[t.name].original,
                               "effective": t.samples} for t in tallies},
        "config": {**template.config, "shard": None},
        "failures": {t.name: t.failure_counts() for t in tallies},
        "outcomes": outcomes,
        "failure_rate": failure_rate(template.failure_rate["max"], outcomes),
        "usage": _summed_usage([s.results.usage for s in shards]),
        "date": time.time(),
        "merged_from": [str(s.path) for s in sorted(shards, key=lambda s: s.index)],
    }
    path = out / template.model_name_sanitized / f"results_{timestamp()}.json"
    for task, lines in lines_by_task.items():
        with partial_file(samples_path(path, task)) as fh:
            fh.writelines(line.to_json() + "\n" for line in lines)
    ResultsFile.model_validate(merged).write(path)
    return path


def _summed_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """Token and call counts added up over the shards (numbers only; the rest from the first)."""
    def add(values: list[Any]) -> Any:
        if all(isinstance(v, dict) for v in values):
            keys = {k for v in values for k in v}
            return {k: add([v.get(k) for v in values if k in v]) for k in keys}
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return sum(values)
        return values[0]

    return add(usages)
