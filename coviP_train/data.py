"""Benchmark samples as TRL prompts: the evaluation's caption request, in TRL's conversational
format, with the images in order and the questions the reward needs.

TRL never truncates prompts, so images are capped here: each is resized under `max_pixels`,
and a sample with more than `max_images` images is left out and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from benchmark import CapEvalSample, load_benchmark
from covip_eval.prompts import load_template
from covip_eval.request_builder import caption_request
from covip_eval.requests import ChatRequest, GenParams, ImagePart

CAPTION_PROMPTS = {"memory_header": "memory_header", "memory_dialogue": "memory_dialogue",
                   "query_header": "query_header", "caption": "caption_instruction"}


@dataclass
class PromptSet:
    rows: list[dict[str, Any]]
    skipped: dict[str, str]


def _conversation(request: ChatRequest) -> list[dict[str, Any]]:
    conversation = []
    for message in request.messages:
        content = [{"type": "image"} if isinstance(p, ImagePart) else
                   {"type": "text", "text": p.text} for p in message.parts]
        conversation.append({"role": message.role, "content": content})
    return conversation


def _capped(image: Any, max_pixels: int) -> Any:
    pil = image.to_pil()
    if pil.width * pil.height <= max_pixels:
        return pil
    scale = (max_pixels / (pil.width * pil.height)) ** 0.5
    return pil.resize((max(1, int(pil.width * scale)), max(1, int(pil.height * scale))))


def _qa_column(sample: CapEvalSample) -> str:
    return json.dumps([{"id": qa.id, "question": qa.question, "options": list(qa.options),
                        "correct_answer": qa.correct_answer,
                        "positive": k in sample.positive_indices}
                       for k, concept in enumerate(sample.context) for qa in concept.qas])


def build_prompts(dataset: str, limit: int | None, max_images: int, max_pixels: int,
                  concept_counts: list[int] | None = None) -> PromptSet:
    samples = load_benchmark(dataset, "capeval_qa").samples
    if concept_counts:
        samples = tuple(s for s in samples if s.n_concepts in concept_counts)
    samples = samples[:limit] if limit is not None else samples
    prompts = {role: load_template(ref) for role, ref in CAPTION_PROMPTS.items()}
    rows, skipped = [], {}
    for sample in samples:
        assert isinstance(sample, CapEvalSample)
        request = caption_request(sample, prompts, GenParams())
        if len(request.images) > max_images:
            skipped[sample.sample_id] = f"{len(request.images)} images > max_images={max_images}"
            continue
        rows.append({
            "prompt": _conversation(request),
            "images": [_capped(img, max_pixels) for img in request.images],
            "qa_items": _qa_column(sample),
            "sample_id": sample.sample_id,
            "n_concepts": sample.n_concepts,
        })
    return PromptSet(rows, skipped)
