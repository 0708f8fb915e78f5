"""Pillow images brought to a channel count and a size: the one channel
conversion and the one resize behind both `decode_pixels` (encoded files)
and `zooapi.models.images.conform_pixels` (Spark images).

The two steps are separate functions because their order changes the
pixels: Pillow resizes RGBA with premultiplied alpha, so dropping alpha
before or after resizing gives different bytes. Each caller keeps its own
order: `decode_pixels` resizes first, `conform_pixels` drops alpha (or takes
the luminance) first.

Example:
    >>> from PIL import Image
    >>> image = resize_image(Image.new("RGBA", (8, 6)), 3, 4)
    >>> image_pixels(convert_channels(image, codec=1)).shape
    (3, 4, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["convert_channels", "eight_bit", "image_pixels", "resize_image"]


def convert_channels(image: Any, codec: int) -> Any:
    """A Pillow image in mode "L", "RGB" or "RGBA", as OpenCV's `imread`
    flag `codec` asks.

    Args:
        image: a `PIL.Image.Image` of any mode.
        codec: -1 unchanged (grayscale stays "L", color "RGB", alpha or a
            palette with transparency "RGBA"), 0 grayscale ("L", the
            luminance of color), 1 color ("RGB": gray repeated, alpha
            dropped). 16-bit grayscale becomes its high byte first, for
            every codec.

    Returns:
        The converted image; `image` itself when it already has that mode.

    Example:
        >>> from PIL import Image
        >>> convert_channels(Image.new("LA", (2, 2)), codec=-1).mode
        'RGBA'
    """
    image = eight_bit(image)
    mode = image.mode
    if codec == 0:
        return image if mode == "L" else image.convert("L")
    if codec == 1:
        return image if mode == "RGB" else image.convert("RGB")
    if mode in ("1", "L", "I", "F"):
        return image.convert("L")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image if mode == "RGB" else image.convert("RGB")


def resize_image(image: Any, height: int, width: int) -> Any:
    """A Pillow image resized with the bilinear filter (antialiased when
    shrinking), as `NNImageReader.readImages` and `resize_images` resize.

    Args:
        image: a `PIL.Image.Image`.
        height: the output height.
        width: the output width.

    Returns:
        The resized image; `image` itself when it already has that size.

    Example:
        >>> from PIL import Image
        >>> resize_image(Image.new("RGB", (8, 6)), 3, 4).size
        (4, 3)
    """
    from PIL import Image

    if image.size == (width, height):
        return image
    return eight_bit(image).resize((width, height), Image.Resampling.BILINEAR)


def eight_bit(image: Any) -> Any:
    """A 16-bit grayscale Pillow image ("I;16", "I;16B"...) as 8-bit "L"
    holding each pixel's high byte; any other image as it is.

    Spark's image schema is 8-bit, and Pillow's own conversion of 16-bit
    grayscale to "L" or "RGB" clips every value above 255 (a 16-bit X-ray
    comes out white).

    Example:
        >>> from PIL import Image
        >>> image = Image.frombytes("I;16", (2, 1), np.array([0x1234, 0xFF00], "<u2").tobytes())
        >>> image_pixels(eight_bit(image))[..., 0].tolist()
        [[18, 255]]
    """
    from PIL import Image

    if not image.mode.startswith("I;16"):
        return image
    return Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8))


def image_pixels(image: Any) -> np.ndarray:
    """An 8-bit Pillow image ("L", "RGB" or "RGBA", as `convert_channels`
    gives) as a `(h, w, c)` uint8 array.

    Example:
        >>> from PIL import Image
        >>> image_pixels(Image.new("L", (4, 3))).shape
        (3, 4, 1)
    """
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels
