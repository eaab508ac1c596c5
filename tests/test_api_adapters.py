"""API adapters through the real SDKs against a local server speaking each wire format."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from benchmark import load_benchmark
from covip_eval.engine.prompts import load_template
from covip_eval.engine.request_builder import cag_request, caption_request
from covip_eval.errors import ConfigError
from covip_eval.registry import make_model
from covip_eval.requests import GenParams, ImagePart
from tests.fake_providers import FakeProviders

pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")

KEY = "sk-test-secret-key-0123456789"
PROVIDERS = ["openai", "openai-compatible", "anthropic", "gemini"]
KEY_ENV = {"openai": "OPENAI_API_KEY", "openai-compatible": "OPENAI_COMPATIBLE_API_KEY",
           "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
ROLES = {"memory_header": "memory_header", "memory_dialogue": "memory_dialogue",
         "query_header": "query_header", "caption": "caption_instruction",
         "system": "system_personalize", "question": "lsd_question"}


@pytest.fixture
def server():
    with FakeProviders() as fake:
        yield fake


def adapter(provider: str, server: FakeProviders, monkeypatch, **extra):
    monkeypatch.setenv(KEY_ENV[provider], KEY)
    base = f"{server.url}/v1" if provider.startswith("openai") else server.url
    return make_model(provider, {"model": "test-model", "base_url": base, "backoff_base": 0.01,
                                 "max_retries": 2, **extra})


@pytest.fixture(scope="module")
def requests(small_dataset: Path):
    prompts = {role: load_template(ref) for role, ref in ROLES.items()}
    sample = load_benchmark(str(small_dataset), "lsd").samples[0]
    sampled = GenParams(max_new_tokens=64, temperature=0.7, top_p=0.8, top_k=20,
                        presence_penalty=1.5, seed=3)
    return [caption_request(sample, prompts, GenParams(max_new_tokens=32)),
            cag_request(sample, prompts, "Ashby is in the photo.", sampled)]


def _sha(b64: str) -> str:
    """SHA-256 of base64 data, standard or URL-safe (the Gemini SDK sends the latter)."""
    padded = b64.replace("-", "+").replace("_", "/") + "=" * (-len(b64) % 4)
    return hashlib.sha256(base64.b64decode(padded)).hexdigest()


def seen_turns(provider: str, body: dict) -> tuple[str | None, list[tuple[str, list]]]:
    """(system prompt, [(role, [("text", t) | ("image", sha256)])]) as the server got them."""
    if provider == "gemini":
        system = body.get("systemInstruction", {}).get("parts", [{}])[0].get("text")
        turns = []
        for content in body["contents"]:
            parts = [("image", _sha(p["inlineData"]["data"])) if "inlineData" in p
                     else ("text", p["text"]) for p in content["parts"]]
            turns.append(({"model": "assistant"}.get(content["role"], content["role"]), parts))
        return system, turns
    messages = body["messages"]
    system = body.get("system")
    turns = []
    for m in messages:
        if m["role"] == "system":
            system = m["content"]
            continue
        content = m["content"]
        if isinstance(content, str):
            turns.append((m["role"], [("text", content)]))
            continue
        parts = []
        for p in content:
            if p["type"] == "text":
                parts.append(("text", p["text"]))
            elif p["type"] == "image_url":
                header, data = p["image_url"]["url"].split(",", 1)
                assert header == "data:image/png;base64"
                parts.append(("image", _sha(data)))
            else:
                assert p["source"]["media_type"] == "image/png"
                parts.append(("image", _sha(p["source"]["data"])))
        turns.append((m["role"], parts))
    return system, turns


def expected_turns(request) -> tuple[str | None, list[tuple[str, list]]]:
    system = next((m.text for m in request.messages if m.role == "system"), None)
    turns = [(m.role, [("image", p.image.sha256) if isinstance(p, ImagePart) else ("text", p.text)
                       for p in m.parts]) for m in request.messages if m.role != "system"]
    return system, turns


@pytest.mark.parametrize("provider", PROVIDERS)
def test_request_layout_and_reply(provider, server, monkeypatch, requests) -> None:
    model = adapter(provider, server, monkeypatch)
    generations = model.generate(requests)
    assert [g.text for g in generations] == [f"I saw {len(r.images)} images." for r in requests]
    thinking = 2 if provider == "gemini" else 0  # billed as output: counted in usage and cost
    assert all(g.input_tokens == 11 and g.output_tokens == 3 + thinking for g in generations)
    assert len(server.calls) == 2
    by_images = {}
    for call in server.calls:
        system, turns = seen_turns(provider, call["body"])
        by_images[system is not None] = (system, turns, call)
    for request in requests:
        system, turns, call = by_images[any(m.role == "system" for m in request.messages)]
        assert (system, turns) == expected_turns(request)  # images in place, in order
    _, _, sampled = by_images[True]
    body = sampled["body"]
    if provider == "gemini":
        config = body["generationConfig"]
        assert (config["temperature"], config["topP"], config["topK"]) == (0.7, 0.8, 20)
        assert config["maxOutputTokens"] == 64 and config["presencePenalty"] == 1.5
        assert sampled["headers"].get("x-goog-api-key") == KEY
    elif provider == "anthropic":
        assert body["temperature"] == 0.7 and "top_p" not in body and "top_k" not in body
        assert model.ignored_options(requests[1]) == {"top_p", "top_k", "presence_penalty",
                                                      "seed"}
        headers = sampled["headers"]
        assert body["max_tokens"] == 64
        assert KEY in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    else:
        assert (body["temperature"], body["top_p"], body["presence_penalty"]) == (0.7, 0.8, 1.5)
        assert body["seed"] == 3
        if provider == "openai-compatible":
            assert (body["top_k"], body["max_tokens"]) == (20, 64)
        else:
            assert "top_k" not in body and body["max_completion_tokens"] == 64
            assert model.ignored_options(requests[1]) == {"top_k"}
        assert sampled["headers"]["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_then_success(provider, server, monkeypatch, requests) -> None:
    server.script.extend([("status", 429, 0), ("status", 429, None)])
    generation = adapter(provider, server, monkeypatch).generate(requests[:1])[0]
    assert generation.ok and len(server.calls) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_500_retries_then_fails_the_sample(provider, server, monkeypatch, requests) -> None:
    server.script.extend([("status", 500, None)] * 3)
    generation = adapter(provider, server, monkeypatch).generate(requests[:1])[0]
    assert not generation.ok and len(server.calls) == 3
    assert generation.error.startswith("HTTP 500") and "after 3 attempts" in generation.error
    assert KEY not in generation.error


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_reply_is_a_clear_failure(provider, server, monkeypatch, requests) -> None:
    server.script.extend([("malformed",)] * 3)
    generation = adapter(provider, server, monkeypatch).generate(requests[:1])[0]
    assert not generation.ok and generation.error
    assert KEY not in generation.error


def test_anthropic_can_send_sampling(server, monkeypatch, requests) -> None:
    adapter("anthropic", server, monkeypatch, send_sampling=True).generate(requests[1:])
    body = server.calls[0]["body"]
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.7, 0.8, 20)


def test_client_errors_are_not_retried(server, monkeypatch, requests) -> None:
    server.script.append(("status", 400, None))
    generation = adapter("openai", server, monkeypatch).generate(requests[:1])[0]
    assert generation.error.startswith("HTTP 400") and len(server.calls) == 1
    server.script.append(("status", 401, None))
    generation = adapter("anthropic", server, monkeypatch).generate(requests[:1])[0]
    assert generation.error.startswith("HTTP 401") and "ANTHROPIC_API_KEY" in generation.error
    assert len(server.calls) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_replies_that_are_not_answers_are_failures(provider, server, monkeypatch,
                                                   requests) -> None:
    model = adapter(provider, server, monkeypatch)
    server.script.append(("refusal",))
    refused = model.generate(requests[:1])[0]
    assert not refused.ok and refused.error.startswith("refused") and len(server.calls) == 1
    server.script.extend([("reply", "")] * 3)  # empty: tried again, then a failure
    empty = model.generate(requests[:1])[0]
    assert not empty.ok and "empty reply" in empty.error and len(server.calls) == 4
    assert model.retry_counts["empty reply"] == 2


def test_missing_key_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        make_model("anthropic", {"model": "claude"})


def test_image_limit_refuses_instead_of_dropping(server, monkeypatch, requests) -> None:
    model = adapter("openai", server, monkeypatch, max_images=2)
    assert "at most 2 images" in model.refusal(requests[0])


def test_key_never_reaches_logs_or_results(server, monkeypatch, small_dataset, tmp_path,
                                           capfd) -> None:
    from covip_eval.cli.evaluate import main

    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", KEY)
    server.reply_text = "\\boxed{A} In this photo I can see it."
    server.script.append(("status", 500, None))  # one failure, reported with its reason
    code = main(["--model", "openai-compatible", "--model_args",
                 f"base_url={server.url}/v1,model=m,max_retries=0",
                 "--judge", "openai-compatible",
                 "--judge_args", f"base_url={server.url}/v1,model=judge,samples=2",
                 "--tasks", "capeval_qa,lar_cag", "--dataset", str(small_dataset),
                 "--limit", "2", "--output_path", str(tmp_path), "--log_samples",
                 "--use_cache", str(tmp_path / "cache.sqlite")])
    assert code == 3  # one failed sample of two is above --max_failure_rate; results written
    out, err = capfd.readouterr()
    assert KEY not in out + err
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")]
    assert len(files) == 3
    for path in files:
        assert KEY not in path.read_text()
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    assert results["judge"]["model"]["adapter"] == "openai-compatible"
    assert results["judge"]["settings"]["top_k"] == 20  # the paper's judge sampling
    assert sum(sum(f.values()) for f in results["failures"].values()) == 1
    assert all(call["headers"]["authorization"] == f"Bearer {KEY}" for call in server.calls)


def test_no_key_of_any_provider_reaches_any_file_a_run_writes(server, monkeypatch,
                                                               small_dataset, tmp_path,
                                                               capfd) -> None:
    """Keys for every provider set; runs through each, with a cache, samples and a report;
    then every file written, and everything printed, is searched for every key."""
    from covip_eval.cli.evaluate import main
    from leaderboard.cli import main as board

    keys = {env: f"secret-{env.lower()}-0123456789" for env in
            ("OPENAI_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "ANTHROPIC_API_KEY",
             "GEMINI_API_KEY", "HF_TOKEN")}
    for env, value in keys.items():
        monkeypatch.setenv(env, value)
    server.reply_text = "\\boxed{A} In this photo I can see it."
    server.script.append(("status", 401, None))  # a failure whose reason is recorded
    common = ["--tasks", "capeval_qa,lar_cag", "--dataset", str(small_dataset), "--limit", "2",
              "--log_samples", "--use_cache", str(tmp_path / "cache.sqlite"),
              "--max_failure_rate", "1"]
    for model, judge in (("openai", "anthropic"), ("gemini", "openai-compatible")):
        assert main(["--model", model, "--model_args",
                     f"base_url={server.url}{'/v1' if 'openai' in model else ''},model=m,"
                     "max_retries=0",
                     "--judge", judge, "--judge_args",
                     f"base_url={server.url}{'/v1' if 'openai' in judge else ''},model=j",
                     "--output_path", str(tmp_path / model), *common]) == 0
    for model in ("openai", "gemini"):  # two judges: one leaderboard each
        assert board([str(tmp_path / model), "--report", "--out",
                      str(tmp_path / f"board_{model}")]) == 0
    printed = "".join(capfd.readouterr())
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written) and any(p.suffix == ".html"
                                                               for p in written)
    for value in keys.values():
        assert value not in printed
        for path in written:
            assert value.encode() not in path.read_bytes(), path


def test_claude_4_5_gets_temperature_alone(server, monkeypatch, requests) -> None:
    model = adapter("anthropic", server, monkeypatch, model="claude-sonnet-4-5",
                    send_sampling=True, max_concurrency=1)  # the server sees them in order
    model.generate(requests)  # one greedy request, one sampled
    greedy, sampled = (call["body"] for call in server.calls)
    assert greedy["temperature"] == 0 and "top_p" not in greedy
    assert sampled["temperature"] == 0.7 and "top_p" not in sampled and "top_k" not in sampled
    assert {"top_p", "top_k"} <= model.ignored_options(requests[1])  # counted, never sent


def test_images_go_in_their_real_format(server, monkeypatch, requests) -> None:
    import base64
    import io

    from PIL import Image

    from benchmark import ImageData

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buffer, format="BMP")
    bmp, jpeg = ImageData(buffer.getvalue()), ImageData(base64.b64decode(
        "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q=="))
    assert jpeg.for_api()[1] == "image/jpeg" and jpeg.for_api()[0] == jpeg.data
    data, mime = bmp.for_api()
    assert mime == "image/png" and data.startswith(b"\x89PNG")  # converted, not mislabelled


def test_reasoning_models_get_effort_and_completion_tokens(server, monkeypatch,
                                                          requests) -> None:
    model = adapter("openai", server, monkeypatch, model="o4-mini", send_sampling=False,
                    reasoning_effort="low")
    model.generate(requests[1:])
    body = server.calls[0]["body"]
    assert body["reasoning_effort"] == "low" and body["max_completion_tokens"] == 64
    assert "temperature" not in body and "top_p" not in body
    assert model.identity["reasoning_effort"] == "low"  # another setting, another cache key


def test_openai_clients_use_aiohttp_when_the_extra_is_installed() -> None:
    """With hundreds of calls in flight httpx's pool costs milliseconds of CPU a call; the
    `api` extra installs aiohttp, and the clients take it."""
    import asyncio

    import openai

    from covip_eval.models.openai_chat import async_client

    pytest.importorskip("aiohttp")

    async def make() -> str:
        client = async_client(openai, api_key="EMPTY", base_url="http://127.0.0.1:9/v1")
        name = type(client._client).__name__
        await client.close()
        return name

    assert "aiohttp" in asyncio.run(make()).lower()
