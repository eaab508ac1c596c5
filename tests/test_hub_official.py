"""Hub publishing (dry run), the official layouts in and out, and re-scoring captions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from benchmark import DatasetError, load_benchmark
from benchmark.loading import _undecoded
from benchmark.official import export_capeval, export_downstream, guess_name, import_capeval
from benchmark.rows import RowReader
from covip_eval.cli.build import main as build_main
from covip_eval.cli.evaluate import main as eval_main
from covip_eval.engine.run import EvalSettings, evaluate


def test_push_dry_run_round_trip(small_dataset: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    repo = tmp_path / "repo"
    assert build_main(["push", str(small_dataset), "--repo-id", "someone/covip-mini",
                       "--dry-run", "--out", str(repo)]) == 0
    card = (repo / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert [c["config_name"] for c in meta["configs"]] == ["capeval_qa", "lsd", "lar", "itr"]
    assert meta["license"] and meta["task_categories"] and meta["dataset_info"]
    assert "coviP-eval --model MODEL --tasks covip --dataset someone/covip-mini" in card
    assert "@article{oh2026contextualized" in card
    for config in ("capeval_qa", "itr"):
        # its own cache: datasets keys a local folder's cache by name, not by content
        ds = load_dataset(str(repo), config, split="test", cache_dir=str(tmp_path / "hf-cache"))
        ds = ds.cast(_undecoded(ds.features))
        reloaded = RowReader(str(repo)).read(config, ds.to_list())
        assert tuple(reloaded) == load_benchmark(str(small_dataset), config).samples


def test_datasets_reads_a_repo_and_a_build_folder_without_a_warning(
        small_dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A pushed repository with no configuration named loads its default (CapEval-QA), any
    configuration by name, and so does a build folder as written; `datasets` warns of
    nothing (its warnings are log records; any counts as a failure here)."""
    import logging

    from datasets import load_dataset
    from datasets.utils.logging import set_verbosity_warning

    repo = tmp_path / "repo"
    assert build_main(["push", str(small_dataset), "--repo-id", "someone/covip-mini",
                       "--dry-run", "--out", str(repo)]) == 0
    set_verbosity_warning()
    counts = {c: len(load_benchmark(str(small_dataset), c).samples)
              for c in ("capeval_qa", "lsd")}
    with caplog.at_level(logging.WARNING, logger="datasets"):
        for n, (folder, config) in enumerate([(repo, None), (repo, "lsd"),
                                              (small_dataset, "lsd")]):
            ds = load_dataset(str(folder), config, split="test",
                              cache_dir=str(tmp_path / f"hf-cache-{n}"))
            assert len(ds) == counts[config or "capeval_qa"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_large_configs_are_sharded_with_small_row_groups(small_dataset: Path,
                                                         tmp_path: Path) -> None:
    """`datasets`' rules, shrunk: more bytes than a shard holds make several shards, read back
    in order by our loader and by `datasets`; row groups stay under their byte limit."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import load_dataset

    from benchmark.features import features_for
    from benchmark.rows import sample_to_row
    from benchmark.storage import config_files, write_config

    samples = load_benchmark(str(small_dataset), "capeval_qa").samples
    rows = [sample_to_row(s) for s in samples]
    nbytes = pa.Table.from_pylist(rows, schema=features_for("capeval_qa").arrow_schema).nbytes
    paths = write_config(tmp_path, "capeval_qa", rows, max_shard_bytes=nbytes // 2,
                         max_row_group_bytes=nbytes // 5)
    assert paths == config_files(tmp_path, "capeval_qa") and len(paths) == 3  # int(2.x) + 1
    assert paths[0].name == f"test-00000-of-{len(paths):05d}.parquet"
    assert load_benchmark(str(tmp_path), "capeval_qa").samples == samples
    ds = load_dataset("parquet", data_files=[str(p) for p in paths], split="train",
                      cache_dir=str(tmp_path / "hf-cache"))
    assert ds["sample_id"] == [s.sample_id for s in samples]
    meta = pq.ParquetFile(paths[0]).metadata
    assert meta.num_row_groups > 1 and meta.row_group(0).num_rows < meta.num_rows


def test_dataset_card_terms_come_from_the_dataset(small_dataset: Path, tmp_path: Path) -> None:
    """builtin:mini carries its own license and citation; other data carries what the user
    gives, and nothing by default."""
    def card(dataset: Path, *flags: str) -> tuple[dict, str]:
        out = tmp_path / f"repo{len(list(tmp_path.iterdir()))}"
        assert build_main(["push", str(dataset), "--repo_id", "someone/x", "--dry_run",
                           "--out", str(out), *flags]) == 0
        text = (out / "README.md").read_text()
        return yaml.safe_load(text.split("---")[1]), text

    meta, text = card(small_dataset)
    assert meta["license"] == "cc-by-4.0" and "@article{oh2026contextualized" in text
    other = tmp_path / "other"
    shutil.copytree(small_dataset, other)
    manifest = json.loads((other / "covip_dataset.json").read_text())
    (other / "covip_dataset.json").write_text(json.dumps({**manifest, "name": "my-photos"}))
    meta, text = card(other)
    assert "license" not in meta and "Citation" not in text and "bibtex" not in text
    bib = tmp_path / "mine.bib"
    bib.write_text("@misc{mine2026, title={My photos}}\n")
    meta, text = card(other, "--license", "cc-by-nc-4.0", "--citation", str(bib))
    assert meta["license"] == "cc-by-nc-4.0" and "@misc{mine2026, title={My photos}}" in text


def test_push_without_network_fails_in_one_line_and_hides_the_token(
        small_dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    secret = "hf_SECRET_TOKEN_1234567890"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert build_main(["push", str(small_dataset), "--repo-id", "someone/x"]) == 2
    captured = capsys.readouterr()
    assert "upload failed" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert secret not in captured.out + captured.err


@pytest.fixture
def official(small_dataset: Path, tmp_path: Path) -> Path:
    """The small dataset written in the official CapEval layout."""
    return export_capeval(load_benchmark(str(small_dataset), "capeval_qa").samples,
                          tmp_path / "official")


def test_official_capeval_round_trip(official: Path, small_dataset: Path, tmp_path: Path) -> None:
    report = import_capeval(official / "benchmark", official / "dialogues.json",
                            official / "QAS_GT_test.json", tmp_path / "imported")
    assert report.imported == 12 and report.skipped == []
    original = load_benchmark(str(small_dataset), "capeval_qa").samples
    imported = load_benchmark(str(tmp_path / "imported"), "capeval_qa").samples
    for a, b in zip(original, imported):
        assert b.sample_id.startswith("sample_")
        assert b.query_image == a.query_image and b.positive_indices == a.positive_indices
        assert [c.name for c in b.context] == [c.name for c in a.context]  # names recovered
        assert [c.qas for c in b.context] == [c.qas for c in a.context]


def test_malformed_official_entries_are_skipped_and_counted(official: Path,
                                                            tmp_path: Path) -> None:
    qas = json.loads((official / "QAS_GT_test.json").read_text())
    qas["sample_1"]["qas"]["concept_0"]["qa"][0] = "Error"
    qas["sample_2"]["gts"] = [0, 99]
    (official / "QAS_GT_test.json").write_text(json.dumps(qas))
    (official / "benchmark" / "sample_3" / "concepts" / "concept_2.png").unlink()
    report = import_capeval(official / "benchmark", official / "dialogues.json",
                            official / "QAS_GT_test.json", tmp_path / "imported")
    assert report.imported == 9
    reasons = {s["sample"]: s["reason"] for s in report.skipped}
    assert "a QA must be an object, got str" in reasons["sample_1"]
    assert "positive index 99 out of range" in reasons["sample_2"]
    assert "images_context[2]" in reasons["sample_3"] and "cannot read image" in reasons["sample_3"]
    manifest = json.loads((tmp_path / "imported" / "covip_dataset.json").read_text())
    assert manifest["import_report"]["skipped"] == 3


def test_official_excerpt_names_are_recovered() -> None:
    excerpt = json.loads((Path(__file__).parent / "data" / "official_qas_excerpt.json")
                         .read_text())
    questions = [q["question"] for q in excerpt["sample_0"]["qas"]["concept_0"]["qa"]]
    assert guess_name(questions, "User: This is Seth, he loves the park.") == "Seth"
    assert guess_name(questions, "User: a dialogue that never names anyone.") == ""


def test_downstream_official_layout_loads(small_dataset: Path, tmp_path: Path) -> None:
    original = load_benchmark(str(small_dataset), "lar").samples
    export_downstream(original, tmp_path / "lar")
    loaded = load_benchmark(str(tmp_path / "lar"), "lar").samples
    assert [s.last_action for s in loaded] == [s.last_action for s in original]
    assert [c.image for c in loaded[0].context] == [c.image for c in original[0].context]
    with pytest.raises(DatasetError, match="field 'answer': missing"):
        shutil.rmtree(tmp_path / "lar")
        export_downstream([s.__class__(**{**s.__dict__, "answer": ""}) for s in original],
                          tmp_path / "lar")
        load_benchmark(str(tmp_path / "lar"), "lsd")


def test_rescoring_reproduces_a_normal_run(small_dataset: Path, tmp_path: Path) -> None:
    normal = evaluate(EvalSettings(model="retrieval", tasks=["capeval_qa"],
                                   dataset=str(small_dataset), judge="lexical",
                                   output_path=tmp_path / "run", log_samples=True,
                                   progress=False)).results
    samples = next((tmp_path / "run").rglob("samples_capeval_qa_*.jsonl"))
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    keyed = tmp_path / "captions_keyed.json"
    keyed.write_text(json.dumps({r["doc"]["sample_id"]: {"caption": r["filtered_resps"][0]}
                                 for r in records}))
    listed = tmp_path / "captions_list.json"
    listed.write_text(json.dumps([r["filtered_resps"][0] for r in records]))
    for captions in (samples, keyed, listed):
        out = tmp_path / f"score_{captions.stem}"
        assert eval_main(["score", "--captions", str(captions), "--dataset", str(small_dataset),
                          "--judge", "lexical", "--output_path", str(out), "--use_cache", "none",
                          "--no_progress"]) == 0
        rescored = json.loads(next(out.rglob("results_*.json")).read_text())
        assert rescored["results"] == normal["results"]


def test_rescoring_reports_missing_captions(small_dataset: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"capeval_00000": "Someone is here."}))
    results = evaluate(EvalSettings(model="captions", model_args={"path": str(partial)},
                                    tasks=["capeval_qa"], dataset=str(small_dataset),
                                    judge="lexical", progress=False)).results
    assert results["counts"]["capeval_qa"]["n_scored"] == 1
    assert sum(results["failures"]["capeval_qa"].values()) == 11
