"""Writing a run's files (their models are `result_files.py`), so that nothing half-done
looks whole, and the tables printed from them.

- `results_<timestamp>.json`: written to a temporary file, then renamed.
- `samples_<task>_<timestamp>.jsonl`: appended record by record, as they complete, to
  `<name>.partial`, renamed when the whole evaluation is complete.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from covip_eval.engine.evaluator import SampleRecord, TaskRun
from covip_eval.requests import ChatRequest, ImagePart, stable_hash
from covip_eval.result_files import (
    ResultsFile,
    SamplesLine,
    per_count_name,
    read_samples,
)


def timestamp() -> str:
    return datetime.now().strftime("%Y-%m-%dT%H-%M-%S.%f")


def git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("covip-eval", "datasets", "numpy", "pillow", "torch", "transformers", "vllm",
                 "openai", "anthropic", "google-genai"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@contextmanager
def partial_file(path: Path) -> Iterator[IO[str]]:
    """An append-only file under `<path>.partial`, renamed to `path` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w") as fh:
        yield fh
    os.replace(tmp, path)


def sample_record(run: TaskRun, record: SampleRecord) -> SamplesLine:
    """One line of the samples file. `prompt_hash` is the request whose reply was scored;
    `caption_prompt_hash` the caption request (CapEval-QA, and CAG's stage 1); `caption` the
    caption a later stage answered from."""
    sample = record.sample
    target = sample.target
    score = record.score
    output = record.final_output
    text = output.text if output is not None else None
    request = record.final_request
    caption_request = record.request_of("caption")
    doc = {"sample_id": sample.sample_id, "n_concepts": sample.n_concepts,
           "names_context": [c.name for c in sample.context],
           "query_image_sha256": sample.query_image.sha256}
    caption = record.caption if run.task.reply.name != "caption" else None
    parts = dict(score.metrics) if score else {}
    return SamplesLine.of({
        "doc_id": record.index,
        "doc": doc,
        "target": target,
        "arguments": {"gen_args_0": {"arg_0": prompt_text(request),
                                     "arg_1": request.params.set_options() if request else {}}},
        "resps": [[text]],
        "filtered_resps": [text],
        "caption": caption.text if caption is not None else None,
        "failure": record.failure,
        "cut": record.cut,
        "failure_stage": "generation" if record.generation_failure is not None
        else ("judge" if record.judge_failure is not None else None),
        "metrics": parts,
        "counts": dict(score.counts) if score else {},
        "details": score.details if score else {},
        "doc_hash": stable_hash(doc),
        "prompt_hash": stable_hash(request.canonical()) if request else None,
        "caption_prompt_hash": stable_hash(caption_request.canonical()) if caption_request
        else None,
        "target_hash": stable_hash(target),
    })


def prompt_text(request: ChatRequest | None) -> str | None:
    """The request as lm-eval logs a prompt: the turns' text, `<image>` where images are."""
    if request is None:
        return None
    return "\n\n".join(f"{m.role}: " + "".join("<image>" if isinstance(p, ImagePart) else p.text
                                                for p in m.parts) for m in request.messages)


def samples_path(results_file: Path, task: str) -> Path:
    """A task's samples file beside its results file (`samples_<task>_<date>.jsonl`)."""
    stamp = results_file.stem.removeprefix("results_")
    return results_file.with_name(f"samples_{task}_{stamp}.jsonl")


def samples_for_lm_eval(results_file: Path) -> dict[str, list[dict[str, Any]]]:
    """The samples of a run as lm-eval holds them in memory (for its own tools, such as its
    W&B logger's `log_eval_samples`): every row of the results, each per-count row with the
    samples of its number of concepts, and `arguments` as a list of tuples."""
    results = ResultsFile.read(results_file)
    samples: dict[str, list[dict[str, Any]]] = {}
    for task in results.n_samples:
        path = samples_path(results_file, task)
        if not path.exists():
            continue
        lines = list(read_samples(path))
        samples[task] = records = [_for_lm_eval(line) for line in lines]
        for n in sorted({line.doc.n_concepts for line in lines}):
            row = per_count_name(task, n)
            if row in results.results:
                samples[row] = [record for record, line in zip(records, lines)
                                if line.doc.n_concepts == n]
    return samples


def _for_lm_eval(line: SamplesLine) -> dict[str, Any]:
    record = line.dump()
    record["arguments"] = [tuple(args.values()) for args in line.arguments.values()]
    return record


def results_path(samples_file: Path) -> tuple[Path, str]:
    """The results file a samples file belongs to, and its task."""
    task, _, stamp = samples_file.stem.removeprefix("samples_").rpartition("_")
    return samples_file.with_name(f"results_{stamp}.json"), task


class SamplesWriter:
    """Each task's samples file, a line written as each record completes; the files are
    renamed to their names only when the writer closes without an error."""

    def __init__(self, results_file: Path, runs: list[TaskRun]):
        self._stack = ExitStack()
        self.paths = {run.name: samples_path(results_file, run.name) for run in runs}
        self._files = {name: self._stack.enter_context(partial_file(path))
                       for name, path in self.paths.items()}

    def write(self, run: TaskRun, record: SampleRecord) -> None:
        self._files[run.name].write(sample_record(run, record).to_json() + "\n")

    def __enter__(self) -> SamplesWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}" if isinstance(value, float) else str(value)


def _typed(results: ResultsFile | dict[str, Any]) -> ResultsFile:
    return results if isinstance(results, ResultsFile) else ResultsFile.model_validate(results)


def format_controls(results: ResultsFile | dict[str, Any]) -> str:
    """Each task's metrics under every visual-reliance control, and the drop from the normal
    run (what looking at the photo is worth; a model that does not look loses nothing)."""
    typed = _typed(results)
    if not typed.controls:
        return ""
    head = "".join(f"{c}|Δ|{c} failed|" for c in typed.controls)
    lines = [f"|Task|Metric|Normal|{head}",
             "|----|------|-----:|" + "----:|---:|---:|" * len(typed.controls)]
    for name, row in typed.results.items():
        for metric in row.metrics():
            value = row.value(metric)
            cells = ""
            for control in typed.controls:
                other = typed.control_value(control, name, metric)
                cells += (f"{_fmt(other)}|{100 * (other - value):+.1f}|"
                          if other is not None and value is not None else "-|-|")
                counts = typed.control_outcomes.get(control, {}).get(name)  # per-count: none
                cells += f"{counts.failed}|" if counts else "|"
            lines.append(f"|{name}|{metric}|{_fmt(value)}|{cells}")
    return "\n".join(lines)


def format_table(results: ResultsFile | dict[str, Any]) -> str:
    """A markdown table like lm-eval's, one row per metric, with the per-concept rows."""
    typed = _typed(results)
    lines = ["|Task|Version|Metric|Value| |Stderr|Scored|Gen fail|Judge fail|Parse fail|Cut|",
             "|----|------:|------|----:|-|-----:|-----:|-------:|---------:|---------:|--:|"]
    for name, row in typed.results.items():
        version = typed.versions.get(name, "")
        outcome = typed.outcomes.get(name)  # per-count rows have none
        failed = (f"{outcome.generation_failures}|{outcome.judge_failures}" if outcome
                  else "|")
        counts = typed.counts.get(name, {})
        label = name if outcome is not None else f" - {row.alias}"
        for metric in row.metrics():
            lines.append(
                f"|{label}|{version}|{metric}|{_fmt(row.value(metric))}|±|"
                f"{_fmt(row.stderr(metric))}|{counts.get('n_scored', '')}|{failed}|"
                f"{counts.get('judge_parse_failures', 0)}|{outcome.cut_replies if outcome else ''}|"
            )
    return "\n".join(lines)
