"""The result files' models: what a run writes reads back whole, a malformed file is a
one-line error naming where, and lm-eval's key conventions are spelt in one module."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from covip_eval.engine.run import EvalSettings, evaluate
from covip_eval.result_files import (
    MetricRow,
    ResultFileError,
    ResultsFile,
    SamplesLine,
    read_samples,
)

ROOT = Path(__file__).parent.parent


def test_a_run_writes_what_the_models_read_back(tmp_path: Path, small_dataset: Path) -> None:
    outcome = evaluate(EvalSettings(model="retrieval", tasks=["capeval_qa", "lsd_cag"],
                                    dataset=str(small_dataset), judge="lexical",
                                    output_path=tmp_path, log_samples=True, progress=False))
    assert outcome.results_path is not None
    written = json.loads(outcome.results_path.read_text())
    typed = ResultsFile.read(outcome.results_path)
    assert typed.dump() == written  # no key lost or changed on the way
    row = typed.results["capeval_qa"]
    assert row.metrics() == ["acc_pos", "acc_neg", "recognition_f1"]
    assert row.value("acc_pos") == written["results"]["capeval_qa"]["acc_pos,none"]
    for path in outcome.samples_paths:
        lines = list(read_samples(path))
        assert [json.loads(text) for text in path.read_text().splitlines()] == \
            [json.loads(line.to_json()) for line in lines]
        scored = [line for line in lines if line.metrics]
        assert scored and all(getattr(line, m) == (n / d if d else None)
                              for line in scored for m, (n, d) in line.metrics.items())


def test_not_available_and_errors_read_as_none() -> None:
    row = MetricRow.of("t", {"acc": (None, None), "f1": (0.5, 0.1)})
    assert row.dump() == {"alias": "t", "acc,none": "N/A", "acc_stderr,none": "N/A",
                          "f1,none": 0.5, "f1_stderr,none": 0.1}
    assert (row.value("acc"), row.stderr("acc"), row.value("f1")) == (None, None, 0.5)
    assert row.metrics() == ["acc", "f1"] and row.value("missing") is None


def test_malformed_files_are_one_line_errors_naming_where(tmp_path: Path) -> None:
    results = tmp_path / "results_x.json"
    results.write_text(json.dumps({"results": {"t": {"alias": 3}}, "config": {}, "judge": None,
                                   "prompts": {}, "datasets": {}, "date": 1.0}))
    with pytest.raises(ResultFileError, match=r"results_x.json: .*\(results\.t\.alias: "):
        ResultsFile.read(results)
    samples = tmp_path / "samples_t_x.jsonl"
    good = SamplesLine.of({"doc_id": 0, "doc": {"sample_id": "a", "n_concepts": 1}})
    samples.write_text(good.to_json() + "\n" + json.dumps({"doc": {"sample_id": "b",
                                                                   "n_concepts": 1}}) + "\n")
    with pytest.raises(ResultFileError, match=r"samples_t_x.jsonl: line 2: .*missing doc_id"):
        list(read_samples(samples))


def test_lm_evals_key_conventions_are_spelt_in_one_module() -> None:
    """`,none`, `_stderr,` and `N/A` appear in no project module but result_files.py."""
    spelt = re.compile(r"""[\"'](?:[^\"'\n]*,none|N/A)[\"']|_stderr,""")
    found = [f"{path.relative_to(ROOT)}:{n}"
             for package in ("benchmark", "tasks", "covip_eval", "leaderboard", "coviP_train",
                             "bench")
             for path in (ROOT / package).rglob("*.py") if path.name != "result_files.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if spelt.search(line)]
    assert found == []
