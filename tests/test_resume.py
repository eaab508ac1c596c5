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
    return [sys.executable, "-m", "covip_eval.cli", "--model", "scripted",
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
