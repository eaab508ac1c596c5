"""The evaluation, one direction only, a few hundred samples of every task at a time:

samples -> requests (caption / direct / CAG stage 1) -> generations (cached) -> CAG stage 2
-> judge items, batched across the tasks of the step -> per-sample scores -> tallies.

Each sample of each task is one immutable `SampleRecord`; every stage returns new records
with its part filled in, so a record always says how far its sample got and why it stopped.
A step's records are tallied (reduced to what the metrics need) and written out, then let go:
memory does not grow with the dataset (`tally.py` aggregates).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import ValidationError

from benchmark import LoadedDataset, Sample, load_benchmark
from benchmark.options import validation_message
from covip_eval.errors import ConfigError
from covip_eval.generation import GenerationRunner
from covip_eval.judges.base import Judge
from covip_eval.metrics import metric
from covip_eval.prompts import PromptTemplate
from covip_eval.registry import scorer_class
from covip_eval.request_builder import cag_request, caption_request, direct_request
from covip_eval.requests import ChatRequest, Generation, GenParams
from covip_eval.scoring import SampleScore, Scorer, score_outputs
from covip_eval.taskconfig import GenerationConfig, TaskConfig

Mode = Literal["caption", "direct", "cag"]


@dataclass(frozen=True)
class SampleRecord:
    """One sample of one task, as far as the evaluation has taken it.

    `first_request` is the direct request, or the caption request (CapEval-QA, and stage 1 of
    CAG); `second_request` is CAG's stage 2. The final output is the one that is scored."""

    index: int
    sample: Sample
    mode: Mode
    first_request: ChatRequest
    first_output: Generation | None = None
    second_request: ChatRequest | None = None
    second_output: Generation | None = None
    score: SampleScore | None = None

    @property
    def caption(self) -> Generation | None:
        return self.first_output if self.mode != "direct" else None

    @property
    def final_request(self) -> ChatRequest | None:
        return self.second_request if self.mode == "cag" else self.first_request

    @property
    def final_output(self) -> Generation | None:
        return self.second_output if self.mode == "cag" else self.first_output

    @property
    def generation_failure(self) -> str | None:
        """Why this sample has no response to score, or None."""
        caption = self.caption
        if caption is not None and not caption.ok:
            return f"caption failed: {caption.error}"
        output = self.final_output
        return "not generated" if output is None else output.error

    @property
    def judge_failure(self) -> str | None:
        return self.score.judge_failure if self.score is not None else None

    @property
    def failure(self) -> str | None:
        """Why this sample is left out of the metrics (its response or its judging failed)."""
        return self.generation_failure or self.judge_failure

    @property
    def scored(self) -> bool:
        return self.score is not None and self.failure is None

    @property
    def cut(self) -> bool:
        """Whether the scored reply, or the caption it answers from, stopped at the token
        limit."""
        return any(g is not None and g.cut for g in (self.caption, self.final_output))

    @property
    def response(self) -> str:
        output = self.final_output
        return (output.text or "") if output is not None else ""


@dataclass(frozen=True)
class TaskRun:
    """One task as it runs: its settings, its scorer, and the samples it evaluates (`kept`:
    their dataset indices, in order); records are made a step at a time (`record`)."""

    config: TaskConfig
    scorer: Scorer
    dataset: LoadedDataset
    prompts: dict[str, PromptTemplate]
    kept: tuple[int, ...]
    first_params: GenParams  # the direct request's, or the caption's
    second_params: GenParams  # CAG's stage 2

    @property
    def name(self) -> str:
        return self.config.task

    def __len__(self) -> int:
        return len(self.kept)

    def sample(self, position: int) -> Sample:
        return self.dataset.samples[self.kept[position]]

    def record(self, position: int, sample: Sample | None = None) -> SampleRecord:
        """The first-stage record of the sample at `position` (or of `sample` in its place)."""
        sample = self.sample(position) if sample is None else sample
        build = direct_request if self.config.mode == "direct" else caption_request
        return SampleRecord(self.kept[position], sample, self.config.mode,
                            build(sample, self.prompts, self.first_params))


@dataclass(frozen=True)
class TaskStep:
    """The records of one task in one step of the evaluation, and their positions."""

    run: TaskRun
    positions: tuple[int, ...]
    records: tuple[SampleRecord, ...]

    def with_records(self, records: Sequence[SampleRecord]) -> TaskStep:
        return replace(self, records=tuple(records))


def steps(runs: Sequence[TaskRun], size: int) -> Iterator[list[TaskStep]]:
    """The tasks' samples `size` at a time, in lockstep (positions 0..size-1 of every task,
    then the next ones), so requests that tasks share (a caption of the same sample) meet in
    one step and are generated once."""
    longest = max((len(run) for run in runs), default=0)
    for start in range(0, longest, size):
        step = []
        for run in runs:
            positions = tuple(range(start, min(start + size, len(run))))
            if positions:
                step.append(TaskStep(run, positions, tuple(run.record(p) for p in positions)))
        yield step


def in_shard(sample_id: str, shard: tuple[int, int]) -> bool:
    """Whether a sample belongs to shard `index` of `count`: a hash of its id decides, so the
    split is the same on every machine and needs no coordination."""
    index, count = shard
    digest = hashlib.sha256(sample_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == index


def prepare_runs(configs: Sequence[TaskConfig], dataset_override: str | None,
                 limit: int | float | None, seed: int, gen_overrides: dict[str, Any],
                 progress: bool, system_instruction: str | None = None,
                 shard: tuple[int, int] | None = None) -> list[TaskRun]:
    """Load each task's dataset (once per dataset) and choose its samples: those the limit
    keeps, and of them the shard's."""
    loaded: dict[tuple[str, str], LoadedDataset] = {}
    runs = []
    for config in configs:
        spec = dataset_override or config.dataset
        key = (spec, config.dataset_config)
        if key not in loaded:
            loaded[key] = load_benchmark(spec, config.dataset_config, progress=progress)
        dataset = loaded[key]
        prompts = config.prompt_templates()
        if system_instruction is not None and "system" in prompts:
            prompts["system"] = PromptTemplate("system_instruction", "command line",
                                               system_instruction, "--system_instruction")
        kept: Sequence[int] = range(_count(limit, len(dataset.samples)))
        if shard is not None:
            kept = [i for i in kept if in_shard(dataset.samples[i].sample_id, shard)]
        first = config.generation if config.mode == "direct" else config.caption_generation
        runs.append(TaskRun(config, _scorer(config), dataset, prompts, tuple(kept),
                            _params(first, gen_overrides, seed),
                            _params(config.generation, gen_overrides, seed)))
    return runs


def _count(limit: int | float | None, total: int) -> int:
    """How many samples `--limit` keeps: a number, or a fraction below 1 (as in lm-eval)."""
    if limit is None:
        return total
    if isinstance(limit, float) and limit < 1:
        return math.ceil(limit * total)
    return min(int(limit), total)


def _scorer(config: TaskConfig) -> Scorer:
    """The task's scorer, which must produce every part of the task's metrics."""
    scorer = scorer_class(config.scorer)()
    produced = scorer.metrics
    unknown = [m for m in config.metrics if any(p not in produced for p in metric(m).parts)]
    if unknown:
        raise ConfigError(f"{config.source}: key 'metrics': {', '.join(unknown)} not produced by "
                          f"scorer {config.scorer!r} (it gives {', '.join(produced)})")
    return scorer


# lm-eval's names for generation settings, as users type them in --gen_kwargs
LMEVAL_GEN_NAMES = {"max_gen_toks": "max_new_tokens"}


def _our_names(overrides: dict[str, Any]) -> dict[str, Any]:
    """--gen_kwargs in our names; lm-eval's `max_gen_toks` and `do_sample` are understood."""
    out = {LMEVAL_GEN_NAMES.get(k, k): v for k, v in overrides.items() if k != "do_sample"}
    if overrides.get("do_sample") is False:
        out["temperature"] = 0.0  # greedy
    if "until" in out:
        raise ConfigError("--gen_kwargs: until (stop strings) is not supported: every task "
                          "generates to the end of the model's turn or max_new_tokens")
    return out


def _params(gen: GenerationConfig, overrides: dict[str, Any], seed: int) -> GenParams:
    try:
        merged = GenerationConfig(**{**gen.model_dump(), **_our_names(overrides)})
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, "--gen_kwargs")) from None
    return merged.params(seed)


def _updated(steps: list[TaskStep], picked: list[tuple[int, int]], values: list[Any],
             fill: Callable[[SampleRecord, Any], SampleRecord]) -> list[TaskStep]:
    """The steps with record k of task t filled with its value, for each (t, k) picked."""
    records = [list(step.records) for step in steps]
    for (t, k), value in zip(picked, values, strict=True):
        records[t][k] = fill(records[t][k], value)
    return [step.with_records(rs) for step, rs in zip(steps, records)]


def _run_stage(steps: list[TaskStep], runner: GenerationRunner, desc: str,
               request_of: Callable[[SampleRecord], ChatRequest | None],
               fill: Callable[[SampleRecord, Generation], SampleRecord]) -> list[TaskStep]:
    """Send every record's request of this stage (all tasks together: identical requests, such
    as a caption shared by several tasks, are generated once) and fill in the outputs."""
    asked = [(t, k, request) for t, step in enumerate(steps)
             for k, record in enumerate(step.records)
             if (request := request_of(record)) is not None]
    outputs = runner.run([request for _, _, request in asked], desc) if asked else []
    return _updated(steps, [(t, k) for t, k, _ in asked], outputs, fill)


def generate_outputs(steps: list[TaskStep], runner: GenerationRunner) -> list[TaskStep]:
    """Stage 1 for every task at once, then CAG's stage 2 where the caption succeeded."""
    steps = _run_stage(steps, runner, "generating (captions, direct answers)",
                       lambda record: record.first_request,
                       lambda record, output: replace(record, first_output=output))
    steps = [step.with_records([_with_second_request(step.run, r) for r in step.records])
             if step.run.config.mode == "cag" else step for step in steps]
    return _run_stage(steps, runner, "generating (CAG answers)",
                      lambda record: record.second_request,
                      lambda record, output: replace(record, second_output=output))


def _with_second_request(run: TaskRun, record: SampleRecord) -> SampleRecord:
    """CAG's stage 2: the conversation with the caption as the assistant's turn."""
    caption = record.caption
    if caption is None or not caption.ok:
        return record
    request = cag_request(record.sample, run.prompts, caption.text or "", run.second_params)
    return replace(record, second_request=request)


def score_steps(steps: list[TaskStep], judge: Judge | None) -> list[TaskStep]:
    """Score every task's records; the judge items of all tasks go to the judge in one call."""
    picked = [(t, k) for t, step in enumerate(steps) for k, record in enumerate(step.records)
              if record.generation_failure is None]  # failed samples are reported, not scored
    scores = score_outputs([(steps[t].run.scorer, steps[t].records[k].sample,
                             steps[t].records[k].response) for t, k in picked], judge)
    return _updated(steps, picked, scores, lambda record, score: replace(record, score=score))
