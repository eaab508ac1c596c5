"""Benchmark samples as TRL prompts: the evaluation's caption request (the prompts of the
`capeval_qa` task), in TRL's conversational format, with the images in order; the reward
finds each prompt's sample by its `sample_id` column.

TRL never truncates prompts, so images are capped here: each is resized under `max_pixels`,
and a sample with more than `max_images` images is left out and counted. Rows hold encoded
images (an image already under the cap keeps its bytes, undecoded); `as_dataset` makes them
`datasets` Image columns, decoded per row as TRL reads it, so the prompts of a large dataset
never hold its pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from benchmark import CapEvalSample, ImageData, load_benchmark
from benchmark.images import open_image
from covip_eval.registry import TaskIndex
from covip_eval.request_builder import caption_request
from covip_eval.requests import ChatRequest, GenParams, ImagePart

CAPTION_TASK = "capeval_qa"


@dataclass
class PromptSet:
    rows: list[dict[str, Any]]
    samples: dict[str, CapEvalSample]  # by sample id: what the reward scores against
    skipped: dict[str, str]


def conversation(request: ChatRequest) -> list[dict[str, Any]]:
    conversation = []
    for message in request.messages:
        content = [{"type": "image"} if isinstance(p, ImagePart) else
                   {"type": "text", "text": p.text} for p in message.parts]
        conversation.append({"role": message.role, "content": content})
    return conversation


def capped(image: ImageData, max_pixels: int) -> dict[str, Any]:
    """The image as a `datasets` Image cell, resized (PNG) when it is above `max_pixels`."""
    width, height = image_size(image.data)
    if width * height <= max_pixels:
        return {"bytes": image.data, "path": None}
    pil = image.to_pil()
    scale = (max_pixels / (pil.width * pil.height)) ** 0.5
    small = pil.resize((max(1, int(pil.width * scale)), max(1, int(pil.height * scale))))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header, without decoding the pixels."""
    with open_image(data) as img:
        return img.size


def as_dataset(rows: list[dict[str, Any]]) -> Any:
    """The rows as a `datasets.Dataset` whose `images` column (if any) decodes per row."""
    from datasets import Dataset, Image, List

    dataset = Dataset.from_list(rows)
    if "images" in dataset.column_names:
        dataset = dataset.cast_column("images", List(Image()))
    return dataset


def build_prompts(dataset: str, limit: int | None, max_images: int, max_pixels: int,
                  concept_counts: list[int] | None = None) -> PromptSet:
    samples = load_benchmark(dataset, "capeval_qa").samples
    if concept_counts:
        samples = tuple(s for s in samples if s.n_concepts in concept_counts)
    samples = samples[:limit] if limit is not None else samples
    prompts = TaskIndex().tasks[CAPTION_TASK].prompt_templates()
    rows, kept, skipped = [], {}, {}
    for sample in samples:
        assert isinstance(sample, CapEvalSample)
        request = caption_request(sample, prompts, GenParams())
        if len(request.images) > max_images:
            skipped[sample.sample_id] = f"{len(request.images)} images > max_images={max_images}"
            continue
        rows.append({
            "prompt": conversation(request),
            "images": [capped(img, max_pixels) for img in request.images],
            "sample_id": sample.sample_id,
            "n_concepts": sample.n_concepts,
        })
        kept[sample.sample_id] = sample
    return PromptSet(rows, kept, skipped)
