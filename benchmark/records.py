"""Typed, immutable records of the benchmark: images, questions, concepts and samples."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image as PILImage

OPTION_LETTERS = ("A", "B", "C", "D")
CANNOT_DETERMINE = "The answer cannot be determined"
DiagnosticTask = Literal["lsd", "lar", "itr"]

class ImageData:
    """An encoded image (PNG or JPEG bytes), identified by the SHA-256 of its bytes.

    The bytes are held, or read again when needed from where the dataset stores them
    (`ImageData.stored`), so a loaded dataset holds its images' hashes, not their bytes.
    Pixels are never kept on the record: `to_pil` decodes through a small cache shared by the
    process (`benchmark.images`), so memory does not grow with the number of samples.
    """

    __slots__ = ("_data", "_fetch", "sha256")

    def __init__(self, data: bytes):
        self._data: bytes | None = data
        self._fetch: Callable[[], bytes] | None = None
        self.sha256 = hashlib.sha256(data).hexdigest()

    @classmethod
    def stored(cls, sha256: str, fetch: Callable[[], bytes]) -> ImageData:
        """An image whose bytes `fetch()` reads when needed (a picklable callable)."""
        image = cls.__new__(cls)
        image._data, image._fetch, image.sha256 = None, fetch, sha256
        return image

    @property
    def data(self) -> bytes:
        if self._data is not None:
            return self._data
        assert self._fetch is not None
        return self._fetch()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageData) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"ImageData(sha256={self.sha256[:12]}...)"

    def __getstate__(self) -> tuple:
        return self._data, self._fetch, self.sha256

    def __setstate__(self, state: tuple) -> None:
        self._data, self._fetch, self.sha256 = state

    def to_pil(self) -> PILImage.Image:
        """The decoded RGB image (from the process's decoded-image cache when it is there).
        Treat it as read-only: the cache may hand the same object to another caller."""
        from benchmark.images import decode

        return decode(self.sha256, lambda: self.data)

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
        buffer = io.BytesIO()
        self.to_pil().save(buffer, format="PNG")
        return buffer.getvalue(), "image/png"


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

    @property
    def target(self) -> dict[str, list]:
        """What it is scored against: the concepts present (their indices and names)."""
        return {"positives": list(self.positive_indices), "names": list(self.positive_names)}


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

    @property
    def target(self) -> str:
        """What it is scored against: its task's field."""
        return str(getattr(self, TARGET_FIELDS[self.task]))


# the field of a diagnostic sample that its task scores against
TARGET_FIELDS: dict[str, str] = {"lsd": "answer", "lar": "last_action", "itr": "keyword"}


Sample = CapEvalSample | DiagnosticSample
