"""The evaluation, one direction only, a few hundred samples of every task at a time:

samples -> each task's chain of stages (`stages.py`: direct; caption; caption then answer),
stage by stage, the requests of all tasks generated together (cached) -> judge items, batched
across the tasks of the step -> per-sample scores -> tallies.

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
from typing import Any

from benchmark import LoadedDataset, Sample, load_benchmark
from covip_eval.engine.generation import GenerationRunner
from covip_eval.engine.prompts import PromptTemplate
from covip_eval.engine.scoring import SampleScore, Scorer, score_outputs
from covip_eval.engine.stages import Chain
from covip_eval.engine.task import Task
from covip_eval.engine.taskconfig import TaskConfig
from covip_eval.judges.base import Judge
from covip_eval.requests import ChatRequest, Generation, GenParams


@dataclass(frozen=True)
class SampleRecord:
    """One sample of one task, as far as the evaluation has taken it: the requests of the
    stages of its chain reached so far, and their outputs. The last stage's output is the
    reply that is scored."""

    index: int
    sample: Sample
    chain: Chain
    requests: tuple[ChatRequest, ...]
    outputs: tuple[Generation, ...] = ()
    score: SampleScore | None = None

    def request_of(self, stage: str) -> ChatRequest | None:
        """The request of the stage of that name, if it was reached."""
        return next((r for s, r in zip(self.chain, self.requests) if s.name == stage), None)

    def output_of(self, stage: str) -> Generation | None:
        return next((o for s, o in zip(self.chain, self.outputs) if s.name == stage), None)

    @property
    def pending(self) -> ChatRequest | None:
        """The request that waits for its output, if any."""
        return self.requests[-1] if len(self.requests) > len(self.outputs) else None

    @property
    def finished(self) -> bool:
        return len(self.outputs) == len(self.chain)

    @property
    def caption(self) -> Generation | None:
        return self.output_of("caption")

    @property
    def final_request(self) -> ChatRequest | None:
        return self.requests[-1] if len(self.requests) == len(self.chain) else None

    @property
    def final_output(self) -> Generation | None:
        return self.outputs[-1] if self.finished else None

    @property
    def generation_failure(self) -> str | None:
        """Why this sample has no response to score, or None."""
        for stage, output in zip(self.chain, self.outputs):
            if not output.ok:
                return stage.failure(output.error or "")
        return None if self.finished else "not generated"

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
        """Whether the scored reply, or an output it was built on, stopped at the token
        limit."""
        return any(output.cut for output in self.outputs)

    @property
    def response(self) -> str:
        output = self.final_output
        return (output.text or "") if output is not None else ""


@dataclass(frozen=True)
class TaskRun:
    """One task as it runs: the task, the samples it evaluates (`kept`: their dataset indices,
    in order), its prompts and each stage's generation parameters; records are made a step at
    a time (`record`) and taken from stage to stage (`advanced`)."""

    task: Task
    dataset: LoadedDataset
    prompts: dict[str, PromptTemplate]
    kept: tuple[int, ...]
    params: tuple[GenParams, ...]  # one per stage of the chain

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def config(self) -> TaskConfig:
        return self.task.config

    @property
    def scorer(self) -> Scorer:
        return self.task.scorer

    def __len__(self) -> int:
        return len(self.kept)

    def sample(self, position: int) -> Sample:
        return self.dataset.samples[self.kept[position]]

    def record(self, position: int, sample: Sample | None = None) -> SampleRecord:
        """The first-stage record of the sample at `position` (or of `sample` in its place)."""
        sample = self.sample(position) if sample is None else sample
        first = self.task.chain[0].request(sample, self.prompts, self.params[0], ())
        return SampleRecord(self.kept[position], sample, self.task.chain, (first,))

    def advanced(self, record: SampleRecord) -> SampleRecord:
        """The record with its next stage's request, once every output so far succeeded."""
        done = len(record.outputs)
        if record.pending is not None or record.finished \
                or not all(output.ok for output in record.outputs):
            return record
        request = self.task.chain[done].request(record.sample, self.prompts, self.params[done],
                                                record.outputs)
        return replace(record, requests=(*record.requests, request))


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


def prepare_runs(tasks: Sequence[Task], dataset_override: str | None,
                 limit: int | float | None, seed: int, gen_overrides: dict[str, Any],
                 progress: bool, system_instruction: str | None = None,
                 shard: tuple[int, int] | None = None) -> list[TaskRun]:
    """Load each task's dataset (once per dataset) and choose its samples: those the limit
    keeps, and of them the shard's."""
    loaded: dict[tuple[str, str], LoadedDataset] = {}
    runs = []
    for task in tasks:
        spec = dataset_override or task.config.dataset
        key = (spec, task.config.dataset_config)
        if key not in loaded:
            loaded[key] = load_benchmark(spec, task.config.dataset_config, progress=progress)
        dataset = loaded[key]
        prompts = task.prompt_templates()
        if system_instruction is not None and "system" in prompts:
            prompts["system"] = PromptTemplate("system_instruction", "command line",
                                               system_instruction, "--system_instruction")
        kept: Sequence[int] = range(_count(limit, len(dataset.samples)))
        if shard is not None:
            kept = [i for i in kept if in_shard(dataset.samples[i].sample_id, shard)]
        runs.append(TaskRun(task, dataset, prompts, tuple(kept),
                            task.params(gen_overrides, seed)))
    return runs


def _count(limit: int | float | None, total: int) -> int:
    """How many samples `--limit` keeps: a number, or a fraction below 1 (as in lm-eval)."""
    if limit is None:
        return total
    if isinstance(limit, float) and limit < 1:
        return math.ceil(limit * total)
    return min(int(limit), total)


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
    """Every task's chain, stage by stage: the requests of each stage, all tasks together, then
    the next stage's requests where every output before them succeeded."""
    depth = max((len(step.run.task.chain) for step in steps), default=0)
    for stage in range(depth):
        if stage:
            steps = [step.with_records([step.run.advanced(r) for r in step.records])
                     for step in steps]
        names = sorted({step.run.task.chain[stage].name for step in steps
                        if stage < len(step.run.task.chain)})
        steps = _run_stage(steps, runner, f"generating ({', '.join(names)})",
                           lambda record: record.pending,
                           lambda record, output: replace(record,
                                                          outputs=(*record.outputs, output)))
    return steps


def score_steps(steps: list[TaskStep], judge: Judge | None) -> list[TaskStep]:
    """Score every task's records; the judge items of all tasks go to the judge in one call."""
    picked = [(t, k) for t, step in enumerate(steps) for k, record in enumerate(step.records)
              if record.generation_failure is None]  # failed samples are reported, not scored
    scores = score_outputs([(steps[t].run.scorer, steps[t].records[k].sample,
                             steps[t].records[k].response) for t, k in picked], judge)
    return _updated(steps, picked, scores, lambda record, score: replace(record, score=score))
