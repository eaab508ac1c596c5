"""Typed, immutable records of the benchmark: images, questions, concepts and samples."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image as PILImage

OPTION_LETTERS = ("A", "B", "C", "D")
CANNOT_DETERMINE = "The answer cannot be determined"
DiagnosticTask = Literal["lsd", "lar", "itr"]

_decode_count = 0


def image_decode_count() -> int:
    """How many images have been decoded to pixels in this process (for benchmarks)."""
    return _decode_count


@dataclass(frozen=True, eq=False)
class ImageData:
    """An encoded image (PNG or JPEG bytes), identified by the SHA-256 of its bytes.

    Pixels are decoded on first use and kept, so one record is decoded at most once.
    """

    data: bytes
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageData) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def to_pil(self) -> PILImage.Image:
        """The decoded RGB image (decoded once, then reused)."""
        cached = self.__dict__.get("_pil")
        if cached is None:
            from PIL import Image

            global _decode_count
            _decode_count += 1
            with Image.open(io.BytesIO(self.data)) as img:
                cached = img.convert("RGB")
            object.__setattr__(self, "_pil", cached)
        return cached

    @property
    def mime_type(self) -> str | None:
        """The real format of the bytes, or None when it is not one that APIs take."""
        data = self.data
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return "image/png"
        if data[:3] == b"\xff\xd8\xff":
            return "image/jpeg"
        if data[:4] == b"GIF8":
            return "image/gif"
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return "image/webp"
        return None

    def for_api(self) -> tuple[bytes, str]:
        """Bytes and MIME type as an API takes them: the bytes as they are when their format
        is PNG, JPEG, GIF or WebP, else the decoded image as PNG."""
        mime = self.mime_type
        if mime is not None:
            return self.data, mime
        converted = self.__dict__.get("_png")  # converted once, as decoding is
        if converted is None:
            buffer = io.BytesIO()
            self.to_pil().save(buffer, format="PNG")
            converted = buffer.getvalue()
            object.__setattr__(self, "_png", converted)
        return converted, "image/png"


@dataclass(frozen=True)
class QA:
    """A multiple-choice question: options A, B, C (one correct) and D, 'cannot be determined'."""

    id: str
    question: str
    options: tuple[str, str, str, str]
    correct_answer: str

    def option(self, letter: str) -> str:
        return self.options[OPTION_LETTERS.index(letter)]


@dataclass(frozen=True)
class Concept:
    """One context entry: a concept as the user showed it once (an image) and talked about it."""

    name: str
    category: str
    image: ImageData
    dialogue: str
    facts: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    qas: tuple[QA, ...] = ()


Box = tuple[int, int, int, int]  # x0, y0, x1, y1: pixels of the stored image, x1 and y1 exclusive


@dataclass(frozen=True)
class CapEvalSample:
    """A CapEval-QA sample: interleaved context concepts, a query image, and which are present.

    `query_boxes`: where each present concept is in the query image, in the order of
    `positive_indices` (empty when a dataset does not say)."""

    sample_id: str
    query_image: ImageData
    context: tuple[Concept, ...]
    positive_indices: tuple[int, ...]
    query_boxes: tuple[Box, ...] = ()

    @property
    def n_concepts(self) -> int:
        return len(self.positive_indices)

    @property
    def positive_names(self) -> tuple[str, ...]:
        return tuple(self.context[i].name for i in self.positive_indices)


@dataclass(frozen=True)
class DiagnosticSample:
    """An LSD / LAR / ITR item: encounters with one individual among distractors, then a query.

    `positive_indices` are the context entries showing the individual in the query image
    (empty when a dataset does not say). `answer` is the last-seen place (LSD), `last_action`
    the user's action at the latest encounter (LAR), `keyword` the planted word (ITR).
    `query_boxes`: the individual's box in the query image (one; empty when a dataset does
    not say).
    """

    sample_id: str
    task: DiagnosticTask
    query_image: ImageData
    context: tuple[Concept, ...]
    positive_indices: tuple[int, ...] = ()
    answer: str = ""
    last_action: str = ""
    keyword: str = ""
    query_boxes: tuple[Box, ...] = ()

    @property
    def n_concepts(self) -> int:
        return 1


Sample = CapEvalSample | DiagnosticSample
