"""One evaluation from settings to results: the Python entry point behind `coviP-eval`."""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.images import DEFAULT_MAX_IMAGE_PIXELS, decode_count, set_max_image_pixels
from benchmark.loading import BUILTIN_PREFIX, cache_dir
from covip_eval.engine.cache import RequestCache
from covip_eval.engine.controls import control_steps
from covip_eval.engine.evaluator import (
    SampleRecord,
    TaskRun,
    TaskStep,
    generate_outputs,
    prepare_runs,
    score_steps,
    steps,
)
from covip_eval.engine.generation import GenerationRunner
from covip_eval.engine.result_parts import config_records, failure_rate, task_tables
from covip_eval.engine.results import (
    SamplesWriter,
    git_hash,
    package_versions,
    prompt_text,
    timestamp,
)
from covip_eval.engine.tally import TaskTally, metric_rows, sample_counts
from covip_eval.errors import ConfigError
from covip_eval.judges.base import Judge
from covip_eval.models.base import ModelAdapter
from covip_eval.redaction import redact
from covip_eval.registry import TaskIndex, make_judge, make_model
from covip_eval.result_files import ResultsFile

DEFAULT_OFFLINE_JUDGE = "lexical"
DEFAULT_STEP_SIZE = 64


@dataclass
class EvalSettings:
    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=lambda: ["covip"])
    judge: str | None = None
    judge_args: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    limit: int | float | None = None  # a number of samples, or a fraction below 1
    seed: int = 0
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    include_path: list[Path] = field(default_factory=list)
    cache_path: Path | None = None  # None: no persistent cache
    output_path: Path | None = None
    log_samples: bool = False
    predict_only: bool = False
    progress: bool = True
    # above this share of failed samples (generation or judge) in a task, the run still writes
    # its results but marks them, and the CLI exits non-zero
    max_failure_rate: float = 0.05
    system_instruction: str | None = None  # replaces the tasks' system prompt (and its hash)
    controls: list[str] = field(default_factory=list)  # visual-reliance controls (controls.py)
    shard: tuple[int, int] | None = None  # (index, count): this process's slice (merge.py)
    ignored_flags: list[str] = field(default_factory=list)  # flags the model has no use for
    max_image_pixels: int | None = None  # None: benchmark.images' default
    # samples of each task evaluated together, then tallied and let go: bounds memory
    step_size: int = DEFAULT_STEP_SIZE
    keep_records: bool = False  # keep every finished record in the outcome (small runs only)


def default_cache_path() -> Path:
    return cache_dir() / "requests.sqlite"


def _choose_judge(settings: EvalSettings, runs: list[TaskRun]) -> str | None:
    if settings.predict_only:
        return None
    if settings.judge:
        return settings.judge
    needs = [r.name for r in runs if r.scorer.needs_judge]
    if not needs:
        return None
    specs = {r.dataset.spec for r in runs}
    if all(s.startswith(BUILTIN_PREFIX) for s in specs):
        return DEFAULT_OFFLINE_JUDGE
    raise ConfigError(f"tasks {', '.join(needs)} need a judge and the dataset is not built in: "
                      "name one with --judge (e.g. --judge openai-compatible --judge_args "
                      "base_url=...,model=Qwen/Qwen3-30B-A3B-Instruct-2507, the paper's judge)")


@dataclass
class EvalOutcome:
    results: dict[str, Any]
    runs: list[TaskRun]
    tallies: dict[str, TaskTally]  # by task
    results_path: Path | None
    samples_paths: list[Path]
    first_prompts: dict[str, str | None]  # by task: the prompt its first sample was scored on
    records: dict[str, list[SampleRecord]]  # by task, with `keep_records` only


class _Evaluation:
    """One evaluation's state while its steps run: the tallies (with each control's), the
    samples files, and what `keep_records` keeps."""

    def __init__(self, settings: EvalSettings, runs: list[TaskRun],
                 writer: SamplesWriter | None):
        self.settings, self.writer = settings, writer
        self.tallies = {run.name: TaskTally(run.config) for run in runs}
        self.controls = {c: {run.name: TaskTally(run.config) for run in runs}
                         for c in settings.controls}
        self.first_prompts: dict[str, str | None] = {run.name: None for run in runs}
        self.records: dict[str, list[SampleRecord]] = {run.name: [] for run in runs}

    def take(self, done: list[TaskStep], control: str | None = None) -> None:
        for step in done:
            name = step.run.name
            tally = self.tallies[name] if control is None else self.controls[control][name]
            for record in step.records:
                tally.add(record)
                if control is not None:
                    continue
                if self.writer is not None:
                    self.writer.write(step.run, record)
                if self.settings.keep_records:
                    self.records[name].append(record)
                if self.first_prompts[name] is None:
                    self.first_prompts[name] = prompt_text(record.final_request)


def evaluate(settings: EvalSettings) -> EvalOutcome:
    set_max_image_pixels(settings.max_image_pixels or DEFAULT_MAX_IMAGE_PIXELS)
    index = TaskIndex(settings.include_path)
    tasks = index.resolve(settings.tasks)
    model = make_model(settings.model, settings.model_args)
    cache = RequestCache(settings.cache_path)
    judge = None
    try:
        runs = prepare_runs(tasks, settings.dataset, settings.limit, settings.seed,
                            settings.gen_kwargs, settings.progress,
                            settings.system_instruction, settings.shard)
        judge_name = _choose_judge(settings, runs)
        if judge_name:
            judge = make_judge(judge_name, settings.judge_args, cache, settings.progress)
            judge.expect([t for run in runs for t in run.task.judge_templates])
        decodes_before = decode_count()
        runner = GenerationRunner(model, cache, settings.progress)
        path = writer = None
        if settings.output_path is not None:
            folder = settings.output_path / sanitized(model_name(settings, model))
            path = folder / f"results_{timestamp()}.json"
            if settings.log_samples or settings.predict_only:
                writer = SamplesWriter(path, runs)
        with writer or nullcontext():
            evaluation = _Evaluation(settings, runs, writer)
            _run_steps(settings, runs, runner, judge, evaluation)
        built = _results(settings, runs, evaluation, model, judge, runner, index)
        built["usage"]["image_decodes"] = decode_count() - decodes_before
        results = ResultsFile.model_validate(built)
        if path is not None:
            results.write(path)
        return EvalOutcome(results.dump(), runs, evaluation.tallies, path,
                           list(writer.paths.values()) if writer else [],
                           evaluation.first_prompts, evaluation.records)
    finally:
        model.close()
        if judge is not None:
            judge.close()
        cache.close()


def _run_steps(settings: EvalSettings, runs: list[TaskRun], runner: GenerationRunner,
               judge: Judge | None, evaluation: _Evaluation) -> None:
    """Every step: its records generated, scored and tallied, then each control's."""
    from tqdm import tqdm

    with tqdm(total=sum(len(run) for run in runs), desc="evaluating", unit="sample",
              disable=not settings.progress) as bar:
        for step in steps(runs, settings.step_size):
            evaluation.take(_generated_and_scored(settings, step, runner, judge))
            for control in settings.controls:
                evaluation.take(_generated_and_scored(
                    settings, control_steps(step, control), runner, judge), control)
            bar.update(sum(len(s.records) for s in step))


def _generated_and_scored(settings: EvalSettings, step: list[TaskStep],
                          runner: GenerationRunner, judge: Judge | None) -> list[TaskStep]:
    step = generate_outputs(step, runner)
    return step if settings.predict_only else score_steps(step, judge)


def _results(settings: EvalSettings, runs: list[TaskRun], evaluation: _Evaluation,
             model: ModelAdapter, judge: Judge | None, runner: GenerationRunner,
             index: TaskIndex) -> dict[str, Any]:
    tallies = list(evaluation.tallies.values())
    rows = {} if settings.predict_only else metric_rows(tallies, settings.seed)
    outcomes = {t.name: t.outcomes() for t in tallies}
    control_outcomes = {c: {t.name: t.outcomes() for t in under.values()}
                        for c, under in evaluation.controls.items()}
    name = model_name(settings, model)
    return {
        "results": rows,
        "counts": {} if settings.predict_only else sample_counts(tallies),
        **task_tables([r.config for r in runs], rows, index, settings.tasks),
        "configs": config_records([r.config for r in runs], rows),
        "n-samples": {r.name: {"original": len(r.dataset.samples), "effective": len(r)}
                      for r in runs},
        "config": {
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
        },
        "judge": redact(judge.identity) if judge else None,
        "prompts": {r.name: {role: t.record() for role, t in r.prompts.items()} for r in runs},
        "datasets": {r.name: {"spec": r.dataset.spec, "config": r.dataset.config,
                              "revision": r.dataset.revision, "location": r.dataset.location}
                     for r in runs},
        "failures": {t.name: t.failure_counts() for t in tallies},
        "outcomes": outcomes,
        "usage": {"model": runner.usage(), "judge": judge.usage() if judge else None},
        "git_hash": git_hash(),
        "date": time.time(),  # a float, as lm-eval writes it
        "model_name": name,
        "model_name_sanitized": sanitized(name),
        "package_versions": package_versions(),
        "controls": {c: {} if settings.predict_only else metric_rows(under.values(),
                                                                     settings.seed)
                     for c, under in evaluation.controls.items()},
        "control_outcomes": control_outcomes,
        "failure_rate": failure_rate(settings.max_failure_rate, outcomes, control_outcomes),
    }


def model_name(settings: EvalSettings, model: ModelAdapter) -> str:
    """What the results are about: the weights' path or id, the API model, or the adapter."""
    identity = model.identity
    return str(identity.get("pretrained") or identity.get("model") or settings.model)


def sanitized(name: str) -> str:
    """A model name as a folder name, the way lm-eval makes one."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)
