"""The channel conversion and resize shared by decode_pixels and conform_pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zooapi.feature.pillow_image import convert_channels, image_pixels, resize_image


@pytest.mark.parametrize("mode, codec, expected", [
    ("RGBA", -1, "RGBA"), ("LA", -1, "RGBA"), ("RGB", -1, "RGB"), ("L", -1, "L"), ("1", -1, "L"), ("F", -1, "L"),
    ("RGBA", 0, "L"), ("RGB", 0, "L"), ("L", 1, "RGB"), ("RGBA", 1, "RGB"), ("P", -1, "RGB"),
])
def test_codec_gives_opencv_channel_counts(mode, codec, expected):
    assert convert_channels(Image.new(mode, (3, 2)), codec).mode == expected


def test_palette_with_transparency_keeps_alpha():
    image = Image.new("P", (3, 2))
    image.info["transparency"] = 0
    assert image_pixels(convert_channels(image, -1)).shape == (2, 3, 4)


def test_sixteen_bit_gray_keeps_its_high_byte():
    values = np.array([[0, 255, 256, 65535]], np.uint16)
    image = Image.frombytes("I;16", (4, 1), values.tobytes())
    np.testing.assert_array_equal(image_pixels(convert_channels(image, -1))[..., 0], [[0, 0, 1, 255]])


@pytest.mark.parametrize("codec, channels", [(-1, 1), (0, 1), (1, 3)])
def test_a_sixteen_bit_png_decodes_to_its_high_byte_resized_or_not_for_every_codec(codec, channels):
    import io

    from zooapi.feature.image_files import decode_pixels

    ramp = np.tile(np.linspace(0, 65535, 16).astype(np.uint16), (8, 1))  # 8 rows of a 16-step ramp
    buf = io.BytesIO()
    Image.frombytes("I;16", (16, 8), ramp.astype("<u2").tobytes()).save(buf, format="PNG")
    whole = decode_pixels(buf.getvalue(), codec)
    assert whole.shape == (8, 16, channels)
    np.testing.assert_array_equal(whole[..., 0], ramp >> 8)
    half = decode_pixels(buf.getvalue(), codec, height=4, width=8)
    # The 16-bit values resized in floating point, then scaled to 8 bits:
    # within one level (rounding), and never clipped to white.
    exact = Image.fromarray(ramp.astype(np.float32), mode="F").resize((8, 4), Image.Resampling.BILINEAR)
    expected = np.asarray(exact) / 256
    assert half.shape == (4, 8, channels)
    np.testing.assert_allclose(half[..., 0], expected, atol=1.01)


def test_alpha_dropped_before_or_after_resizing_gives_different_pixels():
    # Why the two steps are separate: each caller keeps its own order.
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    rgba[..., 3][rng.random((20, 30)) < 0.3] = 0
    image = Image.fromarray(rgba)
    before = image_pixels(resize_image(convert_channels(image, 1), 7, 9))
    after = image_pixels(convert_channels(resize_image(image, 7, 9), 1))
    assert before.shape == after.shape == (7, 9, 3)
    assert not np.array_equal(before, after)


def test_resize_keeps_an_image_of_the_target_size():
    image = Image.new("RGB", (9, 7))
    assert resize_image(image, 7, 9) is image
    assert resize_image(image, 3, 4).size == (4, 3)
