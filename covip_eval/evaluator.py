"""The evaluation, one direction only:

samples -> requests (caption / direct / CAG stage 1) -> generations (cached) -> CAG stage 2
-> judge items, batched across the whole run -> per-sample scores -> aggregates.

Each sample of each task is one immutable `SampleRecord`; every stage returns new records
with its part filled in, so a record always says how far its sample got and why it stopped.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import ValidationError

from benchmark import CapEvalSample, LoadedDataset, Sample, load_benchmark
from benchmark.options import validation_message
from covip_eval.errors import ConfigError
from covip_eval.generation import GenerationRunner
from covip_eval.judges.base import Judge
from covip_eval.metrics import metric
from covip_eval.prompts import PromptTemplate
from covip_eval.registry import scorer_class
from covip_eval.request_builder import cag_request, caption_request, direct_request
from covip_eval.requests import ChatRequest, Generation, GenParams
from covip_eval.scoring import SampleScore, score_outputs
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
    """One task's settings and its sample records."""

    config: TaskConfig
    dataset: LoadedDataset
    prompts: dict[str, PromptTemplate]
    records: tuple[SampleRecord, ...]

    @property
    def name(self) -> str:
        return self.config.task

    def with_records(self, records: Iterable[SampleRecord]) -> TaskRun:
        return replace(self, records=tuple(records))


def in_shard(sample_id: str, shard: tuple[int, int]) -> bool:
    """Whether a sample belongs to shard `index` of `count`: a hash of its id decides, so the
    split is the same on every machine and needs no coordination."""
    index, count = shard
    digest = hashlib.sha256(sample_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == index


def prepare_runs(configs: Iterable[TaskConfig], dataset_override: str | None,
                 limit: int | float | None, seed: int, gen_overrides: dict[str, Any],
                 progress: bool, system_instruction: str | None = None,
                 shard: tuple[int, int] | None = None) -> list[TaskRun]:
    """Load each task's dataset (once per dataset) and build its first-stage requests. With a
    shard, only its samples (of those the limit keeps) are kept, with their indices."""
    loaded: dict[tuple[str, str], LoadedDataset] = {}
    runs = []
    for config in configs:
        spec = dataset_override or config.dataset
        key = (spec, config.dataset_config)
        if key not in loaded:
            loaded[key] = load_benchmark(spec, config.dataset_config, progress=progress)
        dataset = loaded[key]
        _check_scorer(config)
        prompts = config.prompt_templates()
        if system_instruction is not None and "system" in prompts:
            prompts["system"] = PromptTemplate("system_instruction", "command line",
                                               system_instruction, "--system_instruction")
        kept = list(enumerate(dataset.samples[:_count(limit, len(dataset.samples))]))
        if shard is not None:
            kept = [(i, s) for i, s in kept if in_shard(s.sample_id, shard)]
        if config.mode == "direct":
            params = _params(config.generation, gen_overrides, seed)
            first = [direct_request(s, prompts, params) for _, s in kept]
        else:
            params = _params(config.caption_generation, gen_overrides, seed)
            first = [caption_request(s, prompts, params) for _, s in kept]
        records = tuple(SampleRecord(i, s, config.mode, r) for (i, s), r in zip(kept, first))
        runs.append(TaskRun(config, dataset, prompts, records))
    return runs


def _count(limit: int | float | None, total: int) -> int:
    """How many samples `--limit` keeps: a number, or a fraction below 1 (as in lm-eval)."""
    if limit is None:
        return total
    if isinstance(limit, float) and limit < 1:
        return math.ceil(limit * total)
    return int(limit)


def _check_scorer(config: TaskConfig) -> None:
    produced = scorer_class(config.scorer).metrics
    unknown = [m for m in config.metrics if any(p not in produced for p in metric(m).parts)]
    if unknown:
        raise ConfigError(f"{config.source}: key 'metrics': {', '.join(unknown)} not produced by "
                          f"scorer {config.scorer!r} (it gives {', '.join(produced)})")


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


def _updated(runs: list[TaskRun], picked: list[tuple[int, int]], values: list[Any],
             fill: Callable[[SampleRecord, Any], SampleRecord]) -> list[TaskRun]:
    """The runs with record k of run r filled with its value, for each (r, k) picked."""
    records = [list(run.records) for run in runs]
    for (r, k), value in zip(picked, values, strict=True):
        records[r][k] = fill(records[r][k], value)
    return [run.with_records(rs) for run, rs in zip(runs, records)]


def _run_stage(runs: list[TaskRun], runner: GenerationRunner, desc: str,
               request_of: Callable[[SampleRecord], ChatRequest | None],
               fill: Callable[[SampleRecord, Generation], SampleRecord]) -> list[TaskRun]:
    """Send every record's request of this stage (all tasks together: identical requests, such
    as a caption shared by several tasks, are generated once) and fill in the outputs."""
    asked = [(r, k, request) for r, run in enumerate(runs) for k, record in enumerate(run.records)
             if (request := request_of(record)) is not None]
    outputs = runner.run([request for _, _, request in asked], desc) if asked else []
    return _updated(runs, [(r, k) for r, k, _ in asked], outputs, fill)


def generate_outputs(runs: list[TaskRun], runner: GenerationRunner, seed: int,
                     gen_overrides: dict[str, Any]) -> list[TaskRun]:
    """Stage 1 for every task at once, then CAG's stage 2 where the caption succeeded."""
    runs = _run_stage(runs, runner, "generating (captions, direct answers)",
                      lambda record: record.first_request,
                      lambda record, output: replace(record, first_output=output))
    runs = [_with_second_requests(run, seed, gen_overrides) if run.config.mode == "cag" else run
            for run in runs]
    return _run_stage(runs, runner, "generating (CAG answers)",
                      lambda record: record.second_request,
                      lambda record, output: replace(record, second_output=output))


def _with_second_requests(run: TaskRun, seed: int, gen_overrides: dict[str, Any]) -> TaskRun:
    """CAG's stage 2: the conversation with the caption as the assistant's turn."""
    params = _params(run.config.generation, gen_overrides, seed)

    def second(record: SampleRecord) -> SampleRecord:
        caption = record.caption
        if caption is None or not caption.ok:
            return record
        request = cag_request(record.sample, run.prompts, caption.text or "", params)
        return replace(record, second_request=request)

    return run.with_records(second(record) for record in run.records)


def score_runs(runs: list[TaskRun], judge: Judge | None) -> list[TaskRun]:
    """Score every task; the judge items of all tasks go to the judge in one call."""
    scorers = {run.name: scorer_class(run.config.scorer)() for run in runs}
    picked = [(r, k) for r, run in enumerate(runs) for k, record in enumerate(run.records)
              if record.generation_failure is None]  # failed samples are reported, not scored
    scores = score_outputs([(scorers[runs[r].name], runs[r].records[k].sample,
                             runs[r].records[k].response) for r, k in picked], judge)
    return _updated(runs, picked, scores, lambda record, score: replace(record, score=score))


def per_count_name(task: str, n: int) -> str:
    """The row of a task's samples with `n` concepts: a subtask as lm-eval names them."""
    return f"{task}_n{n}"


def per_count_rows(task: str, rows: Iterable[str]) -> list[str]:
    """The per-count rows of `task` among result rows."""
    prefix = per_count_name(task, 0)[:-1]
    return [row for row in rows if row.startswith(prefix) and row[len(prefix):].isdigit()]


def aggregate_run(run: TaskRun, seed: int) -> dict[str, dict[str, Any]]:
    """`{task: {...}, "task_n1": {...}, ...}` metric rows with stderr (lm-eval's layout: an
    alias and metrics only); a task with a metric declared per count (CapEval-QA's) has a row
    per number of concepts among its samples (one count makes one row too)."""
    return {name: _row(run, alias, scored, seed) for name, alias, scored in _row_samples(run)}


def count_rows(run: TaskRun) -> dict[str, dict[str, int]]:
    """Beside each metric row, how many samples it scored and what the scorer counted
    (questions judged, judge replies with no answer)."""
    rows = {}
    for name, _, scored in _row_samples(run):
        counts: Counter = Counter()
        for _, sc in scored:
            counts.update(sc.counts)
        rows[name] = {"n_scored": len(scored), **dict(sorted(counts.items()))}
    return rows


Scored = list[tuple[Sample, SampleScore]]


def _row_samples(run: TaskRun) -> list[tuple[str, str, Scored]]:
    """Each row's name, alias and scored samples: the task, then its per-count rows."""
    scored: Scored = [(r.sample, r.score) for r in run.records
                      if r.scored and r.score is not None]
    rows = [(run.name, run.name, scored)]
    if any(metric(m).per_count for m in run.config.metrics):
        for n in sorted({r.sample.n_concepts for r in run.records
                         if isinstance(r.sample, CapEvalSample)}):
            subset: Scored = [(s, sc) for s, sc in scored
                              if isinstance(s, CapEvalSample) and s.n_concepts == n]
            rows.append((per_count_name(run.name, n), f"n{n}", subset))
    return rows


def _row(run: TaskRun, alias: str, scored: Sequence[tuple[Sample, SampleScore]], seed: int
         ) -> dict[str, Any]:
    row: dict[str, Any] = {"alias": alias}
    for name in run.config.metrics:
        declared = metric(name)
        # a sample the metric does not apply to (n/a) is left out of it
        applies = [sc.metrics for _, sc in scored if all(p in sc.metrics for p in declared.parts)]
        found = declared.estimate(applies, seed)
        row[f"{name},none"] = "N/A" if found.value is None else found.value
        row[f"{name}_stderr,none"] = "N/A" if found.stderr is None else found.stderr
    return row


def failure_counts(run: TaskRun) -> dict[str, int]:
    reasons = Counter(r.failure for r in run.records if r.failure is not None)
    return {str(k)[:300]: v for k, v in reasons.most_common()}


def outcome_counts(run: TaskRun) -> dict[str, int]:
    """What became of the task's samples: scored, or left out with a generation or a judge
    failure; how many judge replies had no parsable answer (counted as wrong, as the protocol
    does) and in how many samples; how many scored replies stopped at the token limit."""
    records = run.records
    scored = [r for r in records if r.scored and r.score is not None]
    return {
        "samples": len(records),
        "scored": len(scored),
        "generation_failures": sum(r.generation_failure is not None for r in records),
        "judge_failures": sum(r.generation_failure is None and r.judge_failure is not None
                              for r in records),
        "judge_parse_failures": sum(r.score.counts.get("judge_parse_failures", 0)
                                    for r in scored if r.score is not None),
        "samples_with_parse_failures": sum(r.score.counts.get("judge_parse_failures", 0) > 0
                                           for r in scored if r.score is not None),
        "cut_replies": sum(r.cut for r in scored),
    }
