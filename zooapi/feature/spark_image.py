"""Spark's image struct (`pyspark.ml.image.ImageSchema`) as the workers write
it: the Arrow type, the OpenCV type code of each channel count, and OpenCV's
byte order.

`NNImageReader.readImages` fills this struct from files and
`zooapi.models.resize_images` rewrites it at another size; both build it
from the definitions here, so the two cannot drift apart.

Example:
    >>> import numpy as np
    >>> MODES[3], image_type().names
    (16, ['origin', 'height', 'width', 'nChannels', 'mode', 'data'])
    >>> swap_red_blue(np.array([[[1, 2, 3, 4]]], np.uint8)).ravel().tolist()
    [3, 2, 1, 4]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["CV_8UC1", "CV_8UC3", "CV_8UC4", "MODES", "image_type", "swap_red_blue"]

# OpenCV type codes as Spark's ImageSchema.ocvTypes defines them.
CV_8UC1, CV_8UC3, CV_8UC4 = 0, 16, 24
# nChannels -> mode of an 8-bit image.
MODES = {1: CV_8UC1, 3: CV_8UC3, 4: CV_8UC4}


def image_type() -> pa.DataType:
    """Spark's image struct as an Arrow type, for `mapInArrow` output.

    Returns:
        A `pa.struct` of `origin` (string), `height`, `width`, `nChannels`,
        `mode` (int32) and `data` (binary), all but `origin` non-null, as
        `ImageSchema.imageSchema` declares them.

    Example:
        >>> image_type().field("mode").type
        DataType(int32)
    """
    return pa.struct([
        pa.field("origin", pa.string(), nullable=True),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("nChannels", pa.int32(), nullable=False),
        pa.field("mode", pa.int32(), nullable=False),
        pa.field("data", pa.binary(), nullable=False),
    ])


def swap_red_blue(pixels: np.ndarray) -> np.ndarray:
    """RGB(A) pixels in OpenCV's BGR(A) byte order, which Spark's image
    struct stores, and back (the swap is its own inverse).

    Args:
        pixels: an array whose last axis holds the channels.

    Returns:
        A copy with the first and third channels swapped (alpha stays
        last); `pixels` itself when it has fewer than 3 channels.

    Example:
        >>> swap_red_blue(np.array([[[10, 20, 30]]], np.uint8)).ravel().tolist()
        [30, 20, 10]
    """
    channels = pixels.shape[-1]
    if channels < 3:
        return pixels
    return pixels[..., [2, 1, 0] + list(range(3, channels))]
