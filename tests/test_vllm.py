"""vLLM for real: the offline engine and an OpenAI-compatible vLLM server, on the tiny random
Qwen3-VL and a family other than Qwen (Idefics3), pushing builtin:mini samples through
coviP-eval, judge included.

These run in their own environment (vLLM's CPU build; see tests/vllm_env/setup.sh), which CI
builds; elsewhere they are skipped. The text of a random model is noise: the tests check
structure, the request path and determinism.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("vllm")
pytestmark = pytest.mark.vllm

from covip_eval.engine.run import EvalSettings, evaluate  # noqa: E402
from covip_eval.models.tiny_families import save_tiny_random  # noqa: E402
from covip_eval.registry import make_model  # noqa: E402

ENGINE_ARGS = {"max_model_len": 16384, "kv_cache_memory_bytes": 256 * 2**20,
               "dtype": "float32", "limit_images": 16, "enable_chunked_prefill": False}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
    return save_tiny_random(tmp_path_factory.mktemp("tiny") / "model", servable=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def idefics3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_random(tmp_path_factory.mktemp("tiny") / "idefics3", name="idefics3")


@contextmanager
def _served(model_dir: Path, log: Path):
    port = _free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
               str(model_dir), "--host", "127.0.0.1", "--port", str(port),
               "--max-model-len", "16384", "--kv-cache-memory-bytes", str(256 * 2**20),
               "--dtype", "float32", "--limit-mm-per-prompt", '{"image": 16}',
               # vLLM's CPU build cannot rewind a seeded sampler after a partial prefill
               "--no-enable-chunked-prefill"]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "VLLM_HOST_IP": "127.0.0.1"})
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vLLM server exited:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            break
        except OSError:
            time.sleep(2)
    else:
        proc.kill()
        pytest.fail("vLLM server did not start in 600 s")
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=60)


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    with _served(model_dir, tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


def test_offline_engine_through_the_evaluator(model_dir: Path, small_dataset: Path) -> None:
    outcome = evaluate(EvalSettings(
        model="vllm", model_args={"pretrained": str(model_dir), **ENGINE_ARGS},
        tasks=["capeval_qa", "lsd_cag"], dataset=str(small_dataset), judge="lexical",
        gen_kwargs={"max_new_tokens": 16}, limit=2, progress=False, keep_records=True))
    results = outcome.results
    assert results["config"]["model_identity"]["adapter"] == "vllm"
    assert results["usage"]["model"]["output_tokens"] > 0
    _scored_or_empty(results, ("capeval_qa", "lsd_cag"))
    captions = [record.response for record in outcome.records["capeval_qa"]]
    assert all(isinstance(t, str) for t in captions)


def _scored_or_empty(results: dict, tasks: tuple[str, ...]) -> None:
    """Every sample scored, or failed because the random model's reply decoded to nothing
    (not an answer on any adapter): no other failure."""
    for task in tasks:
        outcome = results["outcomes"][task]
        assert outcome["scored"] + outcome["generation_failures"] == outcome["samples"] == 2
        assert all(reason.endswith("empty reply: the model wrote no text")
                   for reason in results["failures"][task]), results["failures"][task]


def test_offline_engine_is_deterministic_and_refuses_too_many_images(model_dir, small_dataset):
    from benchmark import load_benchmark
    from covip_eval.engine.request_builder import caption_request
    from covip_eval.registry import TaskIndex
    from covip_eval.requests import GenParams

    model = make_model("vllm", {"pretrained": str(model_dir), **ENGINE_ARGS, "limit_images": 8})
    prompts = TaskIndex().tasks["capeval_qa"].prompt_templates()
    samples = load_benchmark(str(small_dataset), "capeval_qa").samples
    short = [caption_request(s, prompts, GenParams(max_new_tokens=8)) for s in samples[:2]]
    assert [g.text for g in model.generate(short)] == [g.text for g in model.generate(short)]
    four_concepts = caption_request(samples[3], prompts, GenParams(max_new_tokens=8))
    assert "at most 8 images" in model.refusal(four_concepts)
    model.close()


def test_server_as_model_and_judge(server: str, small_dataset: Path, tmp_path: Path) -> None:
    from covip_eval.cli.evaluate import main

    code = main(["--model", "openai-compatible", "--model_args",
                 f"base_url={server},model={_served_name(server)},max_concurrency=4",
                 "--judge", "openai-compatible",
                 "--judge_args", f"base_url={server},model={_served_name(server)},"
                                 "max_new_tokens=16",
                 "--tasks", "capeval_qa,lar_direct", "--dataset", str(small_dataset),
                 "--limit", "2", "--gen_kwargs", "max_new_tokens=16",
                 "--output_path", str(tmp_path), "--use_cache", "none", "--no_progress",
                 "--max_failure_rate", "1"])
    assert code == 0
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    usage = results["usage"]
    assert usage["model"]["called"] == 4 and usage["model"]["input_tokens"] > 0
    # a random model's reply may decode to nothing: that is a failure with its reason, and
    # every sample is either scored or failed
    for task, outcome in results["outcomes"].items():
        assert outcome["scored"] + outcome["generation_failures"] + \
            outcome["judge_failures"] == outcome["samples"] == 2
        assert all("empty reply" in reason for reason in results["failures"][task]), \
            results["failures"][task]
    # the questions of the scored samples (3 + 6 concepts, 3 questions each) and the LAR
    # items, sent to the judge together
    assert 0 < usage["judge"]["called"] <= 27 + 2


def test_idefics3_through_the_offline_engine_and_a_server(idefics3_dir: Path, small_dataset: Path,
                                                         tmp_path: Path) -> None:
    """A family other than Qwen: its images expand into tiles on both paths, and every sample
    is scored or fails with its reason."""
    results = evaluate(EvalSettings(
        model="vllm", model_args={"pretrained": str(idefics3_dir), **ENGINE_ARGS},
        tasks=["capeval_qa", "lsd_direct"], dataset=str(small_dataset), judge="lexical",
        gen_kwargs={"max_new_tokens": 8}, limit=2, progress=False)).results
    _scored_or_empty(results, ("capeval_qa", "lsd_direct"))
    with _served(idefics3_dir, tmp_path / "server.log") as url:
        served = evaluate(EvalSettings(
            model="openai-compatible",
            model_args={"base_url": url, "model": _served_name(url), "max_concurrency": 4},
            tasks=["lsd_direct"], dataset=str(small_dataset), judge="lexical",
            gen_kwargs={"max_new_tokens": 8}, limit=2, progress=False,
            max_failure_rate=1.0)).results
    usage, outcome = served["usage"]["model"], served["outcomes"]["lsd_direct"]
    assert usage["called"] == 2 and usage["input_tokens"] > 0
    assert outcome["scored"] + outcome["generation_failures"] == outcome["samples"] == 2


def _served_name(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/models", timeout=10) as reply:
        return json.load(reply)["data"][0]["id"]
