"""The evaluation pipeline, one direction only:

samples -> requests (caption / direct / CAG stage 1) -> generations (cached) -> CAG stage 2
-> judge items, batched across the whole run -> per-sample scores -> aggregates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchmark import LoadedDataset, Sample, load_benchmark
from benchmark.options import validation_message
from covip_eval.aggregate import bootstrap_stderr, ratio
from covip_eval.errors import ConfigError, CovipError, UnknownNameError
from covip_eval.generation import GenerationRunner
from covip_eval.judges.base import Judge
from covip_eval.prompts import PromptTemplate, load_template
from covip_eval.registry import SCORERS
from covip_eval.request_builder import cag_request, caption_request, direct_request
from covip_eval.requests import ChatRequest, Generation, GenParams
from covip_eval.scorers import SampleScore, Scorer
from covip_eval.taskconfig import GenerationConfig, TaskConfig


@dataclass
class TaskRun:
    """One task's samples, prompts and, as the pipeline advances, outputs and scores."""

    config: TaskConfig
    dataset: LoadedDataset
    samples: tuple[Sample, ...]
    prompts: dict[str, PromptTemplate]
    captions: list[Generation | None] = field(default_factory=list)
    finals: list[Generation] = field(default_factory=list)
    requests: list[ChatRequest] = field(default_factory=list)
    scores: list[SampleScore | None] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config.task

    def failure(self, i: int) -> str | None:
        caption = self.captions[i] if self.captions else None
        if caption is not None and not caption.ok:
            return f"caption failed: {caption.error}"
        return self.finals[i].error

    def text(self, i: int) -> str:
        return self.finals[i].text or ""


def prepare_runs(configs: Iterable[TaskConfig], dataset_override: str | None,
                 limit: int | None, progress: bool) -> list[TaskRun]:
    loaded: dict[tuple[str, str], LoadedDataset] = {}
    runs = []
    for config in configs:
        spec = dataset_override or config.dataset
        key = (spec, config.dataset_config)
        if key not in loaded:
            loaded[key] = load_benchmark(spec, config.dataset_config, progress=progress)
        dataset = loaded[key]
        _check_scorer(config)
        base = Path(config.source).parent if config.source else None
        prompts = {role: load_template(ref, base) for role, ref in config.prompts.items()}
        samples = dataset.samples[:limit] if limit is not None else dataset.samples
        runs.append(TaskRun(config, dataset, samples, prompts))
    return runs


def _check_scorer(config: TaskConfig) -> None:
    if config.scorer not in SCORERS:
        raise UnknownNameError("scorer", config.scorer, SCORERS)
    produced = SCORERS[config.scorer].metrics
    unknown = [m for m in config.metrics if m not in produced]
    if unknown:
        raise ConfigError(f"{config.source}: key 'metrics': {', '.join(unknown)} not produced by "
                          f"scorer {config.scorer!r} (it gives {', '.join(produced)})")


def _params(gen: GenerationConfig, overrides: dict[str, Any], seed: int) -> GenParams:
    try:
        merged = GenerationConfig(**{**gen.model_dump(), **overrides})
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, "--gen_kwargs")) from None
    return merged.params(seed)


def generate_outputs(runs: list[TaskRun], runner: GenerationRunner, seed: int,
                     gen_overrides: dict[str, Any]) -> None:
    """Stage 1 for every task at once (captions shared by content), then CAG stage 2."""
    first: list[ChatRequest] = []
    for run in runs:
        start = len(first)
        caption_params = _params(run.config.caption_generation, gen_overrides, seed)
        answer_params = _params(run.config.generation, gen_overrides, seed)
        for sample in run.samples:
            if run.config.mode == "direct":
                first.append(direct_request(sample, run.prompts, answer_params))
            else:
                first.append(caption_request(sample, run.prompts, caption_params))
        run.requests = first[start:]
    outputs = iter(runner.run(first, "generating (captions, direct answers)"))
    for run in runs:
        stage_one = [next(outputs) for _ in run.samples]
        if run.config.mode == "direct":
            run.finals = stage_one
        elif run.config.mode == "caption":
            run.captions, run.finals = stage_one, stage_one
        else:
            run.captions = list(stage_one)
    _generate_cag(runs, runner, seed, gen_overrides)


def _generate_cag(runs: list[TaskRun], runner: GenerationRunner, seed: int,
                  gen_overrides: dict[str, Any]) -> None:
    second: list[ChatRequest] = []
    slots: list[tuple[TaskRun, int]] = []
    for run in runs:
        if run.config.mode != "cag":
            continue
        params = _params(run.config.generation, gen_overrides, seed)
        run.finals = [Generation.failed("not generated")] * len(run.samples)
        for i, (sample, caption) in enumerate(zip(run.samples, run.captions)):
            if caption is not None and caption.ok:
                run.requests[i] = cag_request(sample, run.prompts, caption.text or "", params)
                second.append(run.requests[i])
                slots.append((run, i))
    if second:
        for (run, i), generation in zip(slots, runner.run(second, "generating (CAG answers)")):
            run.finals[i] = generation


@dataclass(frozen=True)
class _Slice:
    """Where one sample's judge items sit in the run-wide list of their kind."""

    run: TaskRun
    index: int
    scorer: Scorer
    start: int
    count: int


def score_runs(runs: list[TaskRun], judge: Judge | None) -> None:
    """Score every task; judge items of all tasks go to the judge in one call per kind."""
    pending: dict[str, list] = {"mcqa": [], "lar": []}
    slices: list[_Slice] = []
    for run in runs:
        scorer: Scorer = SCORERS[run.config.scorer]()
        run.scores = [None] * len(run.samples)
        for i, sample in enumerate(run.samples):
            if run.failure(i) is not None:
                continue  # reported with its reason, never scored
            items = scorer.judge_items(sample, run.text(i))
            queue = pending[scorer.judge_kind] if scorer.judge_kind else []
            slices.append(_Slice(run, i, scorer, len(queue), len(items)))
            queue.extend(items)
    verdicts = _judge_all(pending, judge)
    for part in slices:
        kind = part.scorer.judge_kind
        mine = verdicts[kind][part.start:part.start + part.count] if kind else []
        part.run.scores[part.index] = part.scorer.score(part.run.samples[part.index],
                                                        part.run.text(part.index), mine)


def _judge_all(pending: dict[str, list], judge: Judge | None) -> dict[str, list]:
    calls: dict[str, Callable] = {}
    if judge is not None:
        calls = {"mcqa": judge.answer_mcqa, "lar": judge.grade_lar}
    verdicts: dict[str, list] = {}
    for kind, items in pending.items():
        if items and judge is None:
            raise CovipError("these tasks need a judge: pass --judge (or --predict_only)")
        verdicts[kind] = calls[kind](items) if items else []
    return verdicts


def aggregate_run(run: TaskRun, seed: int) -> dict[str, dict[str, Any]]:
    """`{task: {...}, "task/n1": {...}}` metric rows with stderr and counts."""
    scored = [(s, sc) for s, sc in zip(run.samples, run.scores) if sc is not None]
    rows = {run.name: _row(run, scored, seed)}
    counts = sorted({s.n_concepts for s, _ in scored})
    if len(counts) > 1:
        for n in counts:
            subset = [(s, sc) for s, sc in scored if s.n_concepts == n]
            rows[f"{run.name}/n{n}"] = _row(run, subset, seed)
    return rows


def _row(run: TaskRun, scored: list[tuple[Sample, SampleScore]], seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {"alias": run.name}
    for metric in run.config.metrics:
        parts = [sc.metrics[metric] for _, sc in scored if metric in sc.metrics]
        row[f"{metric},none"] = ratio(parts)
        row[f"{metric}_stderr,none"] = bootstrap_stderr(parts, seed)
    counts: Counter = Counter()
    for _, sc in scored:
        counts.update(sc.counts)
    row["n_scored"] = len(scored)
    row.update({k: v for k, v in sorted(counts.items())})
    return row


def failure_counts(run: TaskRun) -> dict[str, int]:
    reasons = Counter(run.failure(i) for i in range(len(run.samples)))
    reasons.pop(None, None)
    return {str(k)[:300]: v for k, v in reasons.most_common()}
