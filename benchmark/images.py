"""Decoding images to pixels: a pixel limit, reduced-size decoding of large JPEGs, and one
small cache of decoded images for the whole process.

Records never keep pixels (a photo-sized image is megabytes decoded, and a dataset holds
thousands): `ImageData.to_pil` comes here, and the cache keeps the most recently used images
up to `CACHE_PIXELS`, so the images that the requests of one sample share are decoded once.

An image above the pixel limit (`set_max_image_pixels`, `--max_image_pixels`) is decoded at
reduced size when its format allows it (JPEG's draft mode decodes at 1/2, 1/4 or 1/8 scale
without reading the full-size pixels), and refused otherwise, as the loader refuses it first
(`check_size`), so no decompression bomb is ever decoded.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from benchmark.errors import CovipError

if TYPE_CHECKING:
    from PIL import Image as PILImage

DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096  # above what any model's processor takes
CACHE_PIXELS = 8 * 2**20  # decoded pixels kept (about 25 MB of RGB): a few samples' images
REDUCIBLE = ("JPEG",)  # formats decoded at reduced size

_max_pixels = DEFAULT_MAX_IMAGE_PIXELS
_cache: OrderedDict[str, PILImage.Image] = OrderedDict()
_cached_pixels = 0
_lock = threading.Lock()
_decodes = 0


class ImageTooLargeError(CovipError):
    """An image above the pixel limit in a format that cannot be decoded at reduced size."""


def set_max_image_pixels(pixels: int) -> None:
    """The pixel limit (width x height) for this process; the decoded cache starts empty."""
    global _max_pixels
    if pixels <= 0:
        raise CovipError(f"max_image_pixels={pixels}: give a positive number of pixels")
    _max_pixels = pixels
    clear_cache()


def max_image_pixels() -> int:
    return _max_pixels


def decode_count() -> int:
    """How many images have been decoded to pixels in this process (for benchmarks)."""
    return _decodes


def clear_cache() -> None:
    global _cached_pixels
    with _lock:
        _cache.clear()
        _cached_pixels = 0


def open_image(data: bytes) -> PILImage.Image:
    """PIL's lazy image (header read, no pixels). PIL's own bomb check, which refuses before
    the size is known, is set to refuse only what even JPEG's 1/8 draft could not bring under
    our limit."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = 32 * _max_pixels  # PIL raises at twice this: 64x, 8 per side
    return Image.open(io.BytesIO(data))


def check_size(width: int, height: int, image_format: str | None) -> str | None:
    """Why an image of this size and format cannot be decoded under the limit (None: it can)."""
    if width * height <= _max_pixels or image_format in REDUCIBLE:
        return None
    return (f"{width}x{height} pixels ({width * height / 1e6:.1f} MP) is above the pixel limit "
            f"of {_max_pixels / 1e6:.1f} MP, and {image_format or 'its format'} cannot be "
            "decoded at reduced size; raise --max_image_pixels to decode it whole")


def decode(key: str, read: Callable[[], bytes]) -> PILImage.Image:
    """The RGB pixels of the image `key` names (its SHA-256), at most the pixel limit (larger
    JPEGs come out reduced, keeping their aspect ratio); `read` gives its bytes when they
    are not cached."""
    global _cached_pixels, _decodes
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    rgb = _decode(read())
    with _lock:
        _decodes += 1
        _cache[key] = rgb
        _cached_pixels += rgb.width * rgb.height
        while _cached_pixels > CACHE_PIXELS and len(_cache) > 1:
            _, dropped = _cache.popitem(last=False)
            _cached_pixels -= dropped.width * dropped.height
    return rgb


def _decode(data: bytes) -> PILImage.Image:
    from PIL import Image

    try:
        with open_image(data) as img:
            reason = check_size(img.width, img.height, img.format)
            if reason is not None:
                raise ImageTooLargeError(f"image {reason}")
            if img.width * img.height > _max_pixels:
                scale = math.sqrt(_max_pixels / (img.width * img.height))
                img.draft("RGB", (math.ceil(img.width * scale), math.ceil(img.height * scale)))
            rgb = img.convert("RGB")
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image above the pixel limit ({exc})") from None
    if rgb.width * rgb.height > _max_pixels:  # draft scales by powers of two: finish exactly
        scale = math.sqrt(_max_pixels / (rgb.width * rgb.height))
        rgb = rgb.resize((max(1, int(rgb.width * scale)), max(1, int(rgb.height * scale))))
    return rgb
