"""Benchmark samples as TRL prompts: the evaluation's caption request (the prompts of the
`capeval_qa` task), in TRL's conversational format, with the images in order; the reward
finds each prompt's sample by its `sample_id` column.

TRL never truncates prompts, so images are capped here: each is resized under `max_pixels`,
and a sample with more than `max_images` images is left out and counted. Rows hold encoded
images (an image already under the cap keeps its bytes, undecoded) and are made again each
time they are read (`Rows`), from samples read as needed; `as_dataset` writes them to an
Arrow file, memory-mapped, whose Image columns decode per row as TRL reads it. So the data
step holds neither the dataset's pixels nor its rows.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark import CapEvalSample, ImageData, Sample, load_benchmark
from benchmark.images import open_image
from covip_eval.engine.request_builder import caption_request
from covip_eval.registry import TaskIndex
from covip_eval.requests import ChatRequest, GenParams, ImagePart

CAPTION_TASK = "capeval_qa"


Row = dict[str, Any]


class Rows:
    """Training rows, made again each time they are iterated (by `make`, from the samples at
    `positions`), so that only the samples' positions are held."""

    def __init__(self, make: Callable[[Sequence[int]], Iterator[Row]], positions: list[int]):
        self.make, self.positions = make, positions

    def __iter__(self) -> Iterator[Row]:
        return self.make(self.positions)

    def head(self, count: int) -> list[Row]:
        """The rows of the first `count` samples."""
        return list(self.make(self.positions[:count]))


class SamplesById(Mapping[str, CapEvalSample]):
    """The samples by id, each read from the dataset when asked for."""

    def __init__(self, samples: Sequence[Sample], positions: Iterable[int]):
        self._samples = samples
        self._position = {samples[p].sample_id: p for p in positions}

    def __getitem__(self, sample_id: str) -> CapEvalSample:
        sample = self._samples[self._position[sample_id]]
        assert isinstance(sample, CapEvalSample)
        return sample

    def __iter__(self) -> Iterator[str]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)


@dataclass
class PromptSet:
    rows: Rows
    samples: SamplesById  # what the reward scores against
    skipped: dict[str, str]
    features: Any  # the rows' `datasets` features

    def as_dataset(self) -> Any:
        return as_dataset(self.rows, self.features)


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


def conversation_feature() -> Any:
    """The `datasets` type of a conversation in TRL's format."""
    from datasets import List, Value

    part = {"type": Value("string"), "text": Value("string")}
    return List({"role": Value("string"), "content": List(part)})


def prompt_features(**more: Any) -> Any:
    """The columns of the caption prompts (`build_prompts`), and `more`."""
    from datasets import Features, Image, List, Value

    return Features({"prompt": conversation_feature(), "images": List(Image()),
                     "sample_id": Value("string"), "n_concepts": Value("int64"), **more})


WRITER_BATCH_ROWS = 64  # rows in memory while the Arrow file is written


def as_dataset(rows: Iterable[Row], features: Any) -> Any:
    """The rows as a `datasets.Dataset` of `features` in an Arrow file (in the temporary
    folder), written a batch at a time and memory-mapped; Image columns decode per row."""
    from datasets import Dataset
    from datasets.arrow_writer import ArrowWriter

    handle, path = tempfile.mkstemp(prefix="coviP-train-", suffix=".arrow")
    os.close(handle)  # the writer opens the file by its path
    with ArrowWriter(path=path, features=features, writer_batch_size=WRITER_BATCH_ROWS) as out:
        for row in rows:
            out.write(row)
        out.finalize()
    return Dataset.from_file(path)


def build_prompts(dataset: str, limit: int | None, max_images: int, max_pixels: int,
                  concept_counts: list[int] | None = None) -> PromptSet:
    samples = load_benchmark(dataset, "capeval_qa").samples
    prompts = TaskIndex().tasks[CAPTION_TASK].prompt_templates()
    chosen = [p for p in range(len(samples))
              if not concept_counts or samples[p].n_concepts in concept_counts]
    chosen = chosen[:limit] if limit is not None else chosen
    kept, skipped = [], {}
    for p in chosen:
        images = 1 + len(samples[p].context)  # the context's, then the query
        if images > max_images:
            skipped[samples[p].sample_id] = f"{images} images > max_images={max_images}"
        else:
            kept.append(p)

    def make(positions: Sequence[int]) -> Iterator[Row]:
        for p in positions:
            sample = samples[p]
            request = caption_request(sample, prompts, GenParams())
            yield {
                "prompt": conversation(request),
                "images": [capped(img, max_pixels) for img in request.images],
                "sample_id": sample.sample_id,
                "n_concepts": sample.n_concepts,
            }

    return PromptSet(Rows(make, kept), SamplesById(samples, kept), skipped, prompt_features())
