"""A run holds a step of samples at a time: results do not depend on the step, and what is
done is let go."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import benchmark.storage as storage
from benchmark import CapEvalSample, DiagnosticSample
from benchmark.loading import ParquetSamples
from benchmark.mini import MiniSizes, build_mini
from covip_eval.engine.evaluator import SampleRecord
from covip_eval.engine.generation import GenerationRunner
from covip_eval.engine.run import EvalSettings, evaluate

TASKS = ["capeval_qa", "lsd_direct", "lar_cag", "itr_direct"]


def _run(dataset: Path, out: Path, step_size: int) -> tuple[dict, dict[str, str]]:
    outcome = evaluate(EvalSettings(model="retrieval", tasks=TASKS, dataset=str(dataset),
                                    judge="lexical",
                                    controls=["blank", "swap"], output_path=out,
                                    log_samples=True, progress=False, step_size=step_size))
    results = {k: v for k, v in outcome.results.items() if k not in ("date", "usage")}
    samples = {p.name.split("_20")[0]: p.read_text() for p in outcome.samples_paths}
    return results, samples


def test_small_steps_give_the_results_and_samples_of_one_step(small_dataset: Path,
                                                               tmp_path: Path) -> None:
    """Metrics, standard errors, controls (swap takes the next sample's image, across steps),
    CAG's second stage and every samples line are those of a run in one step."""
    whole, whole_samples = _run(small_dataset, tmp_path / "one", 1000)
    stepped, stepped_samples = _run(small_dataset, tmp_path / "steps", 2)
    assert stepped == whole
    assert stepped_samples == whole_samples and len(whole_samples) == len(TASKS)
    assert not list(tmp_path.rglob("*.partial"))


@pytest.fixture(scope="module")
def small_groups(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mini dataset whose parquet row groups hold 2 rows."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage, "MAX_ROW_GROUP_ROWS", 2)
        return build_mini(tmp_path_factory.mktemp("groups") / "mini", seed=3, workers=1,
                          sizes=MiniSizes(capeval_per_count=4, lsd=4, lar=4, itr=4),
                          progress=False)


def _live(kind: type | tuple[type, ...]) -> int:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    gc.collect()
    # by exact type: isinstance would touch deprecated proxies of other libraries
    return sum(type(o) in kinds for o in gc.get_objects())


def test_a_run_holds_one_step_of_records_and_samples(small_groups: Path, monkeypatch) -> None:
    """While the model generates, only the records of the step in flight exist, and only the
    samples of the step and of the row groups being read (16 samples, steps of 2)."""
    seen: list[tuple[int, int]] = []
    run = GenerationRunner.run
    samples = (CapEvalSample, DiagnosticSample)
    before = (_live(SampleRecord), _live(samples))  # what earlier tests left alive

    def counting(self, requests, desc):
        seen.append((_live(SampleRecord) - before[0], _live(samples) - before[1]))
        return run(self, requests, desc)

    monkeypatch.setattr(GenerationRunner, "run", counting)
    outcome = evaluate(EvalSettings(model="retrieval", tasks=["capeval_qa"], judge="lexical",
                                    dataset=str(small_groups), progress=False, step_size=2))
    assert outcome.results["outcomes"]["capeval_qa"]["samples"] == 16 and len(seen) == 8
    assert max(records for records, _ in seen) <= 2
    # the step's 2, and two cached row groups of 2 rows
    assert max(samples for _, samples in seen) <= 2 + 2 * 2


def test_parquet_samples_read_their_group_again(small_groups: Path) -> None:
    from benchmark import load_benchmark

    samples = load_benchmark(str(small_groups), "capeval_qa", progress=False).samples
    assert isinstance(samples, ParquetSamples) and len(samples) == 16
    ids = [s.sample_id for s in samples]
    assert len(set(ids)) == 16 and samples[-1].sample_id == ids[-1]
    assert [s.sample_id for s in samples[3:6]] == ids[3:6]
    first = samples[0]
    assert first.query_image.data == samples[0].query_image.data  # bytes read from the file
    with pytest.raises(IndexError):
        samples[16]


def test_a_run_that_stops_midway_leaves_only_partial_samples_files(small_dataset: Path,
                                                                    tmp_path: Path,
                                                                    monkeypatch) -> None:
    """Lines written before the stop stay in `.partial` files: nothing half-written looks
    like a finished samples file, and no results file is written."""
    calls = []
    run = GenerationRunner.run

    def stopping(self, requests, desc):
        calls.append(desc)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return run(self, requests, desc)

    monkeypatch.setattr(GenerationRunner, "run", stopping)
    with pytest.raises(KeyboardInterrupt):
        evaluate(EvalSettings(model="retrieval", tasks=["lsd_direct"], judge="lexical",
                              dataset=str(small_dataset), output_path=tmp_path,
                              log_samples=True, progress=False, step_size=1))
    partial = list(tmp_path.rglob("*.partial"))
    assert len(partial) == 1 and len(partial[0].read_text().splitlines()) == 2
    assert not list(tmp_path.rglob("*.jsonl")) and not list(tmp_path.rglob("results_*.json"))
