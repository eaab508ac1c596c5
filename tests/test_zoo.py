"""The open VLM families on the transformers path: a tiny random model of each runs every task
one at a time and batched, batching changes nothing, images sit in their places, turns and stop
tokens are the family's own, and image-size limits are taken in each family's terms or refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from benchmark import load_benchmark  # noqa: E402
from covip_eval.engine.request_builder import caption_request, direct_request  # noqa: E402
from covip_eval.engine.run import EvalSettings, evaluate  # noqa: E402
from covip_eval.errors import ConfigError  # noqa: E402
from covip_eval.models.hf import processor_inputs, to_hf_messages  # noqa: E402
from covip_eval.models.tiny_families import FAMILIES  # noqa: E402
from covip_eval.models.tiny_random import TinyRandomModel  # noqa: E402
from covip_eval.registry import TaskIndex  # noqa: E402
from covip_eval.requests import GenParams, ImagePart, TextPart  # noqa: E402

# what each family's own template writes: the marker of one image, the end of a turn (also the
# stop token) and the generation prompt
FORMATS = {
    "qwen3_vl": ("<|vision_start|><|image_pad|><|vision_end|>", "<|im_end|>",
                 "<|im_start|>assistant\n"),
    "qwen3_vl_moe": ("<|vision_start|><|image_pad|><|vision_end|>", "<|im_end|>",
                     "<|im_start|>assistant\n"),
    "qwen2_5_vl": ("<|vision_start|><|image_pad|><|vision_end|>", "<|im_end|>",
                   "<|im_start|>assistant\n"),
    "gemma3": ("<start_of_image>", "<end_of_turn>", "<start_of_turn>model\n"),
    "llava_onevision": ("<image>", "<|im_end|>", "<|im_start|>assistant\n"),
    "idefics3": ("<image>", "<end_of_utterance>", "Assistant:"),
    "internvl": ("<IMG_CONTEXT>", "<|im_end|>", "<|im_start|>assistant\n"),
}


def test_every_family_has_its_format() -> None:
    assert set(FORMATS) == set(FAMILIES)


@pytest.fixture(scope="module")
def requests(small_dataset: Path):
    """Requests with 4, 7, 10 and 1 images (1- to 3-concept captions, a direct question)."""
    index = TaskIndex()
    caption, direct = index.tasks["capeval_qa"], index.tasks["lsd_direct"]
    params = GenParams(max_new_tokens=5)
    samples = load_benchmark(str(small_dataset), "capeval_qa").samples
    by_count = {s.n_concepts: s for s in samples}
    lsd = load_benchmark(str(small_dataset), "lsd").samples[0]
    return [caption_request(by_count[n], caption.prompt_templates(), params) for n in (1, 2, 3)] \
        + [direct_request(lsd, direct.prompt_templates(), params)]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def model(request) -> TinyRandomModel:
    return TinyRandomModel(family=request.param, batch_size=4)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_every_task_runs_with_no_failures(model: TinyRandomModel, batch_size: int,
                                          small_dataset: Path) -> None:
    results = evaluate(EvalSettings(
        model="tiny-random",
        model_args={"family": model.options.family, "batch_size": batch_size},
        tasks=["covip"], dataset=str(small_dataset), judge="lexical", limit=4,
        gen_kwargs={"max_new_tokens": 6}, progress=False)).results
    tasks = TaskIndex().groups["covip"]
    assert len(tasks) == 7  # CapEval-QA, and LSD, LAR, ITR direct and after a caption
    for task in tasks:
        # a random model may write nothing in six tokens: that is a failure with its reason,
        # and the only one allowed
        failures = results["failures"][task]
        assert results["counts"][task]["n_scored"] + sum(failures.values()) == 4, task
        assert all(r.endswith("empty reply: the model wrote no text") for r in failures), task


def test_batching_changes_nothing(model: TinyRandomModel, requests) -> None:
    """The processor's tokens for each request and the greedy outputs are the same in a batch
    of prompts with different numbers of images as one at a time."""
    batch = processor_inputs(model.processor, requests)
    for row, request in enumerate(requests):
        alone = processor_inputs(model.processor, [request])["input_ids"][0]
        kept = batch["attention_mask"][row].bool()
        assert batch["input_ids"][row][kept].tolist() == alone.tolist()
    assert [g.text for g in model.generate(requests)] == \
        [model.generate([r])[0].text for r in requests]


def test_llava_onevision_reads_each_prompt_as_one_multi_image_prompt(requests) -> None:
    model = TinyRandomModel(family="llava_onevision")
    inputs = processor_inputs(model.processor, requests)
    assert inputs["batch_num_images"].tolist() == [len(r.images) for r in requests]


def test_images_sit_where_the_request_has_them(model: TinyRandomModel, requests) -> None:
    marker, _, _ = FORMATS[model.options.family]
    for request in requests:
        segments = _rendered(model, request).split(marker)
        assert len(segments) == len(request.images) + 1
        # the text parts between two images of the request lie between the same two markers
        segment = 0
        for part in (p for m in request.messages for p in m.parts):
            if isinstance(part, ImagePart):
                segment += 1
            elif isinstance(part, TextPart):
                assert part.text in segments[segment]


def test_turns_end_with_the_familys_stop_token(model: TinyRandomModel, requests) -> None:
    _, end_of_turn, generation_prompt = FORMATS[model.options.family]
    text = _rendered(model, requests[0])
    assert text.endswith(generation_prompt)
    assert text.count(end_of_turn) >= len(requests[0].messages)  # Qwen2.5 adds a system turn
    tokenizer = model.processor.tokenizer
    assert model.model.generation_config.eos_token_id == \
        tokenizer.convert_tokens_to_ids(end_of_turn)


def _rendered(model: TinyRandomModel, request) -> str:
    messages, _ = to_hf_messages(request)
    return model.processor.apply_chat_template(messages, tokenize=False,
                                               add_generation_prompt=True)


@pytest.mark.parametrize(("family", "option", "value", "size"), [
    ("qwen3_vl", "max_pixels", 128 * 128, {"longest_edge": 128 * 128}),
    ("qwen2_5_vl", "min_pixels", 28 * 28, {"shortest_edge": 28 * 28}),
    ("idefics3", "longest_edge", 96, {"longest_edge": 96}),
])
def test_image_limits_in_the_familys_own_terms(family, option, value, size) -> None:
    model = TinyRandomModel(family=family, **{option: value})
    assert model.processor.image_processor.size.items() >= size.items()


@pytest.mark.parametrize(("family", "option", "message"), [
    ("gemma3", "max_pixels", "own fixed size or tiles"),
    ("internvl", "max_pixels", "own fixed size or tiles"),
    ("idefics3", "max_pixels", "use longest_edge"),
    ("qwen3_vl", "longest_edge", "use max_pixels"),
])
def test_a_limit_a_family_cannot_take_is_refused(family, option, message) -> None:
    with pytest.raises(ConfigError, match=rf"cannot take {option} \(.*{message}"):
        TinyRandomModel(family=family, **{option: 1024})


def test_unknown_family_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown family 'gemma9'; choose from qwen3_vl"):
        TinyRandomModel(family="gemma9")
