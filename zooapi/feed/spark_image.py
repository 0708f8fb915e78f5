"""Spark's image struct (`pyspark.ml.image.ImageSchema`), described once:
its field names, its Arrow type as the workers write it, the OpenCV type code
of each channel count and pixel type, and OpenCV's BGR byte order.

The feed decodes the struct with these facts, and `NNImageReader.readImages`
and `zooapi.models.resize_images` build it from them (through
`zooapi.feature.spark_image`), so readers and writers cannot drift apart.

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

__all__ = ["CV_8UC1", "CV_8UC3", "CV_8UC4", "IMAGE_DTYPES", "IMAGE_FIELDS", "MODES", "image_type", "swap_red_blue"]

# The struct's fields in ImageSchema.imageSchema's order.
IMAGE_FIELDS = ("origin", "height", "width", "nChannels", "mode", "data")
# OpenCV type codes as Spark's ImageSchema.ocvTypes defines them.
CV_8UC1, CV_8UC3, CV_8UC4 = 0, 16, 24
CV_32FC1, CV_32FC3, CV_32FC4 = 5, 21, 29
# nChannels -> mode of an 8-bit image.
MODES = {1: CV_8UC1, 3: CV_8UC3, 4: CV_8UC4}
# mode -> NumPy dtype of the bytes in `data`, for every mode the feed decodes.
IMAGE_DTYPES = {CV_8UC1: np.uint8, CV_8UC3: np.uint8, CV_8UC4: np.uint8,
                CV_32FC1: np.float32, CV_32FC3: np.float32, CV_32FC4: np.float32}


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
    types = {"origin": pa.string(), "data": pa.binary()}
    return pa.struct([pa.field(name, types.get(name, pa.int32()), nullable=name == "origin")
                      for name in IMAGE_FIELDS])


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
