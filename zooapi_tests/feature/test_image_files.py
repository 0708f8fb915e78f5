"""ImageBytesToMat and decode_pixels: encoded files to model input batches."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from zooapi.feature.image_files import ImageBytesToMat, decode_pixels
from zooapi.feature.preprocessing import preprocessing_from_json, preprocessing_to_json


def encoded(pixels: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **options)
    return buf.getvalue()


def rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_png_bytes_decode_to_the_exact_rgb_pixels_as_float32():
    images = [rgb(6, 5, seed) for seed in range(3)]
    batch = ImageBytesToMat()(np.array([encoded(p) for p in images], dtype=object))
    assert batch.dtype == np.float32 and batch.shape == (3, 6, 5, 3)
    np.testing.assert_array_equal(batch, np.stack(images).astype(np.float32))


def test_resize_and_codec_match_pillow_on_the_same_file():
    pixels = rgb(20, 12)
    content = encoded(pixels)
    expected = np.asarray(Image.fromarray(pixels).resize((8, 10), Image.Resampling.BILINEAR), np.float32)
    np.testing.assert_array_equal(ImageBytesToMat(10, 8)(np.array([content], dtype=object))[0], expected)
    gray = ImageBytesToMat(10, 8, image_codec=0)(np.array([content], dtype=object))
    assert gray.shape == (1, 10, 8, 1)
    expected_gray = np.asarray(Image.fromarray(pixels).resize((8, 10), Image.Resampling.BILINEAR).convert("L"))
    np.testing.assert_array_equal(gray[0, ..., 0], expected_gray.astype(np.float32))
    # A grayscale file in color mode: its one channel three times.
    color = ImageBytesToMat(image_codec=1)(np.array([encoded(pixels[..., 0])], dtype=object))
    np.testing.assert_array_equal(color[0], np.repeat(pixels[..., :1], 3, axis=2).astype(np.float32))
    # Unchanged: alpha kept.
    rgba = np.concatenate([pixels, np.full((20, 12, 1), 7, np.uint8)], axis=2)
    assert ImageBytesToMat(image_codec=-1)(np.array([encoded(rgba)], dtype=object)).shape == (1, 20, 12, 4)


def test_large_jpegs_decode_at_reduced_scale_close_to_a_full_decode():
    # A smooth 512x512 gradient resized to 128: 512 >= 4 x 128, so the JPEG is
    # decoded at half scale (Pillow's draft) before the resize, and must stay
    # within a few levels of the full decode resized the same way.
    y, x = np.mgrid[0:512, 0:512]
    pixels = np.stack([x / 2, y / 2, (x + y) / 4], axis=-1).astype(np.uint8)
    content = encoded(pixels, "JPEG", quality=95)
    fast = decode_pixels(content, codec=1, height=128, width=128).astype(np.float32)
    with Image.open(io.BytesIO(content)) as full:
        reference = np.asarray(full.convert("RGB").resize((128, 128), Image.Resampling.BILINEAR), np.float32)
    with Image.open(io.BytesIO(content)) as probe:
        probe.draft(None, (256, 256))
        assert probe.size == (256, 256)  # the reduced scale is really taken
    assert fast.shape == (128, 128, 3)
    assert np.abs(fast - reference).mean() < 2.0


def test_bad_rows_and_arguments_are_named():
    good = encoded(rgb(4, 4))
    with pytest.raises(ValueError, match=r"ImageBytesToMat cannot decode row 1 of the batch \(7 bytes\): "
                                         r"UnidentifiedImageError: .*Expected a JPEG, PNG"):
        ImageBytesToMat()(np.array([good, b"garbage"], dtype=object))
    with pytest.raises(ValueError, match=r"different shapes in one batch: row 1 is \(5, 4, 3\), row 0 is "
                                         r"\(4, 4, 3\).*give `height` and `width`"):
        ImageBytesToMat()(np.array([good, encoded(rgb(5, 4))], dtype=object))
    with pytest.raises(TypeError, match=r"expects the bytes of an image file in every row \(a binary column\). "
                                        r"Received: str at row 0"):
        ImageBytesToMat()(np.array(["a.png"], dtype=object))
    with pytest.raises(TypeError, match=r"one encoded image \(bytes\) per row.*Received: an array of shape \(1, 1\)"):
        ImageBytesToMat()(np.array([[good]], dtype=object))
    with pytest.raises(ValueError, match=r"invalid value for `height`, expected a positive integer or -1. "
                                         r"Received: height=0"):
        ImageBytesToMat(0, 4)
    with pytest.raises(ValueError, match=r"`height` and `width` must both be positive .* Received: height=4, "
                                         r"width=-1"):
        ImageBytesToMat(4)
    with pytest.raises(ValueError, match=r"invalid value for `image_codec`, expected one of \[-1, 0, 1\]"):
        ImageBytesToMat(image_codec=3)


def test_an_empty_batch_and_a_json_round_trip():
    step = ImageBytesToMat(8, 6, image_codec=0)
    assert step(np.array([], dtype=object)).shape == (0, 8, 6, 1)
    again = preprocessing_from_json(preprocessing_to_json(step))
    assert isinstance(again, ImageBytesToMat) and again.get_config() == {"height": 8, "width": 6, "image_codec": 0}
