"""One evaluation from settings to results: the Python entry point behind `coviP-eval`.

The settings are `settings.EvalSettings`; the results file is built by
`result_parts.run_results`."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
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
from covip_eval.engine.result_parts import model_name, run_results, sanitized
from covip_eval.engine.results import SamplesWriter, prompt_text, timestamp
from covip_eval.engine.settings import EvalSettings
from covip_eval.engine.tally import TaskTally
from covip_eval.errors import ConfigError
from covip_eval.judges.base import Judge
from covip_eval.registry import TaskIndex, make_judge, make_model
from covip_eval.result_files import ResultsFile

# EvalSettings is imported from here too, as it always was
__all__ = ["EvalOutcome", "EvalSettings", "default_cache_path", "evaluate"]

DEFAULT_OFFLINE_JUDGE = "lexical"


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
        built = run_results(settings, runs, list(evaluation.tallies.values()),
                            evaluation.controls, model, judge, runner.usage(), index)
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
