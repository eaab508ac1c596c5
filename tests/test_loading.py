"""Validation errors name the file, row and field; loaders round-trip every layout."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from benchmark import DatasetError, load_benchmark
from benchmark.rows import RowReader, sample_to_row
from benchmark.storage import write_config


@pytest.fixture(scope="module")
def rows(small_dataset: Path) -> list[dict]:
    return [sample_to_row(s) for s in load_benchmark(str(small_dataset), "capeval_qa").samples]


def _read(rows: list[dict]) -> None:
    RowReader("bad.parquet").read("capeval_qa", rows)


def _broken(rows: list[dict], edit) -> list[dict]:
    broken = copy.deepcopy(rows[:3])
    edit(broken[1])
    return broken


CASES = [
    ("missing image", lambda r: r["images_context"].__setitem__(0, {"bytes": None, "path": None}),
     "row 1: field 'images_context[0]': missing image"),
    ("corrupt image", lambda r: r.__setitem__("query_image", {"bytes": b"\x89PNG\r\n\x1a\nxx"}),
     "row 1: field 'query_image': corrupt image"),
    ("correct answer D", lambda r: r["qas_context"][0][0].__setitem__("correct_answer", "D"),
     "row 1: field 'qas_context[0][0].correct_answer': must be exactly one of A, B, C"),
    ("two letters", lambda r: r["qas_context"][0][1].__setitem__("correct_answer", "A,B"),
     "field 'qas_context[0][1].correct_answer'"),
    ("D not cannot-determine",
     lambda r: r["qas_context"][1][0]["options"].__setitem__("D", "Paris"),
     "field 'qas_context[1][0].options.D': must say 'cannot be determined'"),
    ("positive out of range", lambda r: r.__setitem__("gts", [0, 99]),
     "row 1: field 'gts': positive index 99 out of range"),
    ("empty dialogue", lambda r: r["dialogues_context"].__setitem__(2, "   "),
     "row 1: field 'dialogues_context[2]': empty dialogue"),
    ("missing field", lambda r: r.pop("images_context"), "row 1: field 'images_context': missing"),
    ("qa is the string Error", lambda r: r["qas_context"][0].__setitem__(0, "Error"),
     "field 'qas_context[0][0]': a QA must be an object"),
]


@pytest.mark.parametrize(("label", "edit", "message"), CASES, ids=[c[0] for c in CASES])
def test_validation_errors(rows: list[dict], label: str, edit, message: str) -> None:
    with pytest.raises(DatasetError) as exc:
        _read(_broken(rows, edit))
    assert str(exc.value).startswith("bad.parquet: ")
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_good_rows_read(rows: list[dict]) -> None:
    _read(rows)


def test_parquet_round_trip(tmp_path: Path, small_dataset: Path) -> None:
    original = load_benchmark(str(small_dataset), "lar").samples
    write_config(tmp_path, "lar", [sample_to_row(s) for s in original])
    assert load_benchmark(str(tmp_path), "lar").samples == original


def test_save_to_disk_round_trip(tmp_path: Path, small_dataset: Path) -> None:
    from datasets import Dataset

    from benchmark.features import features_for

    original = load_benchmark(str(small_dataset), "capeval_qa").samples
    ds = Dataset.from_list([sample_to_row(s) for s in original],
                           features=features_for("capeval_qa"))
    ds.save_to_disk(str(tmp_path / "capeval_qa"))
    assert load_benchmark(str(tmp_path), "capeval_qa").samples == original


def _jsonl_folder(folder: Path, samples, image_path) -> None:
    lines = []
    for n, s in enumerate(samples):
        row = sample_to_row(s)
        for k, c in enumerate(s.context):
            (folder / "images").mkdir(parents=True, exist_ok=True)
            (folder / "images" / f"{n}_{k}.png").write_bytes(c.image.data)
            row["images_context"][k] = image_path(n, k)
        (folder / "images" / f"{n}_q.png").write_bytes(s.query_image.data)
        row["query_image"] = f"images/{n}_q.png"
        lines.append(json.dumps(row))
    (folder / "itr.jsonl").write_text("\n".join(lines) + "\n")


def test_jsonl_with_image_files_round_trip(tmp_path: Path, small_dataset: Path) -> None:
    original = load_benchmark(str(small_dataset), "itr").samples
    _jsonl_folder(tmp_path, original, lambda n, k: f"images/{n}_{k}.png")
    assert load_benchmark(str(tmp_path), "itr").samples == original


def test_image_path_escaping_the_folder_is_refused(tmp_path: Path, small_dataset: Path) -> None:
    original = load_benchmark(str(small_dataset), "itr").samples[:1]
    (tmp_path / "secret.png").write_bytes(original[0].query_image.data)
    folder = tmp_path / "ds"
    _jsonl_folder(folder, original, lambda n, k: "../secret.png")
    with pytest.raises(DatasetError, match="escapes the dataset folder"):
        load_benchmark(str(folder), "itr")


def test_unknown_sources_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no data for configuration 'lsd'"):
        load_benchmark(str(tmp_path), "lsd")
    with pytest.raises(DatasetError, match="unknown configuration"):
        load_benchmark(str(tmp_path), "nope")
    with pytest.raises(DatasetError, match="unknown built-in dataset"):
        load_benchmark("builtin:huge", "lsd")


def _cache_snapshot(cache: Path, repo_id: str, commit: str, source: Path, config: str) -> None:
    """A Hub dataset as huggingface_hub caches it after a download: a snapshot folder named by
    its commit, and the branch's ref pointing to it."""
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    (repo / "snapshots" / commit).mkdir(parents=True)
    shutil.copytree(source / config, repo / "snapshots" / commit / config)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_hub_offline_loads_a_cached_revision(small_dataset: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # both libraries read these at import, before a test can set the environment
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    commit = "0123456789abcdef0123456789abcdef01234567"
    _cache_snapshot(tmp_path / "hub", "someone/covip-mini", commit, small_dataset, "lsd")
    expected = load_benchmark(str(small_dataset), "lsd").samples
    for spec in (f"someone/covip-mini@{commit}", "someone/covip-mini@main",
                 "someone/covip-mini"):
        loaded = load_benchmark(spec, "lsd")
        assert loaded.samples == expected and loaded.revision == commit
        assert loaded.location == f"hf://datasets/someone/covip-mini@{commit}"
    with pytest.raises(DatasetError, match="offline.*'lar' of this revision is not in the"):
        load_benchmark(f"someone/covip-mini@{commit}", "lar")
    with pytest.raises(DatasetError, match="offline"):
        load_benchmark("someone/never-fetched@main", "lsd")


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_data_file_is_a_one_line_error_naming_it(small_dataset: Path, tmp_path: Path,
                                                           damage: str) -> None:
    from covip_eval.cli.evaluate import main

    damaged = tmp_path / "damaged"
    shutil.copytree(small_dataset, damaged)
    (shard,) = sorted((damaged / "lsd").glob("*.parquet"))
    data = shard.read_bytes()
    shard.write_bytes(data[:len(data) // 2] if damage == "truncate"
                      else data[:100] + bytes([data[100] ^ 1]) + data[101:])
    with pytest.raises(DatasetError, match="corrupt or truncated") as caught:
        load_benchmark(str(damaged), "lsd")
    assert str(shard) in str(caught.value)
    (damaged / "covip_dataset.json").unlink()  # no checksums to compare: the reader says it
    if damage == "truncate":
        with pytest.raises(DatasetError, match="not a readable parquet file"):
            load_benchmark(str(damaged), "lsd")
    assert main(["--model", "blind", "--tasks", "capeval_qa", "--dataset", str(damaged),
                 "--limit", "1", "--judge", "lexical", "--no_progress"]) == 0  # others load
