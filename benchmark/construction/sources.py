"""A folder of concepts: one sub-folder per concept with its images and optional metadata.

    concepts/
      rex/         rex_1.jpg rex_2.jpg ...   meta.json: {"category": "pet", "name": "Rex"}
      blue_car/    ...
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import DatasetError
from benchmark.records import ImageData
from benchmark.rows import check_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class ConceptSource:
    key: str  # the folder name
    name: str  # the real name, replaced by a pseudonym in every dialogue
    category: str
    images: tuple[ImageData, ...]


def read_concepts(folder: Path) -> list[ConceptSource]:
    if not folder.is_dir():
        raise DatasetError(str(folder), "not a folder of concept folders")
    concepts = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        meta_path = sub / "meta.json"
        try:
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        except json.JSONDecodeError as exc:
            raise DatasetError(str(meta_path), f"not valid JSON: {exc.msg}") from None
        images = []
        for path in sorted(sub.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                data = path.read_bytes()
                check_image(data, functools.partial(_error_of, path))
                images.append(ImageData(data))
        if not images:
            raise DatasetError(str(sub), "no images (png, jpg, jpeg, webp)")
        concepts.append(ConceptSource(sub.name, str(meta.get("name") or sub.name.replace("_", " ")),
                                      str(meta.get("category") or "object"), tuple(images)))
    if len(concepts) < 3:
        raise DatasetError(str(folder), f"{len(concepts)} concepts: at least 3 are needed")
    return concepts


def _error_of(path: Path, message: str) -> DatasetError:
    return DatasetError(str(path), message)
