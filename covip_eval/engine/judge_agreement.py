"""Judge agreement: the outputs of a finished run re-judged by two judges, compared decision
by decision (Cohen's kappa, the confusion matrix, each judge's failures), overall, per task
and per number of concepts. It is how the offline judge is validated against an LLM judge
before its numbers are relied on.

The judge items are rebuilt exactly as the evaluation built them: each samples file's
results file names the dataset and the scorer, and the scorer makes the items from the
sample and the output.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark import load_benchmark
from covip_eval.engine.results import results_path
from covip_eval.errors import ConfigError
from covip_eval.judges.base import Judge, JudgeItem
from covip_eval.registry import scorer_class
from covip_eval.result_files import ResultsFile, read_samples

FAILED = "(failed)"


@dataclass(frozen=True)
class Decision:
    task: str
    n_concepts: int
    item: JudgeItem


def _samples_files(path: Path) -> list[Path]:
    files = sorted(path.rglob("samples_*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise ConfigError(f"--samples {path}: no samples_*.jsonl file there (run coviP-eval "
                          "with --log_samples)")
    return files




def decisions(path: Path) -> list[Decision]:
    """Every judge decision of the judged tasks in the samples files under `path`."""
    out = []
    for samples in _samples_files(path):
        found, task = results_path(samples)
        if not found.is_file():
            raise ConfigError(f"{samples}: its results file {found.name} is missing (it names "
                              "the dataset and the scorer)")
        results = ResultsFile.read(found)
        config = results.configs.get(task)
        if config is None or not scorer_class(config["scorer"]).needs_judge:
            continue
        scorer = scorer_class(config["scorer"])()
        source = results.datasets[task]
        by_id = {s.sample_id: s for s in
                 load_benchmark(source.spec, source.config, progress=False).samples}
        for line in read_samples(samples):
            text = (line.filtered_resps or [None])[0]
            sample = by_id.get(line.doc.sample_id)
            if text is None or sample is None:
                continue
            out += [Decision(task, sample.n_concepts, item)
                    for item in scorer.judge_items(sample, text)]
    if not out:
        raise ConfigError(f"--samples {path}: no judged outputs (CapEval-QA or LAR) to compare")
    return out


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(left[k] * right[k] for k in left) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def _summary(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    both = [(a, b) for a, b in pairs if FAILED not in (a, b)]
    confusion: dict[str, Counter] = defaultdict(Counter)
    for a, b in pairs:
        confusion[a][b] += 1
    return {
        "decisions": len(pairs),
        "compared": len(both),
        "agreement": sum(a == b for a, b in both) / len(both) if both else None,
        "kappa": cohen_kappa(both),
        "failures_a": sum(a == FAILED for a, _ in pairs),
        "failures_b": sum(b == FAILED for _, b in pairs),
        "confusion": {a: dict(sorted(row.items())) for a, row in sorted(confusion.items())},
    }


def compare(found: list[Decision], judge_a: Judge, judge_b: Judge) -> dict[str, Any]:
    """Both judges on every decision; agreement overall, per task, per number of concepts."""
    items = [d.item for d in found]
    verdicts = [judge.grade(items) for judge in (judge_a, judge_b)]
    answers = [[v.answer if v.answer is not None and v.failure is None else FAILED for v in vs]
               for vs in verdicts]
    reasons = [Counter(v.failure or "no answer" for v in vs
                       if v.answer is None or v.failure is not None) for vs in verdicts]
    pairs = list(zip(*answers))
    groups: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(found):
        groups[f"task {d.task}"].append(i)
        if d.task.startswith("capeval"):
            groups[f"{d.task} n{d.n_concepts}"].append(i)
    return {"judge_a": judge_a.identity, "judge_b": judge_b.identity, "all": _summary(pairs),
            "failure_reasons": {side: {str(k)[:300]: n for k, n in r.most_common(5)}
                                for side, r in zip("ab", reasons)},
            "groups": {k: _summary([pairs[i] for i in ids]) for k, ids in sorted(groups.items())}}


def failed_judges(report: dict[str, Any], limit: float) -> list[str]:
    """One line per judge that failed on more than `limit` of the decisions, with its
    commonest reason: such a comparison says little about agreement."""
    total = report["all"]["decisions"]
    lines = []
    for side in "ab":
        failed = report["all"][f"failures_{side}"]
        if total and failed / total > limit:
            reason = next(iter(report["failure_reasons"][side]), "unknown")
            lines.append(f"judge {side.upper()} failed on {failed} of {total} decisions "
                         f"(above --max_failure_rate {limit}), e.g. {reason}")
    return lines


def format_report(report: dict[str, Any]) -> str:
    def line(name: str, s: dict[str, Any]) -> str:
        agreement = "n/a" if s["agreement"] is None else f"{100 * s['agreement']:.1f}"
        kappa = "n/a" if s["kappa"] is None else f"{s['kappa']:.3f}"
        return (f"|{name}|{s['decisions']}|{agreement}|{kappa}|{s['failures_a']}|"
                f"{s['failures_b']}|")

    rows: Iterable[str] = (line(k, s) for k, s in report["groups"].items())
    confusion = report["all"]["confusion"]
    labels = sorted({b for row in confusion.values() for b in row} | set(confusion))
    matrix = ["|A \\ B|" + "|".join(labels) + "|", "|---|" + "---:|" * len(labels)]
    matrix += [f"|{a}|" + "|".join(str(confusion.get(a, {}).get(b, 0)) for b in labels) + "|"
               for a in labels]
    return "\n".join(["|Decisions|n|Agreement %|Cohen's kappa|Failed (A)|Failed (B)|",
                      "|---|---:|---:|---:|---:|---:|", line("all", report["all"]), *rows, "",
                      "Confusion matrix, all decisions (rows: judge A, columns: judge B):",
                      *matrix])
