"""A results file built from an evaluation's tallies (`run_results`), and the parts of it that
merge builds alike from shards: lm-eval's per-task tables and configurations, and the
failure-rate check."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from covip_eval.engine.evaluator import TaskRun
from covip_eval.engine.results import git_hash, package_versions
from covip_eval.engine.settings import EvalSettings
from covip_eval.engine.tally import TaskTally, metric_rows, sample_counts
from covip_eval.engine.taskconfig import TaskConfig
from covip_eval.judges.base import Judge
from covip_eval.metrics import metric
from covip_eval.models.base import ModelAdapter
from covip_eval.redaction import redact
from covip_eval.registry import TaskIndex, scorer_class
from covip_eval.result_files import per_count_rows


def run_results(settings: EvalSettings, runs: list[TaskRun], tallies: list[TaskTally],
                controls: Mapping[str, Mapping[str, TaskTally]], model: ModelAdapter,
                judge: Judge | None, model_usage: dict[str, Any], index: TaskIndex
                ) -> dict[str, Any]:
    """The results of one evaluation, in lm-eval's layout plus ours (`ResultsFile`)."""
    scored = not settings.predict_only
    rows = metric_rows(tallies, settings.seed) if scored else {}
    outcomes = {t.name: t.outcomes() for t in tallies}
    control_outcomes = {c: {t.name: t.outcomes() for t in under.values()}
                        for c, under in controls.items()}
    name = model_name(settings, model)
    return {
        "results": rows,
        "counts": sample_counts(tallies) if scored else {},
        **task_tables([r.config for r in runs], rows, index, settings.tasks),
        "configs": config_records([r.config for r in runs], rows),
        "n-samples": {r.name: {"original": len(r.dataset.samples), "effective": len(r)}
                      for r in runs},
        "config": _run_config(settings, model),
        "judge": redact(judge.identity) if judge else None,
        "prompts": {r.name: {role: t.record() for role, t in r.prompts.items()} for r in runs},
        "datasets": {r.name: {"spec": r.dataset.spec, "config": r.dataset.config,
                              "revision": r.dataset.revision, "location": r.dataset.location}
                     for r in runs},
        "failures": {t.name: t.failure_counts() for t in tallies},
        "outcomes": outcomes,
        "usage": {"model": model_usage, "judge": judge.usage() if judge else None},
        "git_hash": git_hash(),
        "date": time.time(),  # a float, as lm-eval writes it
        "model_name": name,
        "model_name_sanitized": sanitized(name),
        "package_versions": package_versions(),
        "controls": {c: metric_rows(under.values(), settings.seed) if scored else {}
                     for c, under in controls.items()},
        "control_outcomes": control_outcomes,
        "failure_rate": failure_rate(settings.max_failure_rate, outcomes, control_outcomes),
    }


def _run_config(settings: EvalSettings, model: ModelAdapter) -> dict[str, Any]:
    """What was run: the model as named and as it identifies itself, and the run's settings
    that change numbers (secrets redacted)."""
    return {
        "model": settings.model,
        "model_args": redact(settings.model_args),
        "model_identity": redact(model.identity),
        "reads_ground_truth": model.capabilities.reads_ground_truth,
        "batch_size": model.batch_size,
        "limit": settings.limit,
        "shard": list(settings.shard) if settings.shard else None,
        "seed": settings.seed,
        "gen_kwargs": settings.gen_kwargs,
        "predict_only": settings.predict_only,
        **({"ignored_flags": settings.ignored_flags} if settings.ignored_flags else {}),
        **({"max_image_pixels": settings.max_image_pixels}
           if settings.max_image_pixels else {}),
    }


def model_name(settings: EvalSettings, model: ModelAdapter) -> str:
    """What the results are about: the weights' path or id, the API model, or the adapter."""
    identity = model.identity
    return str(identity.get("pretrained") or identity.get("model") or settings.model)


def sanitized(name: str) -> str:
    """A model name as a folder name, the way lm-eval makes one."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def task_tables(configs: list[TaskConfig], rows: dict[str, Any], index: TaskIndex,
                chosen: list[str]) -> dict[str, Any]:
    """lm-eval's per-task tables: the chosen groups as a tree (a group holds the largest
    groups inside it and its other tasks; the rows per number of concepts are subtasks of
    their task), versions, n-shot and which way each metric is better."""
    groups = group_tree(chosen, index.groups, {c.task for c in configs})
    per_count = {c.task: per_count_rows(c.task, rows) for c in configs}
    groups.update({task: subtasks for task, subtasks in per_count.items() if subtasks})
    config_of = {row: c for c in configs for row in [c.task, *per_count[c.task]]}
    return {
        "group_subtasks": groups,
        "versions": {row: config.version for row, config in config_of.items()},
        "n-shot": {row: 0 for row in config_of},
        "higher_is_better": {row: _directions(config) for row, config in config_of.items()},
    }


def group_tree(chosen: list[str], groups: dict[str, list[str]], ran: set[str]
               ) -> dict[str, list[str]]:
    """The groups among `chosen`, each with its children: the largest groups inside it, and
    its tasks that no such group holds (`covip` -> capeval_qa, itr, lar, lsd)."""
    tree: dict[str, list[str]] = {}

    def expand(name: str) -> None:
        members = {t for t in groups[name] if t in ran}
        inside = [g for g in groups if g != name and members > {t for t in groups[g] if t in ran}
                  and any(t in ran for t in groups[g])]
        largest = [g for g in inside
                   if not any(set(groups[g]) < set(groups[h]) for h in inside)]
        covered = {t for g in largest for t in groups[g]}
        tree[name] = sorted([*largest, *(members - covered)])
        for g in largest:
            expand(g)

    for name in chosen:
        if name in groups:
            expand(name)
    return tree


def _directions(config: TaskConfig) -> dict[str, bool]:
    return {m: metric(m).higher_is_better for m in config.metrics}


def config_records(configs: list[TaskConfig], rows: dict[str, Any]) -> dict[str, Any]:
    """Each task's configuration, and one for each of its per-count rows (the task's, named
    for the row, in a group of their own), so that lm-eval's tools find a configuration for
    every row of the results."""
    records = {}
    for config in configs:
        records[config.task] = _config_record(config)
        for row in per_count_rows(config.task, rows):
            records[row] = {**records[config.task], "task": row,
                            "group": f"{config.task}_by_count"}
    return records


def _config_record(config: TaskConfig) -> dict[str, Any]:
    """A task's configuration, the rule its scorer reads outputs by, and lm-eval's keys for
    tools that read them (its W&B logger reads `output_type` and `metric_list`)."""
    scorer = scorer_class(config.scorer)
    return {**config.model_dump(), "scoring_rule": scorer.rule, "needs_judge": scorer.needs_judge,
            "output_type": "generate_until",
            "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": better}
                            for m, better in _directions(config).items()]}


def failure_rate(limit: float, outcomes: dict[str, dict[str, int]],
                 control_outcomes: dict[str, dict[str, dict[str, int]]] | None = None
                 ) -> dict[str, Any]:
    """The tasks (and tasks under a control) whose share of failed samples is above `limit`.
    A sample fails when its generation or its judging failed, or when a judge reply about it
    had no parsable answer (it is still scored, as the protocol says, but a judge that never
    answers must not pass)."""
    every = dict(outcomes)
    for control, tasks in (control_outcomes or {}).items():
        every.update({f"{task} ({control})": counts for task, counts in tasks.items()})
    rates = {task: (c["generation_failures"] + c["judge_failures"]
                    + c.get("samples_with_parse_failures", 0)) / c["samples"]
             for task, c in every.items() if c["samples"]}
    exceeded = {t: round(r, 4) for t, r in rates.items() if r > limit}
    return {"max": limit, "exceeded": exceeded, "counts_parse_failures": True}
