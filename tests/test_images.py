"""Images in memory: a loaded dataset keeps hashes and places, not bytes or pixels; decoded
pixels live in one bounded cache; images above the pixel limit are decoded reduced (JPEG) or
refused with the file, row and field."""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from benchmark import DatasetError, ImageData, load_benchmark
from benchmark import images as decoding
from benchmark.rows import sample_to_row
from benchmark.storage import write_config


def _images(sample) -> list[ImageData]:
    return [sample.query_image, *(c.image for c in sample.context)]


def _encoded(size: tuple[int, int], fmt: str, colour=(200, 30, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def limit():
    """Set a pixel limit for one test; the default comes back after it."""
    yield decoding.set_max_image_pixels
    decoding.set_max_image_pixels(decoding.DEFAULT_MAX_IMAGE_PIXELS)


def test_a_loaded_dataset_holds_no_image_bytes(small_dataset: Path) -> None:
    samples = load_benchmark(str(small_dataset), "capeval_qa").samples
    images = [image for sample in samples for image in _images(sample)]
    assert all(image._data is None for image in images)  # hashes and places only
    for image in images[:5]:
        assert ImageData(image.data) == image  # read again: the bytes of that hash
        assert not hasattr(image, "__dict__")  # nowhere to keep decoded pixels


def test_a_stored_image_crosses_to_a_worker_without_its_bytes(small_dataset: Path) -> None:
    image = load_benchmark(str(small_dataset), "lsd").samples[2].query_image
    copy = pickle.loads(pickle.dumps(image))
    assert len(pickle.dumps(image)) < 1000 and copy == image and copy.data == image.data


def test_decoded_pixels_live_in_one_bounded_cache(monkeypatch) -> None:
    decoding.clear_cache()
    monkeypatch.setattr(decoding, "CACHE_PIXELS", 3 * 64 * 64)
    images = [ImageData(_encoded((64, 64), "PNG", (k, 0, 0))) for k in range(10)]
    before = decoding.decode_count()
    for image in images:
        image.to_pil()
    assert decoding.decode_count() - before == 10
    assert len(decoding._cache) == 3 and decoding._cached_pixels == 3 * 64 * 64
    images[-1].to_pil()  # still cached: no decode
    images[0].to_pil()  # evicted: decoded again
    assert decoding.decode_count() - before == 11


def test_a_large_jpeg_is_decoded_reduced(limit, monkeypatch) -> None:
    from PIL import JpegImagePlugin

    scales = []  # what the decoder was asked for: a reduced size, not the full 800x400
    draft = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", lambda self, mode, size, *a:
                        scales.append(size) or draft(self, mode, size, *a))
    limit(100 * 100)
    pil = ImageData(_encoded((800, 400), "JPEG")).to_pil()
    assert scales and scales[0][0] * scales[0][1] <= 2 * 100 * 100
    assert pil.width * pil.height <= 100 * 100
    assert abs(pil.width / pil.height - 2.0) < 0.1  # the aspect ratio kept


def test_a_large_png_is_refused(limit) -> None:
    limit(100 * 100)
    with pytest.raises(decoding.ImageTooLargeError, match=r"400x400 pixels .* cannot be "
                                                          "decoded at reduced size"):
        ImageData(_encoded((400, 400), "PNG")).to_pil()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size (its pixels would take gigabytes) and holds one row."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * (width // 8 + 1))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("size", [(20000, 20000), (5000, 5000)])
def test_an_oversized_image_in_a_dataset_is_one_line_naming_its_place(
        tmp_path: Path, small_dataset: Path, size: tuple[int, int]) -> None:
    """(20000 px square: past PIL's own bomb check; 5000: past ours alone.)"""
    rows = [sample_to_row(s) for s in load_benchmark(str(small_dataset), "lsd").samples]
    rows[2]["query_image"] = {"bytes": _png_header_only(*size), "path": None}
    write_config(tmp_path, "lsd", rows)
    with pytest.raises(DatasetError) as exc:
        load_benchmark(str(tmp_path), "lsd")
    message = str(exc.value)
    assert "row 2: field 'query_image'" in message and "pixel limit" in message
    assert "\n" not in message
