"""Spark's image struct (`pyspark.ml.image.ImageSchema`) for feature code
and users: the names defined once in `zooapi.feed.spark_image` (field names,
Arrow type, OpenCV modes, BGR<->RGB swap), which `NNImageReader.readImages`
and `zooapi.models.resize_images` build the struct from and the feed decodes
it with.
"""

from __future__ import annotations

# The struct is a fact of the feed (the lowest layer that reads it); this
# module keeps the names feature code and users import.
from zooapi.feed.spark_image import CV_8UC1, CV_8UC3, CV_8UC4, MODES, image_type, swap_red_blue

__all__ = ["CV_8UC1", "CV_8UC3", "CV_8UC4", "MODES", "image_type", "swap_red_blue"]
