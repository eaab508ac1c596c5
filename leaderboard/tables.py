"""The paper's Table 2 (CapEval-QA) and Table 3 (downstream) layouts, reported and measured rows.

Scores are percentages with one decimal, as in the paper. Reported rows keep the paper's model
names and say where they come from; measured rows name their result file.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from covip_eval.metrics import Estimate, metric
from covip_eval.result_files import SamplesLine
from leaderboard.runs import ResultFileError, Run

REFERENCE_DIR = Path(__file__).parent / "reference"
REPORTED = "reported (paper)"
PAPER_BASE, PAPER_TARGET = "Qwen3-VL-8B", "Qwen3-VL-8B + CoViP"
GROUP_ORDER = ("proprietary", "open", "post-trained", "ours", "measured")

CAPEVAL_COLUMNS = [(f"{m}_{n}", f"{'Acc+' if m == 'acc_pos' else 'Acc-'} ({n})")
                   for n in (1, 2, 3, 4) for m in ("acc_pos", "acc_neg")]
# ours, measured rows only: the mean of Acc+ and Acc- over all samples, which saying nothing
# and saying everything both put at 50
CAPEVAL_COLUMNS.append(("acc_mean_all", "mean(Acc+, Acc-) (all)"))
DOWNSTREAM_COLUMNS = [(f"{t}_{mode}", f"{t.upper()} {'Direct' if mode == 'direct' else 'CAG'}")
                      for t in ("lsd", "lar", "itr") for mode in ("direct", "cag")]
DOWNSTREAM_METRIC = {"lsd": "token_f1", "lar": "accuracy", "itr": "keyword_recall"}
# facts about a measured row, never compared for "best": samples scored and failed (over the
# table's tasks), and the drop of Acc+ under each visual-reliance control
COUNT_COLUMNS = [("n_scored", "n scored"), ("failed", "failed")]
CONTROL_COLUMNS = [(f"{c}_drop", f"Acc+ Δ {c}") for c in ("blank", "swap")]
INFO_KEYS = {k for k, _ in COUNT_COLUMNS + CONTROL_COLUMNS}
SIGMAS = 2.0
PAIRED_SEED = 0


@dataclass
class Row:
    label: str
    group: str
    source: str
    values: dict[str, float | None]
    delta: bool = False
    stderr: dict[str, float] = field(default_factory=dict)  # a delta's paired standard errors

    def within_noise(self, key: str) -> bool:
        """A delta within `SIGMAS` paired standard errors of zero: not told apart."""
        value, stderr = self.values.get(key), self.stderr.get(key)
        return value is not None and stderr is not None and abs(value) <= SIGMAS * stderr

    @property
    def reported(self) -> bool:
        return self.source == REPORTED


@dataclass
class Table:
    name: str
    title: str
    columns: list[tuple[str, str]]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def best(self) -> dict[tuple[bool, str], float]:
        """The best value of each column (higher is better), among reported rows and among
        measured rows apart: numbers from different protocols do not compete."""
        best: dict[tuple[bool, str], float] = {}
        for reported in (True, False):
            rows = [r for r in self.rows if not r.delta and r.reported == reported]
            for key, _ in self.columns:
                if key in INFO_KEYS:
                    continue
                present = [v for r in rows if (v := r.values.get(key)) is not None]
                if present:
                    best[(reported, key)] = max(present)
        return best


def _reference_rows(table: str) -> list[Row]:
    rows: dict[str, Row] = {}
    if table == "capeval":
        with (REFERENCE_DIR / "paper_table2_capeval_qa.csv").open() as fh:
            for rec in csv.DictReader(fh):
                row = rows.setdefault(rec["model"], Row(rec["model"], rec["group"], REPORTED, {}))
                row.values[f"acc_pos_{rec['n_concepts']}"] = float(rec["acc_pos"])
                row.values[f"acc_neg_{rec['n_concepts']}"] = float(rec["acc_neg"])
    else:
        with (REFERENCE_DIR / "paper_table3_downstream.csv").open() as fh:
            for rec in csv.DictReader(fh):
                row = rows.setdefault(rec["model"], Row(rec["model"], rec["group"], REPORTED, {}))
                row.values[f"{rec['task']}_{rec['mode']}"] = float(rec["score"])
    return list(rows.values())


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _measured_row(run: Run, table: str) -> Row:
    values: dict[str, float | None]
    if table == "capeval":
        values = {f"{m}_{n}": _percent(run.metric(f"capeval_qa_n{n}", m))
                  for n in (1, 2, 3, 4) for m in ("acc_pos", "acc_neg")}
        parts = metric("acc_mean").parts
        both = [v for m in parts if (v := run.metric("capeval_qa", m)) is not None]
        values["acc_mean_all"] = _percent(sum(both) / len(both)) if len(both) == len(parts) \
            else None
        for control in ("blank", "swap"):
            changed = run.control_metric(control, "capeval_qa", "acc_pos")
            normal = run.metric("capeval_qa", "acc_pos")
            values[f"{control}_drop"] = None if changed is None or normal is None \
                else round(100 * (changed - normal), 1)
    else:
        values = {f"{t}_{mode}": _percent(run.metric(f"{t}_{mode}", DOWNSTREAM_METRIC[t]))
                  for t in ("lsd", "lar", "itr") for mode in ("direct", "cag")}
    outcomes = [o for t in _tasks(table) if (o := run.results.outcomes.get(t)) is not None]
    values["n_scored"] = float(sum(o.scored for o in outcomes))
    values["failed"] = float(sum(o.failed for o in outcomes))
    return Row(run.model, "measured", f"measured: {run.path.name}", values)


def _tasks(table: str) -> list[str]:
    if table == "capeval":
        return ["capeval_qa"]
    return [f"{t}_{m}" for t in ("lsd", "lar", "itr") for m in ("direct", "cag")]


def _check_comparable(runs: list[Run], table: str, allow_mismatch: bool) -> None:
    """Refuse to put numbers measured under different protocols in one column, or (unless
    allowed) over different sets of samples. A field that a run lacks (a task it did not run,
    a judge where no task is judged) does not stop the comparison."""
    tasks = _tasks(table)
    difference = _first_difference(runs, lambda run: run.protocol(tasks))
    if difference is not None:
        raise ResultFileError(f"{difference}, so their numbers do not share a column; make one "
                              "leaderboard per protocol")
    difference = _first_difference(runs, lambda run: run.sample_set(tasks))
    if difference is not None and not allow_mismatch:
        raise ResultFileError(f"{difference}, so their numbers are not comparable; rerun on the "
                              "same samples, or pass --allow_mismatch to show them together "
                              "anyway")


def _first_difference(runs: list[Run], fields: Callable[[Run], dict[str, str]]) -> str | None:
    """'A and B differ in FIELD (x against y)' for the first field two runs give apart."""
    seen: dict[str, tuple[str, Run]] = {}  # field -> its first value, and the run with it
    for run in runs:
        for name, value in fields(run).items():
            first = seen.setdefault(name, (value, run))
            if first[0] != value:
                return (f"{first[1].path} and {run.path} differ in {name} ({first[0][:120]} "
                        f"against {value[:120]})")
    return None


def _measured_note(run: Run) -> str:
    judge = run.results.judge or {}
    name = judge.get("judge", "none")
    if name == "model":
        name = f"{judge['model'].get('adapter')} {judge['model'].get('model', '')}".strip()
    kind = " (offline, deterministic)" if judge.get("deterministic") and name == "lexical" else ""
    specs = sorted({d.spec for d in run.results.datasets.values()})
    return f"Measured rows: judge {name}{kind}; dataset {', '.join(specs)}."


def _delta(rows: list[Row], base: str, target: str, columns: list[tuple[str, str]],
           runs: dict[str, Run], table: str) -> tuple[Row, str]:
    """The delta row, with paired standard errors when both rows are runs that logged the
    same samples; and a note saying what the errors are, or why there are none."""
    by_label = {r.label: r for r in rows}
    for name in (base, target):
        if name not in by_label:
            raise ResultFileError(f"--base/--target: no row named {name!r}; rows: "
                                  f"{', '.join(by_label)}")
    values = {}
    for key, _ in columns:
        if key in INFO_KEYS:
            continue
        a, b = by_label[target].values.get(key), by_label[base].values.get(key)
        values[key] = None if a is None or b is None else round(a - b, 1)
    row = Row(f"Δ {target} vs {base}", "", "difference", values, delta=True)
    if base not in runs or target not in runs:
        return row, ""
    try:
        paired = _paired(runs[base], runs[target], table, list(values))
    except ResultFileError as exc:
        return row, f"Δ has no standard errors: {exc}."
    if not paired:
        return row, "Δ has no standard errors: the runs did not log their samples (--log_samples)."
    for key, found in paired.items():
        row.values[key] = round(100 * found.value, 1)  # type: ignore[operator]
        row.stderr[key] = round(100 * found.stderr, 1)  # type: ignore[operator]
    return row, (f"Δ: the paired difference over the samples both runs scored, ± its bootstrap "
                 f"standard error (per-sample differences, resampled by sample, seed "
                 f"{PAIRED_SEED}); in parentheses: within {SIGMAS:g} of them, not told apart "
                 "from no difference.")


def _paired(base: Run, target: Run, table: str, keys: list[str]) -> dict[str, Estimate]:
    found: dict[str, Estimate] = {}
    logged: dict[tuple[int, str], list[SamplesLine]] = {}  # each samples file read once

    def records(run: Run, task: str) -> list[SamplesLine]:
        if (id(run), task) not in logged:
            logged[id(run), task] = run.samples(task)
        return logged[id(run), task]

    for key in keys:
        task, name, count = _column_metric(table, key)
        a, b = (_sample_parts(records(run, task), count) for run in (base, target))
        if a is None or b is None:
            continue
        if set(a) != set(b):
            raise ResultFileError(f"{base.path.name} and {target.path.name} logged different "
                                  f"samples of {task}, so they cannot be paired")
        scored_a = {k: parts for k, parts in a.items() if parts is not None}
        scored_b = {k: parts for k, parts in b.items() if parts is not None}
        both = scored_a.keys() & scored_b.keys()  # scored in both
        difference = metric(name).paired_difference({k: scored_a[k] for k in both},
                                                    {k: scored_b[k] for k in both}, PAIRED_SEED)
        if difference.value is not None and difference.stderr is not None:
            found[key] = difference
    return found


def _column_metric(table: str, key: str) -> tuple[str, str, int | None]:
    """The task, metric and number of concepts (None: all) a column shows."""
    if table == "capeval":
        name, _, count = key.rpartition("_")
        return "capeval_qa", name, None if count == "all" else int(count)
    task = key.partition("_")[0]
    return key, DOWNSTREAM_METRIC[task], None


def _sample_parts(records: list[SamplesLine], count: int | None
                  ) -> dict[str, dict[str, tuple[float, float]] | None] | None:
    """Each logged sample's metric parts by its content hash (None: not scored), or None
    when the run logged no samples of the task."""
    if not records:
        return None
    parts: dict[str, dict[str, tuple[float, float]] | None] = {}
    for line in records:
        if count is not None and line.doc.n_concepts != count:
            continue
        parts[line.doc_hash] = dict(line.metrics) or None
    return parts


def build_table(table: str, runs: list[Run], reference: bool, base: str | None,
                target: str | None, allow_mismatch: bool = False) -> Table:
    columns = CAPEVAL_COLUMNS if table == "capeval" else DOWNSTREAM_COLUMNS
    title = ("CapEval-QA: Acc+ / Acc- (%) by number of concepts" if table == "capeval"
             else "Downstream tasks (%): LSD token F1, LAR accuracy, ITR keyword recall")
    relevant = [r for r in runs if any(t in r.results.results for t in _tasks(table))]
    _check_comparable(relevant, table, allow_mismatch)
    if relevant:
        columns = columns + COUNT_COLUMNS
    if table == "capeval" and any(r.results.controls for r in relevant):
        columns = columns + CONTROL_COLUMNS
    result = Table(table, title, columns)
    if allow_mismatch and _first_difference(relevant, lambda r: r.sample_set(_tasks(table))):
        result.notes.append("Measured rows cover different sets of samples (--allow_mismatch):"
                            " compare them with care.")
    if reference:
        result.rows += _reference_rows(table)
        result.notes.append("Reported rows: numbers from the CoViP paper (Oh et al., 2026), "
                            "measured by its authors with their own judge and data.")
    measured = [_measured_row(r, table) for r in relevant]
    run_of = {}
    labels = [m.label for m in measured]
    for row, run in zip(measured, relevant):
        if labels.count(row.label) > 1:
            row.label = f"{row.label} [{row.source.removeprefix('measured: ')}]"
        run_of[row.label] = run
    result.rows += measured
    result.rows.sort(key=lambda r: GROUP_ORDER.index(r.group) if r.group in GROUP_ORDER else 99)
    if relevant:
        result.notes.append(_measured_note(relevant[0]))
    if base is None and reference:
        base, target = PAPER_BASE, target or PAPER_TARGET
    if base is not None:
        target = target or (measured[-1].label if measured else None)
        if target is None:
            raise ResultFileError("--base needs --target or a measured run to compare with")
        delta, note = _delta(result.rows, base, target, columns, run_of, table)
        result.rows.append(delta)
        result.notes.append(note)
    return result
