"""The shortcut audit: at the floor on builtin:mini, above it where a shortcut is planted."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark import load_benchmark
from benchmark.rows import sample_to_row
from benchmark.storage import read_manifest, write_config, write_manifest
from covip_eval.cli.evaluate import main
from covip_eval.engine.audit import Auditor, Estimate, estimate
from covip_eval.engine.run import EvalSettings


def _settings(dataset: Path) -> EvalSettings:
    return EvalSettings(model="blind", dataset=str(dataset), judge="lexical", cache_path=None,
                        progress=False)


def _with_target_told_twice(src: Path, dst: Path) -> Path:
    """A copy whose LSD items tell about the target twice as often as about the others."""
    shutil.copytree(src, dst)
    samples = load_benchmark(str(src), "lsd").samples
    write_config(dst, "lsd", [sample_to_row(replace(
        s, context=s.context + tuple(s.context[i] for i in s.positive_indices)))
        for s in samples])
    _sign(dst)
    return dst


def _sign(folder: Path) -> None:
    """The manifest's checksums made those of the rewritten files (it is a new dataset)."""
    info = read_manifest(folder) or {}
    info.pop("files", None)
    write_manifest(folder, info)


def test_estimate_is_the_mean_of_its_components_ratios() -> None:
    samples = [{"acc_pos": (1.0, 1.0), "acc_neg": (0.0, 2.0)},
               {"acc_pos": (1.0, 1.0), "acc_neg": (2.0, 2.0)}]
    found = estimate(samples, "acc_mean", seed=0)
    assert found.value == pytest.approx((1.0 + 0.5) / 2)
    assert found.stderr is not None and found.stderr > 0
    assert estimate([], "acc_mean", 0).value is None
    assert Estimate(0.5, 0.03).margin(Estimate(0.4, 0.04)) == pytest.approx(0.1)


def test_a_planted_name_frequency_shortcut_is_caught(small_dataset: Path,
                                                     tmp_path: Path) -> None:
    shortcut = _with_target_told_twice(small_dataset, tmp_path / "shortcut")
    for audit in Auditor(_settings(shortcut)).audit(["lsd_direct"]):
        assert audit.probes["probe-name-frequency"].value == pytest.approx(1.0)
        assert "probe-name-frequency" in audit.above_floor, audit.metric
        assert audit.oracle.value == pytest.approx(1.0)
        assert all(shift == 0 for shift in audit.control_shift.values())  # probes never look


@pytest.mark.slow
def test_builtin_mini_passes_its_own_audit(isolated_cache: Path) -> None:
    """Every probe within 2 standard errors of its floor, on every task of builtin:mini."""
    settings = replace(_settings(Path()), dataset=None)
    audits = Auditor(settings).audit(["covip"])
    assert {a.task for a in audits} == {"capeval_qa", "lsd_direct", "lsd_cag", "lar_direct",
                                        "lar_cag", "itr_direct", "itr_cag"}
    for audit in audits:
        assert audit.above_floor == [], (audit.task, audit.metric, audit.probes)
        assert audit.oracle.value == pytest.approx(1.0)


def test_audit_command_writes_its_report_and_strict_fails_on_a_shortcut(
        small_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shortcut = _with_target_told_twice(small_dataset, tmp_path / "shortcut")
    args = ["audit", "--tasks", "lsd_direct", "--judge", "lexical", "--use_cache", "none",
            "--no_progress"]
    assert main([*args, "--dataset", str(shortcut), "--output_path", str(tmp_path / "a")]) == 0
    written = json.loads(next((tmp_path / "a").glob("audit_*.json")).read_text())
    assert not written["passed"] and {a["metric"] for a in written["audits"]} == {
        "token_f1", "token_f1_content"}
    assert written["judge"]["judge"] == "lexical" and "lsd_direct" in written["datasets"]
    assert main([*args, "--dataset", str(shortcut), "--output_path", str(tmp_path / "c"),
                 "--strict"]) == 1
    out = capsys.readouterr()
    assert "above the floor: " in out.out and "probe-name-frequency" in out.out


def _with_negatives_of_a_kind_of_their_own(src: Path, dst: Path) -> Path:
    """A copy whose absent concepts each introduce themselves with a kind no other shares,
    and whose present ones all as friends."""
    shutil.copytree(src, dst)
    samples = load_benchmark(str(src), "capeval_qa").samples
    rows = []
    for s in samples:
        kinds = {k: "my friend" if k in s.positive_indices else f"a one-off thing {k}"
                 for k in range(len(s.context))}
        context = tuple(replace(c, dialogue=re.sub(rf"{c.name}, [^.,]+([.,])",
                                                   rf"{c.name}, {kinds[k]}\1", c.dialogue,
                                                   count=1))
                        for k, c in enumerate(s.context))
        rows.append(sample_to_row(replace(s, context=context)))
    write_config(dst, "capeval_qa", rows)
    _sign(dst)
    return dst


def test_a_planted_category_uniqueness_shortcut_is_caught(small_dataset: Path,
                                                           tmp_path: Path) -> None:
    shortcut = _with_negatives_of_a_kind_of_their_own(small_dataset, tmp_path / "kinds")
    clean, planted = (Auditor(_settings(d)).audit(["capeval_qa"])[0]
                      for d in (small_dataset, shortcut))
    # every present concept recalled where it has company (two or more present), none absent
    assert planted.probes["probe-category-uniqueness"].value > 0.85
    assert "probe-category-uniqueness" in planted.above_floor
    assert clean.probes["probe-category-uniqueness"].value < 0.6
