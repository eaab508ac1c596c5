"""What a task's evaluation keeps of its samples once they are done: their metric parts,
counts and failures, nothing of their texts or images. The evaluation adds records as they
complete and merge adds the lines of shards' samples files; both aggregate here, the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from covip_eval.engine.evaluator import SampleRecord
from covip_eval.engine.taskconfig import TaskConfig
from covip_eval.metrics import Parts, metric
from covip_eval.result_files import MetricRow, SamplesLine, per_count_name


@dataclass(frozen=True)
class Scored:
    """One scored sample, as its metrics need it."""

    index: int
    n_concepts: int
    metrics: Parts
    counts: Mapping[str, int]


@dataclass
class TaskTally:
    """The running account of one task: its scored samples in order and its outcome counts."""

    config: TaskConfig
    scored: list[Scored] = field(default_factory=list)
    samples: int = 0
    concept_counts: set[int] = field(default_factory=set)  # of every sample, failed ones too
    failures: Counter = field(default_factory=Counter)
    generation_failures: int = 0
    judge_failures: int = 0
    cut_replies: int = 0

    @property
    def name(self) -> str:
        return self.config.task

    def add(self, record: SampleRecord) -> None:
        score = record.score
        self._add(record.index, record.sample.n_concepts, record.failure,
                  record.generation_failure is not None,
                  score.metrics if record.scored and score is not None else None,
                  score.counts if score is not None else {}, record.cut)

    def add_line(self, line: SamplesLine) -> None:
        """One line of a samples file (`results.sample_record`)."""
        self._add(line.doc_id, line.doc.n_concepts, line.failure,
                  line.failure_stage == "generation",
                  line.metrics if line.failure is None and line.metrics else None, line.counts,
                  line.cut)

    def _add(self, index: int, n_concepts: int, failure: str | None, generation_failed: bool,
             metrics: Parts | None, counts: Mapping[str, int], cut: bool) -> None:
        self.samples += 1
        self.concept_counts.add(n_concepts)
        if failure is not None:
            self.failures[failure] += 1
            self.generation_failures += generation_failed
            self.judge_failures += not generation_failed
        if metrics is not None:
            self.scored.append(Scored(index, n_concepts, dict(metrics), dict(counts)))
            self.cut_replies += cut

    def rows(self) -> list[tuple[str, str, list[Scored]]]:
        """Each metric row's name, alias and scored samples: the task, then a row per number
        of concepts when a metric is declared per count (one count makes one row too)."""
        rows = [(self.name, self.name, self.scored)]
        if any(metric(m).per_count for m in self.config.metrics):
            for n in sorted(self.concept_counts):
                rows.append((per_count_name(self.name, n), f"n{n}",
                             [s for s in self.scored if s.n_concepts == n]))
        return rows

    def metric_rows(self, seed: int) -> dict[str, dict[str, Any]]:
        """`{task: {...}, "task_n1": {...}, ...}` with standard errors, in lm-eval's layout (an
        alias and metrics only)."""
        return {name: self._row(alias, scored, seed) for name, alias, scored in self.rows()}

    def _row(self, alias: str, scored: list[Scored], seed: int) -> dict[str, Any]:
        estimates = {}
        for name in self.config.metrics:
            declared = metric(name)
            # a sample the metric does not apply to (n/a) is left out of it
            applies = [s.metrics for s in scored if all(p in s.metrics for p in declared.parts)]
            found = declared.estimate(applies, seed)
            estimates[name] = (found.value, found.stderr)
        return MetricRow.of(alias, estimates).dump()

    def count_rows(self) -> dict[str, dict[str, int]]:
        """Beside each metric row, how many samples it scored and what the scorer counted
        (questions judged, judge replies with no answer)."""
        rows = {}
        for name, _, scored in self.rows():
            counts: Counter = Counter()
            for s in scored:
                counts.update(s.counts)
            rows[name] = {"n_scored": len(scored), **dict(sorted(counts.items()))}
        return rows

    def failure_counts(self) -> dict[str, int]:
        return {str(k)[:300]: v for k, v in self.failures.most_common()}

    def outcomes(self) -> dict[str, int]:
        """What became of the task's samples: scored, or left out with a generation or a
        judge failure; how many judge replies had no parsable answer (counted as wrong, as the
        protocol does) and in how many samples; how many scored replies stopped at the token
        limit."""
        parse = [s.counts.get("judge_parse_failures", 0) for s in self.scored]
        return {
            "samples": self.samples,
            "scored": len(self.scored),
            "generation_failures": self.generation_failures,
            "judge_failures": self.judge_failures,
            "judge_parse_failures": sum(parse),
            "samples_with_parse_failures": sum(p > 0 for p in parse),
            "cut_replies": self.cut_replies,
        }


def metric_rows(tallies: Iterable[TaskTally], seed: int) -> dict[str, Any]:
    """Every task's metric rows (its per-count rows too), in task order."""
    return {name: row for tally in tallies for name, row in tally.metric_rows(seed).items()}


def sample_counts(tallies: Iterable[TaskTally]) -> dict[str, Any]:
    """Every metric row's counts (samples scored, the scorer's counts), kept apart from the
    metrics so that lm-eval's tools never read a count as a metric."""
    return {name: row for tally in tallies for name, row in tally.count_rows().items()}
