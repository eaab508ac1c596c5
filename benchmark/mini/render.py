"""Drawing concepts, views of them, and multi-concept query scenes with Pillow.

A view changes pose (mirror, rotation), scale, position, lighting and background, so the same
concept never looks pixel-identical twice. Query scenes get harder as they hold more concepts:
each is smaller and more often partly hidden behind props or behind its neighbours, as in a
group photo, so that matching colour statistics is not enough to recognise who is there.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

from benchmark.mini.appearance import PALETTE, SKIN_TONES, Appearance

SPRITE = 256  # drawing resolution; sprites are downsampled when placed
MIN_VISIBLE_PIXELS = 40  # of SPRITE x SPRITE: a colour drawn on fewer pixels does not count
CONTEXT_SIZE = (160, 160)
QUERY_SIZE = (320, 240)
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1 and y1 exclusive
SCENE_SHRINK = (1.0, 0.8, 0.7, 0.6)  # object scale in a scene of 1, 2, 3, 4 concepts
Colour = tuple[int, int, int]


def _pattern(draw: ImageDraw.ImageDraw, box: tuple, kind: str, colour: Colour) -> None:
    x0, y0, x1, y1 = box
    if kind in ("spots", "dots"):
        for i, (fx, fy) in enumerate(((0.25, 0.3), (0.6, 0.25), (0.4, 0.65), (0.75, 0.6))):
            r = 10 if kind == "spots" else 6
            cx, cy = x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
            if i == 3 and kind == "dots":
                break
    elif kind == "stripes":
        step = (x1 - x0) // 5
        for x in range(x0 + step // 2, x1, step):
            draw.rectangle((x, y0 + 4, x + step // 3, y1 - 4), fill=colour)


def _pet(d: ImageDraw.ImageDraw, a: Appearance) -> None:
    body, pat, collar = a.colour("body"), a.colour("pattern_colour"), a.colour("collar")
    d.ellipse((40, 110, 200, 200), fill=body)  # body
    if a.get("pattern") != "plain":
        _pattern(d, (60, 120, 180, 190), a.get("pattern"), pat)
    d.line((195, 150, 235, 100), fill=body, width=14)  # tail
    for x in (60, 90, 150, 180):
        d.rectangle((x, 185, x + 16, 235), fill=body)  # legs
    d.ellipse((20, 50, 110, 135), fill=body)  # head
    ears = a.get("ears")
    if ears == "pointy":
        d.polygon([(28, 70), (40, 25), (60, 60)], fill=body)
        d.polygon([(70, 60), (90, 25), (102, 70)], fill=body)
    elif ears == "round":
        d.ellipse((25, 35, 55, 65), fill=body)
        d.ellipse((75, 35, 105, 65), fill=body)
    else:
        d.ellipse((15, 60, 40, 115), fill=pat)
        d.ellipse((90, 60, 115, 115), fill=pat)
    d.ellipse((45, 80, 55, 90), fill=(20, 20, 20))
    d.ellipse((75, 80, 85, 90), fill=(20, 20, 20))
    d.rectangle((35, 128, 100, 142), fill=collar)


def _person(d: ImageDraw.ImageDraw, a: Appearance) -> None:
    skin = SKIN_TONES[int(a.get("skin"))]
    d.rectangle((85, 190, 120, 250), fill=a.colour("trousers"))
    d.rectangle((136, 190, 171, 250), fill=a.colour("trousers"))
    d.rounded_rectangle((70, 100, 186, 200), radius=20, fill=a.colour("shirt"))
    if a.get("shirt_pattern") != "plain":
        _pattern(d, (72, 104, 184, 196), a.get("shirt_pattern"), (245, 245, 240))
    d.rectangle((45, 105, 70, 180), fill=a.colour("shirt"))
    d.rectangle((186, 105, 211, 180), fill=a.colour("shirt"))
    d.ellipse((88, 20, 168, 100), fill=skin)
    d.chord((84, 14, 172, 70), 180, 360, fill=a.colour("hair"))
    style = a.get("hat_style")
    if style == "cap":
        d.chord((84, 4, 172, 60), 180, 360, fill=a.colour("hat"))
        d.rectangle((150, 28, 200, 38), fill=a.colour("hat"))
    elif style == "beanie":
        d.rectangle((86, 8, 170, 40), fill=a.colour("hat"))
        d.ellipse((116, -6, 140, 18), fill=a.colour("hat"))
    d.ellipse((108, 52, 116, 60), fill=(30, 30, 30))
    d.ellipse((140, 52, 148, 60), fill=(30, 30, 30))


def _toy(d: ImageDraw.ImageDraw, a: Appearance) -> None:
    body = a.colour("body")
    d.rectangle((70, 110, 186, 220), fill=body)
    d.rectangle((80, 220, 110, 250), fill=body)
    d.rectangle((146, 220, 176, 250), fill=body)
    up = a.get("arms") == "up"
    d.rectangle((40, 70 if up else 120, 62, 140 if up else 190), fill=body)
    d.rectangle((194, 70 if up else 120, 216, 140 if up else 190), fill=body)
    d.rectangle((88, 40, 168, 105), fill=a.colour("head"))
    d.line((128, 40, 128, 14), fill=(60, 60, 60), width=5)
    d.ellipse((116, 2, 140, 26), fill=a.colour("antenna"))
    d.ellipse((100, 58, 118, 76), fill=a.colour("eyes"))
    d.ellipse((138, 58, 156, 76), fill=a.colour("eyes"))
    emblem, white = a.get("emblem"), (250, 250, 250)
    if emblem == "circle":
        d.ellipse((108, 140, 148, 180), fill=white)
    elif emblem == "square":
        d.rectangle((108, 140, 148, 180), fill=white)
    else:
        d.polygon([(128, 135), (138, 158), (162, 160), (143, 172), (150, 195), (128, 181),
                   (106, 195), (113, 172), (94, 160), (118, 158)], fill=white)


def _plant(d: ImageDraw.ImageDraw, a: Appearance) -> None:
    shape = a.get("pot_shape")
    pot = a.colour("pot")
    if shape == "round":
        d.ellipse((70, 160, 186, 250), fill=pot)
    elif shape == "square":
        d.rectangle((78, 165, 178, 250), fill=pot)
    else:
        d.polygon([(90, 140), (166, 140), (156, 250), (100, 250)], fill=pot)
    d.rectangle((80, 175, 176, 188), fill=a.colour("band"))
    leaves = a.colour("leaves")
    d.line((128, 165, 128, 60), fill=leaves, width=8)
    for cx, cy, w in ((95, 120, 40), (160, 105, 40), (100, 80, 32), (155, 150, 34)):
        d.ellipse((cx - w, cy - w // 2, cx + w, cy + w // 2), fill=leaves)
    for i in range(int(a.get("flowers"))):
        cx, cy = (128, 45) if i == 0 else ((75, 60) if i == 1 else (181, 60))
        d.ellipse((cx - 22, cy - 22, cx + 22, cy + 22), fill=a.colour("flower"))
        d.ellipse((cx - 7, cy - 7, cx + 7, cy + 7), fill=(250, 230, 120))


def _vehicle(d: ImageDraw.ImageDraw, a: Appearance) -> None:
    body, roof = a.colour("body"), a.colour("roof")
    shape = a.get("roof_shape")
    d.rounded_rectangle((10, 120, 246, 195), radius=18, fill=body)
    if shape == "sedan":
        d.polygon([(60, 120), (90, 70), (170, 70), (200, 120)], fill=roof)
    elif shape == "van":
        d.rectangle((20, 60, 200, 122), fill=roof)
    else:
        d.rectangle((30, 65, 120, 122), fill=roof)
    d.rectangle((10, 150, 246, 162), fill=a.colour("stripe"))
    xs = (50, 206) if a.get("wheels") == "2" else (45, 128, 211)
    for x in xs:
        d.ellipse((x - 28, 170, x + 28, 226), fill=(35, 35, 35))
        d.ellipse((x - 12, 186, x + 12, 210), fill=a.colour("hubcap"))


def _building(d: ImageDraw.ImageDraw, a: Appearance) -> None:
    d.rectangle((40, 100, 216, 250), fill=a.colour("wall"))
    shape, roof = a.get("roof_shape"), a.colour("roof")
    if shape == "gable":
        d.polygon([(25, 104), (128, 20), (231, 104)], fill=roof)
    elif shape == "flat":
        d.rectangle((30, 80, 226, 104), fill=roof)
    else:
        d.chord((60, 30, 196, 170), 180, 360, fill=roof)
    d.rectangle((108, 180, 148, 250), fill=a.colour("door"))
    n = int(a.get("windows"))
    cols = 2 if n == 2 else n // 2 + (n == 6)
    rows = 1 if n == 2 else 2
    for r in range(rows):
        for c in range(min(cols, 3)):
            x = 58 + c * (140 // max(cols - 1, 1)) if cols > 1 else 58
            y = 115 + r * 35
            if 100 < x < 156 and y > 160:
                continue
            d.rectangle((x, y, x + 26, y + 24), fill=(200, 230, 250))
            d.rectangle((x - 8, y, x - 2, y + 24), fill=a.colour("shutters"))
            d.rectangle((x + 28, y, x + 34, y + 24), fill=a.colour("shutters"))


_DRAWERS = {
    "pet": _pet, "person": _person, "toy": _toy,
    "plant": _plant, "vehicle": _vehicle, "building": _building,
}


def draw_sprite(appearance: Appearance) -> Image.Image:
    """The concept on a transparent square canvas, SPRITE pixels wide."""
    img = Image.new("RGBA", (SPRITE, SPRITE), (0, 0, 0, 0))
    _DRAWERS[appearance.category](ImageDraw.Draw(img), appearance)
    return img


@lru_cache(maxsize=4096)
def drawn_colours(appearance: Appearance) -> frozenset[str]:
    """The palette colours that the drawing of a concept actually shows (an attribute can be
    set and never drawn: the pattern colour of a plain coat, the colour of no hat)."""
    pixels = np.asarray(draw_sprite(appearance)).astype(np.int64)
    visible = pixels[pixels[..., 3] > 0]
    codes, counts = np.unique(visible[:, 0] << 16 | visible[:, 1] << 8 | visible[:, 2],
                              return_counts=True)  # one pass over the pixels, not one a colour
    shown = {int(c) for c, n in zip(codes, counts) if n >= MIN_VISIBLE_PIXELS}
    return frozenset(name for name, (r, g, b) in PALETTE.items() if r << 16 | g << 8 | b in shown)


def visibly_different(a: Appearance, b: Appearance) -> bool:
    """Another kind of thing, or other colours on the drawing."""
    return a.category != b.category or drawn_colours(a) != drawn_colours(b)


@dataclass(frozen=True)
class View:
    """One way of showing a concept: pose, scale, position, lighting."""

    mirror: bool
    angle: float
    scale: float
    brightness: float
    dx: float
    dy: float


def sample_view(rng: random.Random) -> View:
    return View(
        mirror=rng.random() < 0.5,
        angle=round(rng.uniform(-28, 28), 1),
        scale=round(rng.uniform(0.55, 0.95), 3),
        brightness=round(rng.uniform(0.75, 1.25), 3),
        dx=round(rng.uniform(-1, 1), 3),
        dy=round(rng.uniform(-1, 1), 3),
    )


def _posed(sprite: Image.Image, view: View, box: int) -> Image.Image:
    img = sprite.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if view.mirror else sprite
    img = img.rotate(view.angle, resample=Image.Resampling.BICUBIC, expand=True)
    side = max(8, int(box * view.scale))
    img = img.resize((side, side), Image.Resampling.LANCZOS)
    rgb = ImageEnhance.Brightness(img.convert("RGB")).enhance(view.brightness)
    rgb.putalpha(img.getchannel("A"))
    return rgb


def background(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A muted backdrop: plain wall, gradient, checker floor or stripes."""
    def muted() -> Colour:
        base = rng.randint(150, 225)
        r, g, b = (min(255, max(0, base + rng.randint(-18, 18))) for _ in range(3))
        return r, g, b

    c1, c2 = muted(), muted()
    img = Image.new("RGB", size, c1)
    d = ImageDraw.Draw(img)
    kind = rng.choice(("plain", "gradient", "checker", "stripes"))
    w, h = size
    if kind == "gradient":
        for y in range(h):
            t = y / max(h - 1, 1)
            d.line((0, y, w, y), fill=tuple(int(a + (b - a) * t) for a, b in zip(c1, c2)))
    elif kind == "checker":
        step = rng.choice((20, 32, 40))
        for y in range(0, h, step):
            for x in range(0, w, step):
                if (x // step + y // step) % 2:
                    d.rectangle((x, y, x + step - 1, y + step - 1), fill=c2)
    elif kind == "stripes":
        step = rng.choice((12, 18, 26))
        for x in range(0, w + h, step * 2):
            d.polygon([(x, 0), (x + step, 0), (x + step - h, h), (x - h, h)], fill=c2)
    return img


def place(canvas: Image.Image, sprite: Image.Image, view: View, box: tuple[int, int, int, int]
          ) -> Box:
    """Paste a posed sprite inside `box` (x, y, w, h) of the canvas, jittered by the view;
    returns where its drawn pixels went, (x0, y0, x1, y1), inside the canvas."""
    x, y, w, h = box
    posed = _posed(sprite, view, min(w, h))
    free_x, free_y = max(w - posed.width, 0), max(h - posed.height, 0)
    px = x + int(free_x * (view.dx + 1) / 2)
    py = y + int(free_y * (view.dy + 1) / 2)
    canvas.paste(posed, (px, py), posed)
    drawn = posed.getchannel("A").getbbox()
    assert drawn is not None  # a sprite always draws something
    x0, y0, x1, y1 = drawn
    return (max(px + x0, 0), max(py + y0, 0), min(px + x1, canvas.width),
            min(py + y1, canvas.height))


def context_image(rng: random.Random, sprite: Image.Image, view: View) -> Image.Image:
    canvas = background(rng, CONTEXT_SIZE)
    place(canvas, sprite, view, (0, 0, *CONTEXT_SIZE))
    return canvas


def _occlude(rng: random.Random, canvas: Image.Image, box: tuple[int, int, int, int],
             share: float) -> None:
    """A muted prop in front of part of a box: a bar across one side or a blob."""
    x, y, w, h = box
    d = ImageDraw.Draw(canvas)
    base = rng.randint(90, 170)
    colour = tuple(min(255, max(0, base + rng.randint(-12, 12))) for _ in range(3))
    if rng.random() < 0.5:  # a bar along one edge
        side = rng.choice(("left", "right", "top", "bottom"))
        if side in ("left", "right"):
            bw = int(w * share)
            x0 = x if side == "left" else x + w - bw
            d.rectangle((x0, y, x0 + bw, y + h), fill=colour)
        else:
            bh = int(h * share)
            y0 = y if side == "top" else y + h - bh
            d.rectangle((x, y0, x + w, y0 + bh), fill=colour)
    else:  # a blob over part of the box
        r = int(min(w, h) * share ** 0.5 * 0.6)
        cx, cy = x + rng.randint(0, w), y + rng.randint(0, h)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)


def scene_image(rng: random.Random, sprites: list[Image.Image], views: list[View]
                ) -> tuple[Image.Image, list[Box]]:
    """A query scene with 1 to 4 concepts: the more it holds, the smaller each one, and the more
    of them are partly hidden behind props or behind each other (regions overlap). With it,
    each concept's box, in the order of `sprites`."""
    w, h = QUERY_SIZE
    canvas = background(rng, QUERY_SIZE)
    n = len(sprites)
    if n <= 2:
        boxes = [(i * w // n, 0, w // n, h) for i in range(n)]
    else:  # quarters, grown so that neighbours overlap
        grow = 24
        boxes = [(max(0, (i % 2) * w // 2 - grow // 2), max(0, (i // 2) * h // 2 - grow // 2),
                  w // 2 + grow, h // 2 + grow) for i in range(4)]
        rng.shuffle(boxes)
    shrink = SCENE_SHRINK[n - 1]  # a group photo shows each one smaller
    drawn = []
    for sprite, view, box in zip(sprites, views, boxes):
        drawn.append(place(canvas, sprite, replace(view, scale=view.scale * shrink), box))
        if rng.random() < 0.25 * (n - 1):
            _occlude(rng, canvas, box, rng.uniform(0.1, 0.15 + 0.075 * n))
    return canvas, drawn


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()
