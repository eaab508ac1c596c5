"""The transformers adapter on the tiny random Qwen3-VL: real processor, real generate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from benchmark import load_benchmark  # noqa: E402
from covip_eval.engine.prompts import load_template  # noqa: E402
from covip_eval.engine.request_builder import cag_request, caption_request  # noqa: E402
from covip_eval.engine.run import EvalSettings, evaluate  # noqa: E402
from covip_eval.models.tiny_random import TinyRandomModel  # noqa: E402
from covip_eval.requests import GenParams, ImagePart, TextPart  # noqa: E402

ROLES = {"memory_header": "memory_header", "memory_dialogue": "memory_dialogue",
         "query_header": "query_header", "caption": "caption_instruction",
         "system": "system_personalize", "question": "lsd_question"}


@pytest.fixture(scope="module")
def model() -> TinyRandomModel:
    return TinyRandomModel(batch_size=4)


@pytest.fixture(scope="module")
def requests(small_dataset: Path):
    prompts = {role: load_template(ref) for role, ref in ROLES.items()}
    samples = load_benchmark(str(small_dataset), "lsd").samples
    params = GenParams(max_new_tokens=6)
    return [caption_request(s, prompts, params) for s in samples[:3]] + [
        cag_request(samples[3], prompts, "A caption.", params)]


def test_out_of_memory_halves_the_batch(model: TinyRandomModel, requests, monkeypatch) -> None:
    import torch

    expected = [model.generate([r])[0].text for r in requests]
    real = model.model.generate

    def small_memory(**inputs):
        if inputs["input_ids"].shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(**inputs)

    monkeypatch.setattr(model.model, "generate", small_memory)
    before = model.oom_splits
    assert [g.text for g in model.generate(requests)] == expected
    assert model.oom_splits - before == 3  # 4 -> 2 + 2 -> 1 + 1 + 1 + 1


def test_a_batch_above_the_token_budget_is_split_before_it_runs(
        model: TinyRandomModel, requests, monkeypatch) -> None:
    expected = [g.text for g in model.generate(requests)]
    longest = max(model.prepare([r])["input_ids"].shape[1] for r in requests)
    sizes = []  # the batch sizes that reached generate
    real = model.model.generate
    monkeypatch.setattr(model.model, "generate", lambda **inputs: sizes.append(
        inputs["input_ids"].shape[0]) or real(**inputs))
    monkeypatch.setattr(model, "max_batch_tokens", 2 * longest)
    before = model.token_splits
    assert [g.text for g in model.generate(requests)] == expected
    assert max(sizes) <= 2 and model.token_splits - before >= 1
    assert TinyRandomModel(batch_size=4).max_batch_tokens == 32768  # a CPU's default


def test_batched_greedy_equals_one_at_a_time(model: TinyRandomModel, requests) -> None:
    batched = model.generate(requests)
    single = [model.generate([r])[0] for r in requests]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.ok and g.output_tokens > 0 for g in batched)


@pytest.mark.parametrize("sizes_cache", [True, False])
def test_static_cache_sized_by_bucket_changes_no_output(model: TinyRandomModel, requests,
                                                        monkeypatch, sizes_cache: bool) -> None:
    """The GPU default (a static cache sized to a length bucket) forced on the CPU: the same
    greedy outputs as the dynamic cache. The prompt goes unpadded and the cache holds it and its
    new tokens; a transformers that sizes the cache to each call gets the prompt padded to a
    bucket instead. Buckets are few and hold every length."""
    from covip_eval.models import hf

    assert model.cache_implementation is None  # a CPU keeps the dynamic cache
    dynamic = [g.text for g in model.generate(requests)]
    static = TinyRandomModel(batch_size=4, cache_implementation="static")
    assert static.cache_implementation == "static"
    assert hf.sizes_static_cache()  # the transformers installed here sizes it; older, forced:
    monkeypatch.setattr(hf, "sizes_static_cache", lambda: sizes_cache)
    calls = []
    real = static.model.generate

    def recorded(**kwargs):
        calls.append((kwargs["input_ids"].shape[1], kwargs.get("max_cache_len")))
        return real(**kwargs)

    monkeypatch.setattr(static.model, "generate", recorded)
    assert [g.text for g in static.generate(requests)] == dynamic
    prompt_length = static.prepare(requests)["input_ids"].shape[1]
    new_tokens = requests[0].params.max_new_tokens
    assert calls == ([(prompt_length, hf.bucket_length(prompt_length + new_tokens))]
                     if sizes_cache else [(hf.bucket_length(prompt_length), None)])
    lengths = range(1, 20_000)
    assert all(hf.bucket_length(n) >= n for n in lengths)
    assert len({hf.bucket_length(n) for n in lengths}) == 14  # 256, 384, ... 16384, 24576
    assert max(hf.bucket_length(n) / n for n in range(300, 20_000)) <= 1.5


def test_grouped_attention_changes_no_output(model: TinyRandomModel, requests,
                                             monkeypatch) -> None:
    """Qwen3-VL's grouped attention paths, on with the static cache by default on a GPU,
    forced on the CPU: the same greedy outputs as transformers' attention, and the batch's
    decode steps attend on the key/value heads (query heads folded into rows)."""
    import torch.nn.functional as F

    assert not model.grouped_attention  # a CPU keeps transformers' attention
    expected = [g.text for g in model.generate(requests)]
    grouped = TinyRandomModel(batch_size=4, cache_implementation="static",
                              grouped_attention=True)
    text = grouped.model.config.text_config
    groups = text.num_attention_heads // text.num_key_value_heads
    shapes = []
    real = F.scaled_dot_product_attention

    def recorded(query, key, value, **kwargs):
        shapes.append((tuple(query.shape), tuple(key.shape)))
        return real(query, key, value, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", recorded)
    assert [g.text for g in grouped.generate(requests)] == expected
    folded = (len(requests), text.num_key_value_heads, groups, text.head_dim)
    assert sum(query == folded and key[:2] == folded[:2] for query, key in shapes) == \
        text.num_hidden_layers * (requests[0].params.max_new_tokens - 1)


def test_image_placeholders_sit_where_the_images_were(model: TinyRandomModel, requests) -> None:
    request = requests[0]
    inputs = model.prepare([request])
    decoded = model.processor.tokenizer.decode(inputs["input_ids"][0])
    blocks = re.findall(r"<\|vision_start\|>((?:<\|image_pad\|>)+)<\|vision_end\|>", decoded)
    assert len(blocks) == len(request.images)
    merge = model.processor.image_processor.merge_size ** 2
    expected_pads = [int(g.prod()) // merge for g in inputs["image_grid_thw"]]
    assert [b.count("<|image_pad|>") for b in blocks] == expected_pads
    texts_between = re.split(r"<\|vision_start\|>(?:<\|image_pad\|>)+<\|vision_end\|>", decoded)
    parts = request.messages[0].parts
    expected_texts = [p.text for p in parts if isinstance(p, TextPart)]
    assert isinstance(parts[1], ImagePart) and isinstance(parts[0], TextPart)
    # each text part of the request lies between the same two images in the model input
    for segment, text in zip(texts_between, expected_texts):
        assert text in segment


def test_cag_conversation_keeps_the_caption_as_assistant_turn(model, requests) -> None:
    decoded = model.processor.tokenizer.decode(model.prepare([requests[3]])["input_ids"][0])
    assert "<|im_start|>assistant\nA caption.<|im_end|>" in decoded
    assert decoded.rstrip().endswith("<|im_start|>assistant")


def test_tiny_random_through_the_evaluator(small_dataset: Path) -> None:
    results = evaluate(EvalSettings(
        model="tiny-random", model_args={"batch_size": 4},
        tasks=["capeval_qa", "lsd_cag"], dataset=str(small_dataset), judge="lexical",
        gen_kwargs={"max_new_tokens": 8}, limit=2, progress=False)).results
    assert results["config"]["model_identity"]["adapter"] == "tiny-random"
    assert results["counts"]["capeval_qa"]["n_scored"] == 2
    assert results["usage"]["model"]["output_tokens"] > 0
    assert results["usage"]["model"]["ignored_options"] == {"presence_penalty": 2}


@pytest.mark.gpu
def test_tiny_random_on_gpu(requests) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gpu = TinyRandomModel(batch_size=4, device_map="cuda", dtype="float32")
    cpu = TinyRandomModel(batch_size=4)
    assert gpu.model.device.type == "cuda"
    assert [g.ok for g in gpu.generate(requests)] == [True] * len(requests)
    assert len(cpu.generate(requests[:1])) == 1


def test_retrained_weights_are_never_served_from_the_cache(tmp_path: Path,
                                                           small_dataset: Path) -> None:
    import os

    from covip_eval.models.tiny_families import save_tiny_random

    folder = save_tiny_random(tmp_path / "model", seed=0)
    settings = dict(model="hf", model_args={"pretrained": str(folder)}, tasks=["lsd_direct"],
                    dataset=str(small_dataset), limit=2, gen_kwargs={"max_new_tokens": 4},
                    cache_path=tmp_path / "cache.sqlite", progress=False)
    first = evaluate(EvalSettings(**settings)).results["usage"]["model"]
    again = evaluate(EvalSettings(**settings)).results["usage"]["model"]
    assert first["called"] == 2 and again["called"] == 0  # the same weights: from the cache
    save_tiny_random(folder, seed=1)  # retrained into the same folder
    weights = folder / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    retrained = evaluate(EvalSettings(**settings)).results["usage"]["model"]
    assert retrained["called"] == 2 and retrained["cached"] == 0


@pytest.mark.parametrize(("name", "message"), [
    ("./no/such/folder", "no such folder"),
    ("nobody/no-such-model-covip", "cannot load model 'nobody/no-such-model-covip'"),
])
def test_model_loading_errors_are_one_line(name: str, message: str, capsys) -> None:
    from covip_eval.cli.evaluate import main

    code = main(["--model", "hf", "--model_args", f"pretrained={name}", "--tasks",
                 "lsd_direct", "--limit", "1", "--no_progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
