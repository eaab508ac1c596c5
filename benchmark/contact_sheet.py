"""A contact sheet: a few samples laid out in one image, to check the data by eye."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from benchmark.records import Sample

THUMB = 96


def contact_sheet(samples: Sequence[Sample], path: Path) -> Path:
    """One row per sample: the context images (positives framed green), then the query."""
    width = max(len(s.context) for s in samples) + 2
    sheet = Image.new("RGB", (width * (THUMB + 6) + 6, len(samples) * (THUMB + 22) + 6), "white")
    draw = ImageDraw.Draw(sheet)
    for r, sample in enumerate(samples):
        y = 6 + r * (THUMB + 22)
        for k, concept in enumerate(sample.context):
            x = 6 + k * (THUMB + 6)
            _thumb(sheet, concept.image.to_pil(), x, y, k in sample.positive_indices)
            draw.text((x, y + THUMB + 3), concept.name[:14], fill="black")
        x = 6 + (len(sample.context) + 1) * (THUMB + 6)
        query = sample.query_image.to_pil()
        query.thumbnail((THUMB, THUMB))
        sheet.paste(query, (x, y))
        draw.text((x, y + THUMB + 3), f"query ({sample.n_concepts})", fill="black")
    sheet.save(path)
    return path


def _thumb(sheet: Image.Image, img: Image.Image, x: int, y: int, positive: bool) -> None:
    thumb = img.copy()
    thumb.thumbnail((THUMB, THUMB))
    sheet.paste(thumb, (x, y))
    if positive:
        ImageDraw.Draw(sheet).rectangle((x - 2, y - 2, x + THUMB + 1, y + THUMB + 1),
                                        outline=(20, 170, 60), width=3)
