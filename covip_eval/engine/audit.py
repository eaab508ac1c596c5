"""The shortcut audit: how much of each task's score is reachable without looking.

For every task it measures each headline metric, one only looking should raise (its scorer's
`headlines`), for:
- the floor: the better of a constant answer (`blind`, and the scorer's `constant_answers`:
  for LSD, boxed runs of the answers' most common tokens) and chance, a uniform guess among
  the individuals of each sample's context, in expectation (`probe-one-individual` at every
  pick, averaged per sample);
- the text-only probes (`PROBES`), each under the blank and swap controls too, which must not
  move them (they never look);
- the oracle, the ceiling.

A probe more than `SIGMAS` standard errors above the floor found a text feature that predicts
the answer. Standard errors are bootstrap estimates over samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from benchmark import Sample
from covip_eval.engine.evaluator import TaskRun
from covip_eval.engine.run import EvalSettings, evaluate
from covip_eval.engine.tally import TaskTally
from covip_eval.errors import ConfigError
from covip_eval.metrics import Parts, metric
from covip_eval.result_files import MetricRow, ResultsFile

PROBES = ("text-only", "probe-name-frequency", "probe-category-uniqueness",
          "probe-facts-unnamed")
CONTROLS = ("blank", "swap")
SIGMAS = 2.0

@dataclass(frozen=True)
class Estimate:
    value: float | None
    stderr: float | None = None
    source: str = ""  # which model or rule gave it

    def margin(self, other: Estimate) -> float:
        """`SIGMAS` standard errors of the difference from `other` (the two errors combined
        as independent)."""
        return SIGMAS * float(np.hypot(self.stderr or 0.0, other.stderr or 0.0))


@dataclass
class TaskAudit:
    task: str
    metric: str
    parts: tuple[str, ...]
    constant: Estimate
    chance: Estimate
    oracle: Estimate
    probes: dict[str, Estimate] = field(default_factory=dict)
    control_shift: dict[str, float | None] = field(default_factory=dict)

    @property
    def floor(self) -> Estimate:
        known = [e for e in (self.constant, self.chance) if e.value is not None]
        return max(known, key=lambda e: e.value or 0.0) if known else Estimate(None)

    @property
    def best_probe(self) -> Estimate:
        known = [e for e in self.probes.values() if e.value is not None]
        return max(known, key=lambda e: e.value or 0.0) if known else Estimate(None)

    @property
    def above_floor(self) -> list[str]:
        """The probes more than `SIGMAS` standard errors above the floor."""
        floor = self.floor
        if floor.value is None:
            return []
        return [name for name, e in self.probes.items()
                if e.value is not None and e.value - floor.value > e.margin(floor)]


def estimate(samples: Sequence[Parts], name: str, seed: int, source: str = "") -> Estimate:
    """The metric's value over `samples` and its bootstrap standard error."""
    found = metric(name).estimate(samples, seed)
    return Estimate(found.value, found.stderr, source)


@dataclass(frozen=True)
class Ran:
    """One task of one audited model: what it ran on, and its tally."""

    run: TaskRun
    tally: TaskTally

    @property
    def scored(self) -> dict[int, Parts]:
        return {s.index: s.metrics for s in self.tally.scored}

    def samples(self) -> Iterator[tuple[int, Sample]]:
        """Each sample with its dataset index, read again as needed."""
        return ((self.run.kept[p], self.run.sample(p)) for p in range(len(self.run)))

    def individuals(self) -> dict[int, int]:
        """How many named individuals each sample's context holds (0: names unknown)."""
        return {index: len({c.name for c in s.context}) if all(c.name for c in s.context)
                else 0 for index, s in self.samples()}


class Auditor:
    """Runs the models of the audit through `evaluate` with the same dataset, judge and
    limit, and turns their records into estimates."""

    def __init__(self, base: EvalSettings):
        self.base = base
        self.provenance: dict[str, Any] = {}  # judge, datasets, versions: the blind run's

    def runs(self, model: str, tasks: Sequence[str], model_args: dict[str, Any] | None = None,
             controls: Sequence[str] = ()) -> tuple[dict[str, Ran], dict[str, Any]]:
        outcome = evaluate(replace(self.base, model=model, model_args=model_args or {},
                                   tasks=list(tasks), controls=list(controls)))
        return ({run.name: Ran(run, outcome.tallies[run.name]) for run in outcome.runs},
                outcome.results)

    def audit(self, tasks: Sequence[str]) -> list[TaskAudit]:
        """One audit per task and headline metric, in task order."""
        seed = self.base.seed
        blind, results = self.runs("blind", tasks)
        self.provenance = {key: results[key] for key in
                           ("judge", "datasets", "prompts", "git_hash", "package_versions")}
        unknown = [name for name, ran in blind.items() if not ran.run.scorer.headlines]
        if unknown:
            raise ConfigError(f"the audit has no headline metric for task(s) "
                              f"{', '.join(unknown)}: their scorers declare no `headlines`")
        audits = [TaskAudit(name, headline, metric(headline).parts,
                            self._constant(ran, headline), self._chance(ran, headline),
                            self._oracle(name, headline))
                  for name, ran in blind.items()
                  for headline in ran.run.scorer.headlines]
        for probe in PROBES:
            runs, results = self.runs(probe, list(blind), controls=CONTROLS)
            typed = ResultsFile.model_validate(results)
            for audit in audits:
                audit.probes[probe] = estimate(list(runs[audit.task].scored.values()),
                                               audit.metric, seed, probe)
                audit.control_shift[probe] = _control_shift(typed, audit.task, audit.parts)
        return audits

    def _constant(self, blind: Ran, headline: str) -> Estimate:
        """The best constant answer: nothing (`blind`), or one of the scorer's
        `constant_answers`."""
        seed = self.base.seed
        best = estimate(list(blind.scored.values()), headline, seed, "blind")
        for answer in blind.run.scorer.constant_answers(s for _, s in blind.samples()):
            runs, _ = self.runs("probe-constant", [blind.tally.name], {"answer": answer})
            found = estimate(list(runs[blind.tally.name].scored.values()), headline, seed,
                             answer)
            if (found.value or 0.0) > (best.value or 0.0):
                best = found
        return best

    def _chance(self, blind: Ran, headline: str) -> Estimate:
        """A uniform guess among each sample's individuals, in expectation: every pick of
        `probe-one-individual`, averaged per sample over its own individuals."""
        individuals = blind.individuals()
        most = max(individuals.values(), default=0)
        if most == 0:
            return Estimate(None, None, "chance: names unknown")
        task = blind.tally.name
        picked = [self.runs("probe-one-individual", [task], {"pick": p})[0][task].scored
                  for p in range(most)]
        expected = []
        for index, count in individuals.items():
            mine = [scored[index] for scored in picked[:count] if index in scored]
            if count and len(mine) == count:
                expected.append({m: (sum(p[m][0] for p in mine if m in p) / count,
                                     sum(p[m][1] for p in mine if m in p) / count)
                                 for m in metric(headline).parts})
        return estimate(expected, headline, self.base.seed, "chance")

    def _oracle(self, task: str, headline: str) -> Estimate:
        try:
            runs, _ = self.runs("oracle", [task])
        except ConfigError:  # the dataset does not say which entries are present
            return Estimate(None, None, "oracle: positives unknown")
        return estimate(list(runs[task].scored.values()), headline, self.base.seed, "oracle")


def _control_shift(results: ResultsFile, task: str, parts: Sequence[str]) -> float | None:
    """The largest change of the headline under any control (0 for a model that never looks)."""
    def headline(rows: Mapping[str, MetricRow]) -> float | None:
        row = rows.get(task)
        values = [row.value(m) if row is not None else None for m in parts]
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if len(known) == len(values) else None

    base = headline(results.results)
    shifts = [headline(rows) for rows in results.controls.values()]
    known = [abs(s - base) for s in shifts if s is not None and base is not None]
    return max(known) if known else None


def report(audits: Sequence[TaskAudit], settings: EvalSettings,
           provenance: dict[str, Any]) -> dict[str, Any]:
    """What `coviP-eval audit` writes, with the judge, dataset revisions, prompt hashes and
    versions it ran with (`provenance`)."""
    def row(a: TaskAudit) -> dict[str, Any]:
        out = asdict(a)
        out.update(floor=asdict(a.floor), best_probe=asdict(a.best_probe),
                   above_floor=a.above_floor)
        return out

    return {"dataset": settings.dataset or "builtin:mini", **provenance,
            "limit": settings.limit, "seed": settings.seed, "sigmas": SIGMAS,
            "probes": list(PROBES), "controls": list(CONTROLS),
            "audits": [row(a) for a in audits],
            "passed": not any(a.above_floor for a in audits)}


def _pct(e: Estimate) -> str:
    if e.value is None:
        return "n/a"
    return f"{100 * e.value:.1f}" + (f" ± {100 * e.stderr:.1f}" if e.stderr else "")


def format_audit(audits: Sequence[TaskAudit]) -> str:
    """Two markdown tables: per task its floor, best probe and oracle; then every probe."""
    lines = ["|Task|Metric|Constant|Chance|Best probe|Oracle|Verdict|",
             "|----|------|-------:|-----:|----------|-----:|-------|"]
    for a in audits:
        best = a.best_probe
        verdict = ("above the floor: " + ", ".join(a.above_floor)) if a.above_floor else \
            "within the floor"
        lines.append(f"|{a.task}|{a.metric}|{_pct(a.constant)} ({a.constant.source})|"
                     f"{_pct(a.chance)}|{_pct(best)} ({best.source})|{_pct(a.oracle)}|"
                     f"{verdict}|")
    probes = list(audits[0].probes) if audits else []
    lines += ["", "|Task|Metric|" + "|".join(probes) + "|",
              "|----|------|" + "|".join("---:" for _ in probes) + "|"]
    for a in audits:
        cells = []
        for p in probes:
            shift = a.control_shift.get(p)
            moved = f" (moves {100 * shift:.1f} under controls)" if shift else ""
            cells.append(_pct(a.probes[p]) + moved)
        lines.append(f"|{a.task}|{a.metric}|" + "|".join(cells) + "|")
    return "\n".join(lines)

