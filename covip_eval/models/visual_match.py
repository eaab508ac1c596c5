"""Classical visual matching for the retrieval baseline: hue histograms of saturated pixels.

A context image shows one concept on a muted background, so its saturated pixels are the
concept's colours. A concept is judged present in a query scene when every colour that makes
up a noticeable share of it is also found in the scene.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HUE_BINS = 24
MIN_SATURATION = 90  # PIL's HSV scale, 0..255
MIN_VALUE = 50
SIGNIFICANT_SHARE = 0.06  # a colour that makes up at least this share of the concept
_HUE_NAMES = ("red", "orange", "orange", "yellow", "yellow", "lime", "green", "green", "green",
              "teal", "teal", "teal", "sky blue", "sky blue", "blue", "blue", "blue", "purple",
              "purple", "purple", "magenta", "magenta", "pink", "red")


def hue_signature(image: Image.Image) -> np.ndarray:
    """Pixel counts per hue bin, over saturated and not-too-dark pixels."""
    hsv = np.asarray(image.convert("HSV"))
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    hues = h[(s >= MIN_SATURATION) & (v >= MIN_VALUE)].astype(np.int64)
    return np.bincount(hues * HUE_BINS // 256, minlength=HUE_BINS).astype(np.float64)


def presence_score(concept: np.ndarray, scene: np.ndarray) -> float:
    """In [0, 1]: how fully the concept's significant colours are covered by the scene.

    Each significant bin counts as covered in proportion to the scene's pixels of that hue,
    up to a quarter of the concept's own count (the scene shows objects smaller).
    """
    total = concept.sum()
    if total == 0:
        return 0.0
    share = concept / total
    bins = np.flatnonzero(share >= SIGNIFICANT_SHARE)
    if bins.size == 0:
        return 0.0
    coverage = np.minimum(1.0, scene[bins] / (0.25 * concept[bins]))
    return float(coverage.min())


def dominant_colours(signature: np.ndarray, k: int = 3) -> list[str]:
    names: list[str] = []
    for b in np.argsort(-signature):
        if signature[b] <= 0 or len(names) == k:
            break
        if _HUE_NAMES[b] not in names:
            names.append(_HUE_NAMES[b])
    return names
