"""The offline compositor: a multi-concept scene from single-concept photos, with no model.

Each concept photo is cropped around its centre, scaled, mirrored at random and placed in its
own region of a muted backdrop, so the scene is a new view, never a copy of an input image.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from PIL import Image, ImageOps

from benchmark.mini.render import background, png_bytes
from benchmark.records import ImageData

SCENE_SIZE = (512, 384)


def compose_scene(images: Sequence[ImageData], rng: random.Random) -> ImageData:
    w, h = SCENE_SIZE
    canvas = background(rng, SCENE_SIZE)
    n = len(images)
    cols = 1 if n == 1 else 2
    rows = 1 if n <= 2 else 2
    cells = [(c * w // cols, r * h // rows, w // cols, h // rows)
             for r in range(rows) for c in range(cols)][:n]
    for image, (x, y, cw, ch) in zip(images, cells):
        pil = image.to_pil()
        crop = rng.uniform(0.75, 0.95)
        pil = ImageOps.fit(pil, (int(pil.width * crop), int(pil.height * crop)),
                           centering=(rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)))
        if rng.random() < 0.5:
            pil = ImageOps.mirror(pil)
        scale = rng.uniform(0.7, 0.95)
        pil.thumbnail((int(cw * scale), int(ch * scale)), Image.Resampling.LANCZOS)
        canvas.paste(pil, (x + rng.randint(0, cw - pil.width), y + rng.randint(0, ch - pil.height)))
    return ImageData(png_bytes(canvas))
