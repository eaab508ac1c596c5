"""The built-in mini benchmark: determinism, structure, and what it must never do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark import CapEvalSample, DatasetError, DiagnosticSample, load_benchmark
from benchmark.mini import MiniSizes, build_mini
from benchmark.mini.generate import describe
from benchmark.storage import MANIFEST
from covip_eval.cli.build import main as build_main
from tests.conftest import SMALL


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path, small_dataset: Path) -> None:
    again = build_mini(tmp_path / "again", seed=7, sizes=SMALL, workers=2, progress=False)
    assert _files(again) == _files(small_dataset)


def test_other_seed_gives_other_data(tmp_path: Path, small_dataset: Path) -> None:
    other = build_mini(tmp_path / "other", seed=8, sizes=SMALL, workers=1, progress=False)
    assert _files(other)["capeval_qa/test-00000-of-00001.parquet"] != \
        _files(small_dataset)["capeval_qa/test-00000-of-00001.parquet"]


def test_capeval_structure(small_dataset: Path) -> None:
    samples = load_benchmark(str(small_dataset), "capeval_qa").samples
    assert [s.n_concepts for s in samples] == [1, 2, 3, 4] * 3
    for s in samples:
        assert isinstance(s, CapEvalSample)
        assert len(s.context) == 3 * s.n_concepts  # two negatives per positive
        names = [c.name for c in s.context]
        assert len(set(names)) == len(names)  # pseudonyms unique in a sample
        context_hashes = {c.image.sha256 for c in s.context}
        assert s.query_image.sha256 not in context_hashes
        for c in s.context:
            assert c.dialogue.count("User:") == 3 and c.dialogue.count("Model:") == 3
            assert c.name in c.dialogue
            assert len(c.qas) == 3
            for qa in c.qas:
                assert qa.correct_answer in "ABC"
                assert qa.option(qa.correct_answer) in c.dialogue
                assert "cannot be determined" in qa.options[3]
        # hard negatives share the category of a positive
        positive_categories = {s.context[i].category for i in s.positive_indices}
        negatives = [c for k, c in enumerate(s.context) if k not in s.positive_indices]
        assert any(c.category in positive_categories for c in negatives)


def test_diagnostic_items(small_dataset: Path) -> None:
    for task in ("lsd", "lar", "itr"):
        for s in load_benchmark(str(small_dataset), task).samples:
            assert isinstance(s, DiagnosticSample)
            targets = [s.context[i] for i in s.positive_indices]
            assert len(targets) >= 2 and len({t.name for t in targets}) == 1
            latest = max(targets, key=lambda c: c.facts["date"])
            assert s.answer == latest.facts["place"] and s.answer in latest.dialogue
            assert s.last_action == latest.facts["action"]
            dates = [t.facts["date"] for t in targets]
            if len(dates) >= 3:
                assert dates != sorted(dates)  # never handed over in chronological order
            if task == "itr":
                planted = [c for c in targets if s.keyword in c.dialogue]
                assert len(planted) == 1


def test_build_cli_writes_folder_and_contact_sheet(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    code = build_main(["mini", "--out", str(out), "--seed", "3", "--workers", "1",
                       "--sizes", "capeval_per_count=1,lsd=1,lar=1,itr=1"])
    assert code == 0
    assert (out / "contact_sheet.png").stat().st_size > 1000
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["counts"] == {"capeval_qa": 4, "lsd": 1, "lar": 1, "itr": 1}
    assert build_main(["mini", "--out", str(out)]) == 2  # refuses to overwrite


def test_builtin_spec_builds_once_into_cache(isolated_cache: Path) -> None:
    spec = "builtin:mini?seed=5&capeval_per_count=1&lsd=1&lar=1&itr=1"
    first = load_benchmark(spec, "lsd", progress=False)
    second = load_benchmark(spec, "lsd", progress=False)
    assert first.revision == second.revision and first.revision.startswith("mini-v3-seed5")
    assert Path(first.location).is_relative_to(isolated_cache)
    # a build of an older layout (say, without query_boxes) is stale: it is built again
    manifest = Path(first.location) / MANIFEST
    stale = json.loads(manifest.read_text())
    stale["spec"] = stale["spec"].replace('"layout": ', '"layout": -')
    manifest.write_text(json.dumps(stale))
    third = load_benchmark(spec, "lsd", progress=False)
    assert json.loads(manifest.read_text())["spec"] != stale["spec"]
    assert third.revision == first.revision


def test_a_build_another_process_finished_first_is_kept(tmp_path: Path, monkeypatch) -> None:
    """Two ranks building the same builtin data at once: the second to finish keeps the
    first's folder (a reader may be in it), also when it lands between check and rename."""
    import os

    from benchmark import storage

    target = tmp_path / "data"
    first, second, third = (storage.AtomicFolder(target) for _ in range(3))
    for n, folder in enumerate((first, second, third)):
        (folder.__enter__() / "who").write_text(str(n))
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert (target / "who").read_text() == "0"

    real_replace = os.replace
    target.rename(tmp_path / "aside")

    def lands_first(src, dst):  # the other process's rename wins the race
        (tmp_path / "aside").rename(target)
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", lands_first)
    third.__exit__(None, None, None)
    assert (target / "who").read_text() == "0"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary folder left


def test_a_subset_of_counts_is_the_full_builds_samples(small_dataset: Path,
                                                        isolated_cache: Path) -> None:
    full = {s.sample_id: s for s in load_benchmark(str(small_dataset), "capeval_qa").samples}
    spec = "builtin:mini?seed=7&capeval_per_count=3&capeval_counts=31&lsd=1&lar=1&itr=1"
    kept = load_benchmark(spec, "capeval_qa", progress=False).samples
    assert [s.n_concepts for s in kept] == [1, 3] * 3
    assert all(s == full[s.sample_id] for s in kept)  # same ids, same content
    # a build of all four counts describes itself as before the option existed
    assert "capeval_counts" not in describe(0, MiniSizes())
    assert '"capeval_counts": "13"' in describe(0, MiniSizes(capeval_counts="13"))
    for bad in ("5", "11", "1,2"):
        with pytest.raises(DatasetError, match="capeval_counts"):
            load_benchmark(f"builtin:mini?capeval_counts={bad}", "capeval_qa", progress=False)
    with pytest.raises(ValueError, match="capeval_counts"):
        MiniSizes(capeval_counts="")


def test_no_negatives_leaves_one_memory_per_concept(isolated_cache: Path) -> None:
    spec = "builtin:mini?seed=2&capeval_per_count=2&negatives_per_positive=0&lsd=1&lar=1&itr=1"
    for s in load_benchmark(spec, "capeval_qa", progress=False).samples:
        assert isinstance(s, CapEvalSample)
        assert len(s.context) == s.n_concepts == len(s.positive_indices)


def test_timeline_dates_are_real_and_orders_never_chronological() -> None:
    import random

    from benchmark import timeline

    rng = random.Random(0)
    for _ in range(200):
        dates = timeline.draw_dates(rng, 6)
        assert len(set(dates)) == 6
        iso = [d.isoformat() for d in dates]
        assert sorted(iso) == [d.isoformat() for d in sorted(dates)]  # ISO sorts as dates do
        plan = timeline.plan_encounters(rng, 3, 3, [f"p{i}" for i in range(9)],
                                        [f"a{i}" for i in range(9)], ["K1", "K2", "K3", "K4"])
        assert len({e.place for e in plan.encounters}) == 9
        for who in range(3):
            mine = [e for e in plan.encounters if e.individual == who]
            assert len(mine) == 3 and sum(bool(e.keyword) for e in mine) == 1
            assert [e.day for e in mine] != sorted(e.day for e in mine)
        assert plan.latest.day == max(e.day for e in plan.encounters if e.individual == 0)
        assert plan.keyword and plan.keyword in {e.keyword for e in plan.encounters}
    from datetime import date

    assert timeline.spoken(date(2021, 3, 3)) == "3 March 2021"


def test_query_boxes_are_where_the_drawings_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each concept is drawn once more alone on a transparent canvas of the scene's size: the
    box the sample records for it holds every pixel it drew there, and is no more than its
    faint anti-aliased rim (3 pixels, which pasting onto a transparent canvas drops) larger."""
    from PIL import Image

    from benchmark.mini import generate, render

    real = render.place
    footprints: list = []

    def recording(canvas, sprite, view, box):
        alone = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        real(alone, sprite, view, box)
        footprints.append(alone.getchannel("A").getbbox())
        return real(canvas, sprite, view, box)

    monkeypatch.setattr(render, "place", recording)
    checked = 0
    for index in range(12):
        footprints.clear()
        sample = generate.capeval_sample(3, index, MiniSizes())
        drawn_in_scene = footprints[len(sample.context):]  # the context photos come first
        assert len(sample.query_boxes) == len(drawn_in_scene) == sample.n_concepts
        for box, drawn in zip(sample.query_boxes, drawn_in_scene):
            _assert_fits(box, drawn)
            checked += 1
    footprints.clear()
    item = generate.diagnostic_sample(3, "lsd", 0, MiniSizes())
    assert len(item.query_boxes) == 1
    _assert_fits(item.query_boxes[0], footprints[-1])
    assert checked == 30


def _assert_fits(box: tuple[int, ...], drawn: tuple[int, ...]) -> None:
    x0, y0, x1, y1 = box
    dx0, dy0, dx1, dy1 = drawn
    assert x0 <= dx0 and y0 <= dy0 and dx1 <= x1 and dy1 <= y1, (box, drawn)
    assert max(dx0 - x0, dy0 - y0, x1 - dx1, y1 - dy1) <= 3, (box, drawn)
