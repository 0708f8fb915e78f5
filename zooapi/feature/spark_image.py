"""Spark's image struct (`pyspark.ml.image.ImageSchema`) as the workers write
it: the Arrow type, the OpenCV type code of each channel count, and OpenCV's
byte order.

`NNImageReader.readImages` fills this struct from files and
`zooapi.models.resize_images` rewrites it at another size; both build it
from these definitions, which live in `zooapi.feed.spark_image` (the feed
decodes the struct too), so none of them can drift apart.

Example:
    >>> import numpy as np
    >>> MODES[3], image_type().names
    (16, ['origin', 'height', 'width', 'nChannels', 'mode', 'data'])
    >>> swap_red_blue(np.array([[[1, 2, 3, 4]]], np.uint8)).ravel().tolist()
    [3, 2, 1, 4]
"""

from __future__ import annotations

# The struct is a fact of the feed (the lowest layer that reads it); this
# module keeps the names feature code and users import.
from zooapi.feed.spark_image import CV_8UC1, CV_8UC3, CV_8UC4, MODES, image_type, swap_red_blue

__all__ = ["CV_8UC1", "CV_8UC3", "CV_8UC4", "MODES", "image_type", "swap_red_blue"]
