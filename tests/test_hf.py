"""The transformers adapter on the tiny random Qwen3-VL: real processor, real generate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from benchmark import load_benchmark  # noqa: E402
from covip_eval.models.tiny_random import TinyRandomModel  # noqa: E402
from covip_eval.prompts import load_template  # noqa: E402
from covip_eval.request_builder import cag_request, caption_request  # noqa: E402
from covip_eval.requests import GenParams, ImagePart, TextPart  # noqa: E402
from covip_eval.run import EvalSettings, evaluate  # noqa: E402

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


def test_batched_greedy_equals_one_at_a_time(model: TinyRandomModel, requests) -> None:
    batched = model.generate(requests)
    single = [model.generate([r])[0] for r in requests]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.ok and g.output_tokens > 0 for g in batched)


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
    assert results["results"]["capeval_qa"]["n_scored"] == 2
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
