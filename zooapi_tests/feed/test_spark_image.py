"""Spark's image struct pieces: Arrow type, OpenCV modes, BGR byte order."""

from __future__ import annotations

import numpy as np

from zooapi.feed.spark_image import (
    CV_8UC1, CV_8UC3, CV_8UC4, IMAGE_DTYPES, IMAGE_FIELDS, MODES, image_type, swap_red_blue,
)


def test_image_type_is_spark_image_schema(spark):
    from pyspark.ml.image import ImageSchema
    from pyspark.sql.pandas.types import from_arrow_type

    assert from_arrow_type(image_type()) == ImageSchema.imageSchema["image"].dataType
    assert tuple(ImageSchema.imageSchema["image"].dataType.names) == IMAGE_FIELDS


def test_modes_are_spark_ocv_types_for_8_bit_images(spark):
    from pyspark.ml.image import ImageSchema

    ocv = ImageSchema.ocvTypes
    assert (CV_8UC1, CV_8UC3, CV_8UC4) == (ocv["CV_8UC1"], ocv["CV_8UC3"], ocv["CV_8UC4"])
    assert MODES == {1: CV_8UC1, 3: CV_8UC3, 4: CV_8UC4}
    # OpenCV's code is depth + 8 * (channels - 1); Spark names only the 8-bit ones (depth 0), float is depth 5.
    assert {depth + 8 * (c - 1): dtype for depth, dtype in ((0, np.uint8), (5, np.float32))
            for c in (1, 3, 4)} == IMAGE_DTYPES


def test_swap_red_blue_keeps_alpha_last_and_undoes_itself():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 4, 4), dtype=np.uint8)
    bgra = swap_red_blue(pixels)
    np.testing.assert_array_equal(bgra, pixels[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(swap_red_blue(bgra), pixels)
    gray = pixels[..., :1]
    assert swap_red_blue(gray) is gray
