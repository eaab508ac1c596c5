"""A run killed with SIGKILL and started again finishes without repeating finished calls."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPLIES = ["In this photo I can see {}.", "A quiet scene. \\boxed{the planetarium}",
           "You were jogging along the river.", "Nothing I recognise."]


def _command(dataset: Path, cache: Path, out: Path, replies: Path, delay: float) -> list[str]:
    return [sys.executable, "-m", "covip_eval.cli.evaluate", "--model", "scripted",
            "--model_args", f"replies_file={replies},delay={delay},batch_size=1",
            "--tasks", "capeval_qa,lsd_cag,lar_direct", "--dataset", str(dataset),
            "--judge", "lexical", "--use_cache", str(cache), "--output_path", str(out),
            "--log_samples", "--no_progress"]


def _rows(cache: Path) -> int:
    try:
        with sqlite3.connect(cache, timeout=10) as db:
            return db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _results(out: Path) -> dict:
    files = list(out.rglob("results_*.json"))
    assert len(files) == 1
    return json.loads(files[0].read_text())


def test_kill_and_resume(small_dataset: Path, tmp_path: Path) -> None:
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps(REPLIES))
    cache, out = tmp_path / "cache.sqlite", tmp_path / "killed"
    proc = subprocess.Popen(_command(small_dataset, cache, out, replies, 0.15),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _rows(cache) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _rows(cache)
    assert 6 <= done_before < 24, "the run must be killed mid-way"
    assert not list(out.rglob("results_*.json"))  # nothing half-written looks complete
    assert not list(out.rglob("samples_*.jsonl"))

    subprocess.run(_command(small_dataset, cache, out, replies, 0.0), check=True,
                   capture_output=True)
    resumed = _results(out)
    assert resumed["usage"]["model"]["cached"] == done_before
    assert resumed["usage"]["model"]["called"] == resumed["usage"]["model"]["unique"] - done_before

    fresh_out = tmp_path / "fresh"
    subprocess.run(_command(small_dataset, tmp_path / "fresh.sqlite", fresh_out, replies, 0.0),
                   check=True, capture_output=True)
    assert _results(fresh_out)["results"] == resumed["results"]


def _judged_command(dataset: Path, cache: Path, out: Path, replies: Path) -> list[str]:
    """A run whose judge is a (slow) model too, so that kills land in judging as well."""
    command = _command(dataset, cache, out, replies, 0.02)
    judge_replies = out.parent / "judge_replies.json"
    judge_replies.write_text(json.dumps(["\\boxed{A}", "\\boxed{D}", "\\boxed{Correct}",
                                         "no box"]))
    at = command.index("--judge")
    command[at + 1] = "scripted"
    command[at + 2:at + 2] = ["--judge_args",
                              f"replies_file={judge_replies},delay=0.005,batch_size=4"]
    return [*command, "--max_failure_rate", "1"]


def _samples_ids(out: Path) -> dict[str, list[int]]:
    ids = {}
    for path in out.rglob("samples_*.jsonl"):
        ids[path.name.split("_2")[0]] = [json.loads(line)["doc_id"]
                                         for line in path.read_text().splitlines()]
    return ids


def test_soak_five_kills_then_resume_equals_an_uninterrupted_run(small_dataset: Path,
                                                                 tmp_path: Path) -> None:
    import random

    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps(REPLIES))
    fresh = tmp_path / "fresh"
    subprocess.run(_judged_command(small_dataset, tmp_path / "fresh.sqlite", fresh, replies),
                   check=True, capture_output=True)
    total = _rows(tmp_path / "fresh.sqlite")
    generated = _results(fresh)["usage"]["model"]["called"]  # the model's rows come first
    cache, out = tmp_path / "cache.sqlite", tmp_path / "killed"
    rng = random.Random(0)  # one kill while generating, four while judging
    points = [rng.randrange(3, generated - 2),
              *sorted(rng.sample(range(generated + 3, total - 5), 4))]
    kills = []
    for point in points:
        proc = subprocess.Popen(_judged_command(small_dataset, cache, out, replies),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while _rows(cache) < point and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(_rows(cache))
    assert len(set(kills)) == 5 and kills[-1] < total  # five kills, each at a new point
    assert not list(out.rglob("results_*.json"))
    subprocess.run(_judged_command(small_dataset, cache, out, replies), check=True,
                   capture_output=True)
    assert _results(out)["results"] == _results(fresh)["results"]
    resumed, expected = _samples_ids(out), _samples_ids(fresh)
    assert resumed == expected  # no record missing, none twice
    assert all(ids == sorted(set(ids)) for ids in resumed.values())


def test_ctrl_c_stops_soon_keeps_the_cache_and_writes_no_results(small_dataset: Path,
                                                                 tmp_path: Path) -> None:
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps(REPLIES))
    cache, out = tmp_path / "cache.sqlite", tmp_path / "out"
    # Ctrl-C as a terminal sends it: a run started in the background by a shell without job
    # control inherits SIGINT ignored, and then the child would ignore it too
    proc = subprocess.Popen(_command(small_dataset, cache, out, replies, 0.4),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while _rows(cache) < 4 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.time() - sent < 5
    assert proc.returncode == 130 and "run the same command again to resume" in err
    assert 4 <= _rows(cache) < 24  # kept what finished, and stopped well before the end
    assert not list(out.rglob("results_*.json")) and not list(out.rglob("samples_*.jsonl"))
