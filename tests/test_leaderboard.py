"""coviP-leaderboard: the paper's tables cell by cell, measured runs, the figure, the report."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from covip_eval.engine.run import EvalSettings, evaluate
from leaderboard.cli import main
from leaderboard.tables import REFERENCE_DIR

PAPER_DELTA = {"capeval": ("Qwen3-VL-8B + CoViP", "Qwen3-VL-8B")}


def _csv(capsys, *args: str) -> list[dict[str, str]]:
    assert main(list(args)) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out.strip())))


def test_table2_reproduces_the_paper(capsys) -> None:
    rows = {r["model"]: r for r in _csv(capsys, "--reference", "paper", "--table", "capeval",
                                        "--format", "csv")}
    with (REFERENCE_DIR / "paper_table2_capeval_qa.csv").open() as fh:
        reference = list(csv.DictReader(fh))
    for ref in reference:
        row = rows[ref["model"]]
        assert row["group"] == ref["group"] and row["source"] == "reported (paper)"
        n = ref["n_concepts"]
        assert float(row[f"acc_pos_{n}"]) == float(ref["acc_pos"])
        assert float(row[f"acc_neg_{n}"]) == float(ref["acc_neg"])
    delta = rows["Δ Qwen3-VL-8B + CoViP vs Qwen3-VL-8B"]
    assert [delta[f"acc_pos_{n}"] for n in (1, 2, 3, 4)] == ["+38.4", "+42.8", "+41.9", "+41.1"]
    assert len(rows) == 10


def test_table3_reproduces_the_paper(capsys) -> None:
    rows = {r["model"]: r for r in _csv(capsys, "--reference", "paper", "--table",
                                        "downstream", "--format", "csv")}
    with (REFERENCE_DIR / "paper_table3_downstream.csv").open() as fh:
        for ref in csv.DictReader(fh):
            assert float(rows[ref["model"]][f"{ref['task']}_{ref['mode']}"]) == float(ref["score"])
    delta = rows["Δ Qwen3-VL-8B + CoViP vs Qwen3-VL-8B"]
    assert delta["lsd_cag"] == "+9.4" and delta["itr_direct"] == "+18.6"


def test_latex_and_markdown_mark_the_best(capsys) -> None:
    assert main(["--reference", "paper", "--table", "capeval", "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert r"\toprule" in latex and r"\textbf{77.4}" in latex and r"\textbf{99.5}" in latex
    assert main(["--reference", "paper", "--table", "downstream"]) == 0
    assert "**89.3**" in capsys.readouterr().out


@pytest.fixture(scope="module")
def runs(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    for model in ("blind", "oracle", "retrieval"):
        evaluate(EvalSettings(model=model, tasks=["covip"], dataset=str(small_dataset),
                              judge="lexical", output_path=out, log_samples=True,
                              progress=False))
    return out


def test_measured_rows_equal_the_result_files(runs: Path, capsys) -> None:
    rows = {r["model"]: r for r in _csv(capsys, str(runs), "--table", "capeval", "--format",
                                        "csv", "--base", "blind", "--target", "oracle")}
    downstream = {r["model"]: r for r in _csv(capsys, str(runs), "--table", "downstream",
                                              "--format", "csv")}
    for path in runs.rglob("results_*.json"):
        results = json.loads(path.read_text())
        row = rows[results["config"]["model"]]
        assert row["source"] == f"measured: {path.name}"
        for n in (1, 2, 3, 4):
            value = results["results"][f"capeval_qa_n{n}"]["acc_pos,none"]
            assert float(row[f"acc_pos_{n}"]) == round(100 * value, 1)
        lsd = results["results"]["lsd_cag"]["token_f1,none"]
        assert float(downstream[results["config"]["model"]]["lsd_cag"]) == round(100 * lsd, 1)
    assert rows["Δ oracle vs blind"]["acc_pos_1"] == "+100.0"


def test_different_judges_are_not_merged(runs: Path, small_dataset: Path, tmp_path: Path,
                                         capsys) -> None:
    other = tmp_path / "other"
    evaluate(EvalSettings(model="blind", tasks=["capeval_qa"], dataset=str(small_dataset),
                          judge="scripted", judge_args={"reply": "\\boxed{D}"},
                          output_path=other, progress=False))
    assert main([str(runs), str(other), "--table", "capeval"]) == 2
    err = capsys.readouterr().err
    assert "differ in judge (" in err and "make one leaderboard per protocol" in err


def test_a_run_without_a_judge_joins_judged_runs_where_no_judge_applies(
        runs: Path, small_dataset: Path, tmp_path: Path, capsys) -> None:
    """LSD is scored without a judge: an LSD-only run (judge none) shares its columns."""
    lsd = tmp_path / "lsd"
    evaluate(EvalSettings(model="text-only", tasks=["lsd"], dataset=str(small_dataset),
                          output_path=lsd, progress=False))
    assert json.loads(next(lsd.rglob("results_*.json")).read_text())["judge"] is None
    rows = {r["model"]: r for r in _csv(capsys, str(runs), str(lsd), "--table", "downstream",
                                        "--format", "csv")}
    assert rows["text-only"]["lsd_direct"] != "" and rows["text-only"]["lar_direct"] == ""


def test_malformed_result_files(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "results_x.json"
    bad.write_text("{not json")
    assert main([str(bad)]) == 2
    assert f"{bad}: not a JSON file" in capsys.readouterr().err
    bad.write_text(json.dumps({"results": {}}))
    assert main([str(bad)]) == 2
    assert "missing config, judge, prompts, datasets, date" in capsys.readouterr().err
    assert main([str(tmp_path / "nowhere")]) == 2


def test_figure_and_report_in_a_browser(runs: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "board"
    assert main([str(runs), "--reference", "paper", "--out", str(out), "--figure", "--report",
                 "--max_samples", "3"]) == 0
    assert (out / "figure5.png").stat().st_size > 10_000 and (out / "figure5.svg").exists()
    page = (out / "report.html").read_text()
    assert "figure5" not in page and "data:image/png;base64" in page  # self-contained
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian package: chromium)")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    url = (out / "report.html").as_uri()
    subprocess.run([*flags, "--window-size=1400,2000", f"--screenshot={tmp_path / 'shot.png'}",
                    url], check=True, capture_output=True, timeout=120)
    assert (tmp_path / "shot.png").stat().st_size > 20_000
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    oracle = json.loads(next((runs / "oracle").glob("results_*.json")).read_text())
    value = 100 * oracle["results"]["capeval_qa_n2"]["acc_pos,none"]
    assert f"<strong>{value:.1f}</strong>" in dom
    assert "capeval_00001" in dom and "77.4" in dom  # a sample, and a reported number
    assert 'src="data:image/jpeg;base64,' in dom  # the open sample's images, filled in


def test_the_report_of_three_full_runs_stays_small(tmp_path: Path, capsys) -> None:
    """builtin:mini in full, three runs over the same samples, 25 samples a task: each image
    is stored once, whichever runs and tasks show it."""
    for model in ("blind", "oracle", "retrieval"):
        evaluate(EvalSettings(model=model, tasks=["covip"], output_path=tmp_path / "runs",
                              log_samples=True, progress=False))
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "board"), "--report"]) == 0
    page = (tmp_path / "board" / "report.html").read_text()
    assert len(page.encode()) <= 5_000_000
    keys = re.findall(r"data-img='([^']+)'", page)
    stored = re.search(r"const IMAGES=(\{.*?\});", page).group(1)
    assert len(keys) > 3 * len(json.loads(stored)) and set(keys) == set(json.loads(stored))
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian package: chromium)")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          (tmp_path / "board" / "report.html").as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    filled = dom.count('src="data:image/jpeg;base64,')
    assert 0 < filled < len(keys) / 10  # the open samples' images only: the rest wait


def test_report_escapes_every_name(runs: Path, tmp_path: Path) -> None:
    """Names in result files (model, task, sample text) are data, never markup."""
    evil = "<img src=x onerror=alert(1)>'\""  # no '/': it also names a file
    source = next((runs / "retrieval").glob("results_*.json"))
    folder = tmp_path / "evil"
    folder.mkdir()
    results = json.loads(source.read_text())
    results["config"]["model"] = evil
    results["results"][f"lsd_direct{evil}"] = results["results"].pop("lsd_direct")
    stamp = source.stem.removeprefix("results_")
    samples = source.with_name(f"samples_lsd_direct_{stamp}.jsonl").read_text()
    record = json.loads(samples.splitlines()[0])
    record["filtered_resps"] = [evil]
    (folder / f"samples_lsd_direct{evil}_{stamp}.jsonl").write_text(json.dumps(record) + "\n")
    (folder / source.name).write_text(json.dumps(results))
    assert main([str(folder), "--out", str(tmp_path / "board"), "--report"]) == 0
    page = (tmp_path / "board" / "report.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;&#x27;&quot;" in page


def test_rows_show_samples_and_failures_and_refuse_other_sample_sets(
        runs: Path, small_dataset: Path, tmp_path: Path, capsys) -> None:
    rows = {r["model"]: r for r in _csv(capsys, str(runs), "--table", "capeval", "--format",
                                        "csv")}
    assert rows["oracle"]["n_scored"] == "12" and rows["oracle"]["failed"] == "0"
    limited = tmp_path / "limited"
    evaluate(EvalSettings(model="blind", tasks=["capeval_qa"], dataset=str(small_dataset),
                          judge="lexical", limit=4, output_path=limited, progress=False))
    assert main([str(runs), str(limited), "--table", "capeval"]) == 2
    err = capsys.readouterr().err
    assert "not comparable" in err and "--allow_mismatch" in err
    assert main([str(runs), str(limited), "--table", "capeval", "--allow_mismatch"]) == 0
    assert "different sets of samples (--allow_mismatch)" in capsys.readouterr().out


def test_visual_reliance_controls_become_columns(small_dataset: Path, tmp_path: Path,
                                                 capsys) -> None:
    for model in ("retrieval", "text-only"):
        evaluate(EvalSettings(model=model, tasks=["capeval_qa"], dataset=str(small_dataset),
                              judge="lexical", controls=["blank", "swap"], output_path=tmp_path,
                              progress=False))
    rows = {r["model"]: r for r in _csv(capsys, str(tmp_path), "--table", "capeval",
                                        "--format", "csv")}
    assert float(rows["retrieval"]["blank_drop"]) < -20  # it looks, so it loses
    assert float(rows["text-only"]["blank_drop"]) == float(rows["text-only"]["swap_drop"]) == 0


def test_delta_of_two_runs_has_paired_standard_errors(runs: Path, capsys) -> None:
    from covip_eval.metrics import metric
    from leaderboard.runs import load_runs

    rows = {r["model"]: r for r in _csv(capsys, str(runs), "--table", "capeval", "--format",
                                        "csv", "--base", "blind", "--target", "retrieval")}
    delta = rows["Δ retrieval vs blind"]

    def one_concept(model: str) -> dict:
        run = next(r for r in load_runs([runs]) if r.results.config["model"] == model)
        return {r.doc_hash: dict(r.metrics)
                for r in run.samples("capeval_qa") if r.doc.n_concepts == 1}

    expected = metric("acc_pos").paired_difference(one_concept("blind"),
                                                   one_concept("retrieval"), seed=0)
    assert float(delta["acc_pos_1_stderr"]) == round(100 * expected.stderr, 1)
    assert float(delta["acc_pos_1"]) == round(100 * expected.value, 1)
    assert delta["acc_mean_all_stderr"] != ""
    assert main([str(runs), "--table", "capeval", "--base", "blind", "--target",
                 "retrieval"]) == 0
    out = capsys.readouterr().out
    assert "paired difference" in out and " ± " in out


def test_runs_over_different_samples_are_not_paired(runs: Path, small_dataset: Path,
                                                    tmp_path: Path, capsys) -> None:
    fewer = tmp_path / "fewer"
    evaluate(EvalSettings(model="oracle", tasks=["capeval_qa"], dataset=str(small_dataset),
                          judge="lexical", output_path=fewer, log_samples=True, limit=3,
                          progress=False))
    blind = next(p for p in runs.rglob("results_*.json")
                 if json.loads(p.read_text())["config"]["model"] == "blind")
    assert main([str(blind), str(fewer), "--table", "capeval", "--allow_mismatch",
                 "--base", "blind", "--target", "oracle"]) == 0
    out = capsys.readouterr().out
    assert "cannot be paired" in out and " ± " not in out


def test_figure5_reads_in_percent_with_the_legend_beside_the_data() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from leaderboard.plot import draw

    rng = np.random.default_rng(0)
    spread = (rng.uniform(0, 100, 80), rng.uniform(0, 100, 80))
    series = [(f"model {k}", *spread) for k in range(9)]
    series.append(("constant", np.full(80, 50.0), np.full(80, 100.0)))  # one cluster
    fig = draw(series)
    ax = fig.axes[0]
    assert ax.get_xlim()[1] > 100 and ax.get_ylim()[1] > 100 and "%" in ax.get_ylabel()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= ax.get_window_extent(renderer).x1  # never over a point
    clouds = ax.collections
    assert len({tuple(c.get_facecolor()[0]) for c in clouds}) == 10  # ten models apart
    constant = next(c for c in clouds if c.get_label().startswith("constant"))
    assert constant.get_zorder() == max(c.get_zorder() for c in clouds)  # drawn on top
    for line in ax.lines:  # fits stay within the data and the scale
        assert line.get_ydata().max() <= 100 and line.get_xdata().max() <= spread[0].max()
