"""Conversion between dataset rows (plain dicts, as `datasets` stores them) and records.

Reading a row validates it: any problem raises a `DatasetError` naming the source, the row and
the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from benchmark.errors import DatasetError
from benchmark.features import CAPEVAL_CONFIG, DIAGNOSTIC_CONFIGS
from benchmark.images import check_size, open_image
from benchmark.records import (
    OPTION_LETTERS,
    QA,
    TARGET_FIELDS,
    Box,
    CapEvalSample,
    Concept,
    DiagnosticSample,
    ImageData,
    Sample,
)

ImageResolver = Callable[[str], bytes]
"""Reads an image file named by a path relative to the dataset (and refuses escapes)."""
ImageLocator = Callable[[int, str], Callable[[], bytes]]
"""Where the image of a row and field is stored: a callable that reads its bytes again."""


class RowReader:
    """Validates rows of one source and turns them into records."""

    def __init__(self, source: str, resolve_image: ImageResolver | None = None,
                 locate_image: ImageLocator | None = None):
        self.source = source
        self.resolve_image = resolve_image
        # given, images stored in the rows are kept as their hash and location, not bytes
        self.locate_image = locate_image
        self.checked = False  # True: the rows were checked before, their images are not again

    def error(self, row: int, field: str, message: str) -> DatasetError:
        return DatasetError(self.source, message, row=row, field=field)

    def require(self, row: Mapping[str, Any], index: int, field: str) -> Any:
        if field not in row or row[field] is None:
            raise self.error(index, field, "missing")
        return row[field]

    def image(self, value: Any, index: int, field: str) -> ImageData:
        data, inline = self._image_bytes(value, index, field)
        if not self.checked:
            check_image(data, lambda msg: self.error(index, field, msg))
        if inline and self.locate_image is not None:
            return ImageData.stored(hashlib.sha256(data).hexdigest(),
                                    self.locate_image(index, field))
        return ImageData(data)

    def _image_bytes(self, value: Any, index: int, field: str) -> tuple[bytes, bool]:
        """The bytes, and whether the row holds them (rather than a path to them)."""
        if isinstance(value, Mapping):
            if value.get("bytes"):
                return bytes(value["bytes"]), True
            value = value.get("path")
        if isinstance(value, (bytes, bytearray)):
            return bytes(value), True
        if isinstance(value, str) and value:
            if self.resolve_image is None:
                raise self.error(index, field, f"image path {value!r} but no folder to read from")
            try:
                return self.resolve_image(value), False
            except DatasetError as exc:
                raise self.error(index, field, str(exc)) from None
            except OSError as exc:
                raise self.error(index, field, f"cannot read image {value!r}: {exc}") from None
        raise self.error(index, field, "missing image (neither bytes nor a path)")

    def context(self, row: Mapping[str, Any], index: int, with_qas: bool) -> tuple[Concept, ...]:
        images = self.require(row, index, "images_context")
        dialogues = self.require(row, index, "dialogues_context")
        if len(images) != len(dialogues):
            raise self.error(
                index, "dialogues_context", f"{len(dialogues)} dialogues for {len(images)} images"
            )
        names = _optional_list(row, "names_context", len(images), self, index)
        categories = _optional_list(row, "categories_context", len(images), self, index)
        facts = _optional_list(row, "facts_context", len(images), self, index)
        qas = self.require(row, index, "qas_context") if with_qas else [[]] * len(images)
        if len(qas) != len(images):
            raise self.error(index, "qas_context", f"{len(qas)} QA lists for {len(images)} images")
        concepts = []
        for k, (image, dialogue) in enumerate(zip(images, dialogues)):
            if not isinstance(dialogue, str) or not dialogue.strip():
                raise self.error(index, f"dialogues_context[{k}]", "empty dialogue")
            concepts.append(
                Concept(
                    name=names[k] or "",
                    category=categories[k] or "",
                    image=self.image(image, index, f"images_context[{k}]"),
                    dialogue=dialogue,
                    facts=self.facts(facts[k], index, f"facts_context[{k}]"),
                    qas=tuple(
                        self.qa(qa, index, f"qas_context[{k}][{j}]") for j, qa in enumerate(qas[k])
                    ),
                )
            )
        return tuple(concepts)

    def facts(self, value: str | None, index: int, field: str) -> MappingProxyType[str, str]:
        if not value:
            return MappingProxyType({})
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise self.error(index, field, f"not valid JSON: {exc.msg}") from None
        if not isinstance(parsed, dict):
            raise self.error(index, field, "must be a JSON object")
        return MappingProxyType({str(k): str(v) for k, v in parsed.items()})

    def qa(self, value: Any, index: int, field: str) -> QA:
        if not isinstance(value, Mapping):
            raise self.error(index, field, f"a QA must be an object, got {type(value).__name__}")
        for key in ("question", "options", "correct_answer"):
            if not value.get(key):
                raise self.error(index, f"{field}.{key}", "missing")
        options = value["options"]
        missing = [letter for letter in OPTION_LETTERS if not options.get(letter)]
        if missing:
            raise self.error(index, f"{field}.options", f"option(s) {', '.join(missing)} missing")
        if "cannot be determined" not in str(options["D"]).lower():
            raise self.error(
                index, f"{field}.options.D",
                f"must say 'cannot be determined', got {options['D']!r}",
            )
        correct = str(value["correct_answer"]).strip()
        if correct not in ("A", "B", "C"):
            raise self.error(
                index, f"{field}.correct_answer", f"must be exactly one of A, B, C, got {correct!r}"
            )
        texts = [str(options[letter]).strip().lower() for letter in "ABC"]
        if len(set(texts)) < 3:
            raise self.error(index, f"{field}.options", "options A, B, C are not distinct")
        return QA(
            id=str(value.get("id") or field),
            question=str(value["question"]),
            options=(str(options["A"]), str(options["B"]), str(options["C"]), str(options["D"])),
            correct_answer=correct,
        )

    def positives(self, row: Mapping[str, Any], index: int, n_context: int) -> tuple[int, ...]:
        gts = [int(g) for g in (row.get("gts") or [])]
        for g in gts:
            if not 0 <= g < n_context:
                raise self.error(index, "gts",
                                 f"positive index {g} out of range 0..{n_context - 1}")
        if len(set(gts)) != len(gts):
            raise self.error(index, "gts", f"repeated positive index in {gts}")
        return tuple(gts)

    def boxes(self, row: Mapping[str, Any], index: int, expected: int | None) -> tuple[Box, ...]:
        """`query_boxes`: [x0, y0, x1, y1] each, in pixels, x0 < x1 and y0 < y1; `expected`
        of them when given (one per positive), or none."""
        raw = row.get("query_boxes") or []
        boxes = []
        for k, box in enumerate(raw):
            values = [int(v) for v in box] if box is not None else []
            if len(values) != 4 or not (0 <= values[0] < values[2] and 0 <= values[1] < values[3]):
                raise self.error(index, f"query_boxes[{k}]",
                                 f"expected [x0, y0, x1, y1] with x0 < x1 and y0 < y1, got {box}")
            boxes.append((values[0], values[1], values[2], values[3]))
        if boxes and expected is not None and len(boxes) != expected:
            raise self.error(index, "query_boxes", f"{len(boxes)} boxes for {expected} positives")
        return tuple(boxes)

    def capeval(self, row: Mapping[str, Any], index: int) -> CapEvalSample:
        context = self.context(row, index, with_qas=True)
        positives = self.positives(row, index, len(context))
        if not positives:
            raise self.error(index, "gts", "no positive concept")
        declared = row.get("n_concepts")
        if declared is not None and int(declared) != len(positives):
            raise self.error(
                index, "n_concepts", f"says {declared} but 'gts' lists {len(positives)} positives"
            )
        return CapEvalSample(
            sample_id=str(row.get("sample_id") or f"sample_{index}"),
            query_image=self.image(self.require(row, index, "query_image"), index, "query_image"),
            context=context,
            positive_indices=positives,
            query_boxes=self.boxes(row, index, len(positives)),
        )

    def diagnostic(self, row: Mapping[str, Any], index: int, task: str) -> DiagnosticSample:
        context = self.context(row, index, with_qas=False)
        target_field = TARGET_FIELDS[task]
        if not str(row.get(target_field) or "").strip():
            raise self.error(index, target_field, f"missing (a {task.upper()} item needs it)")
        return DiagnosticSample(
            sample_id=str(row.get("sample_id") or f"{task}_{index}"),
            task=task,  # type: ignore[arg-type]
            query_image=self.image(self.require(row, index, "query_image"), index, "query_image"),
            context=context,
            positive_indices=self.positives(row, index, len(context)),
            answer=str(row.get("answer") or ""),
            last_action=str(row.get("last_action") or ""),
            keyword=str(row.get("keyword") or ""),
            query_boxes=self.boxes(row, index, None),
        )

    def read(self, config: str, rows: Iterable[Mapping[str, Any]]) -> list[Sample]:
        return [self.one(config, row, i) for i, row in enumerate(rows)]

    def one(self, config: str, row: Mapping[str, Any], index: int) -> Sample:
        """Row `index` of the source as a sample of `config`."""
        if config == CAPEVAL_CONFIG:
            return self.capeval(row, index)
        if config in DIAGNOSTIC_CONFIGS:
            return self.diagnostic(row, index, config)
        raise DatasetError(self.source, f"unknown configuration {config!r}")


def _optional_list(
    row: Mapping[str, Any], field: str, length: int, reader: RowReader, index: int
) -> list:
    values = row.get(field)
    if values is None or len(values) == 0:
        return [None] * length
    if len(values) != length:
        raise reader.error(index, field, f"{len(values)} entries for {length} context images")
    return list(values)


def check_image(data: bytes, fail: Callable[[str], DatasetError]) -> None:
    """Raise `fail(reason)` unless `data` is a readable image that can be decoded under the
    pixel limit (checked without decoding)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open_image(data) as img:
            too_large = check_size(img.width, img.height, img.format)
            img.verify()
    except Image.DecompressionBombError as exc:
        raise fail(f"image above the pixel limit ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise fail(f"corrupt image ({type(exc).__name__}: {exc})") from None
    if too_large is not None:
        raise fail(f"image of {too_large}")


def _image_cell(image: ImageData) -> dict[str, Any]:
    return {"bytes": image.data, "path": None}


def _context_columns(context: Sequence[Concept]) -> dict[str, list]:
    return {
        "images_context": [_image_cell(c.image) for c in context],
        "dialogues_context": [c.dialogue for c in context],
        "names_context": [c.name for c in context],
        "categories_context": [c.category for c in context],
        "facts_context": [json.dumps(dict(c.facts), sort_keys=True) for c in context],
    }


def _qa_cell(qa: QA) -> dict[str, Any]:
    return {
        "id": qa.id,
        "question": qa.question,
        "options": dict(zip(OPTION_LETTERS, qa.options)),
        "correct_answer": qa.correct_answer,
    }


def sample_to_row(sample: Sample) -> dict[str, Any]:
    """The dataset row of a record (inverse of `RowReader.read`)."""
    if isinstance(sample, CapEvalSample):
        return {
            "sample_id": sample.sample_id,
            "n_concepts": sample.n_concepts,
            "query_image": _image_cell(sample.query_image),
            **_context_columns(sample.context),
            "qas_context": [[_qa_cell(qa) for qa in c.qas] for c in sample.context],
            "gts": list(sample.positive_indices),
            "query_boxes": [list(b) for b in sample.query_boxes],
        }
    return {
        "sample_id": sample.sample_id,
        "task": sample.task,
        "query_image": _image_cell(sample.query_image),
        **_context_columns(sample.context),
        "gts": list(sample.positive_indices),
        "answer": sample.answer,
        "last_action": sample.last_action,
        "keyword": sample.keyword,
        "query_boxes": [list(b) for b in sample.query_boxes],
    }


def folder_image_resolver(root: Path) -> ImageResolver:
    """Reads images by paths relative to `root`; a path that leaves `root` is refused."""
    base = root.resolve()

    def resolve(relative: str) -> bytes:
        target = (base / relative).resolve()
        if not target.is_relative_to(base):
            raise DatasetError(str(root), f"image path {relative!r} escapes the dataset folder")
        return target.read_bytes()

    return resolve
