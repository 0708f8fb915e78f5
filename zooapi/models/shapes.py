"""Generated object-detection data with a known answer: circles, rectangles
and triangles of random colour, size and position on cluttered, noisy
backgrounds, some overlapping, each with its exact bounding box.

`draw_shapes` makes one image in NumPy (deterministic in its seed);
`shapes_frame` makes a DataFrame of them on the executors (`spark.range`
then `mapInArrow`: nothing is built on the driver) with `image` in Spark's
image schema and `boxes` as `ObjectDetector` takes them.

Example:
    >>> image, boxes = draw_shapes(np.random.default_rng(0), 64)
    >>> image.shape, sorted(boxes[0])
    ((64, 64, 3), ['label', 'xmax', 'xmin', 'ymax', 'ymin'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np
import pyarrow as pa

from zooapi.checks import check_int
from zooapi.sessions import default_parallelism

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SHAPE_LABELS", "draw_shapes", "shapes_frame"]

SHAPE_LABELS = ["circle", "rectangle", "triangle"]
_COLOURS = np.array([[230, 40, 40], [40, 200, 40], [50, 80, 240], [240, 220, 40], [230, 60, 230], [40, 220, 230],
                     [250, 140, 20], [250, 250, 250]])


def draw_shapes(rng: np.random.Generator, size: int = 128, max_objects: int = 4, min_side: float = 0.12,
                max_side: float = 0.4) -> tuple[np.ndarray, list[dict]]:
    """One `(size, size, 3)` RGB uint8 image and its boxes.

    The background is a random dark gradient with noise and clutter (thin
    lines and small specks in muted colours, smaller than any object). 1 to
    `max_objects` shapes follow, sides `min_side` to `max_side` of the image,
    each drawn over the previous ones, covering at most 30 % of a previous
    box (or having at most 30 % of its own box covered), so every object
    stays visible. Boxes are the
    shapes' exact pixel extents, `{"label", "xmin", "ymin", "xmax", "ymax"}`,
    in pixels (xmax, ymax exclusive).
    """
    from PIL import Image, ImageDraw

    low, high = rng.integers(0, 70, 3), rng.integers(20, 110, 3)
    t = np.linspace(0, 1, size)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, size)[:, None, None]
    background = low + (high - low) * t + rng.normal(0, 12, (size, size, 3))
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 12))):  # clutter
        colour = tuple(int(c) for c in rng.integers(30, 140, 3))
        x, y = rng.integers(0, size, 2)
        if rng.random() < 0.5:
            dx, dy = rng.integers(-size // 3, size // 3, 2)
            pen.line([(int(x), int(y)), (int(x + dx), int(y + dy))], fill=colour, width=1)
        else:
            r = int(rng.integers(1, 3))
            pen.ellipse([int(x) - r, int(y) - r, int(x) + r, int(y) + r], fill=colour)
    boxes: list[dict] = []
    taken = np.zeros((0, 4))
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(10):
            w, h = (rng.uniform(min_side, max_side, 2) * size).astype(int)
            x0, y0 = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            box = np.array([[x0, y0, x0 + w, y0 + h]], float)
            if len(taken) == 0 or _covered(box[0], taken) <= 0.3:
                break
        else:
            continue
        kind = int(rng.integers(0, len(SHAPE_LABELS)))
        colour = tuple(int(c) for c in _COLOURS[rng.integers(0, len(_COLOURS))])
        corners = [x0, y0, x0 + w - 1, y0 + h - 1]  # PIL's boxes include their last pixel
        if SHAPE_LABELS[kind] == "circle":
            pen.ellipse(corners, fill=colour)
        elif SHAPE_LABELS[kind] == "rectangle":
            pen.rectangle(corners, fill=colour)
        else:
            pen.polygon([(x0, y0 + h - 1), (x0 + w - 1, y0 + h - 1), (x0 + int(rng.integers(0, w)), y0)], fill=colour)
        taken = np.concatenate([taken, box])
        boxes.append({"label": SHAPE_LABELS[kind], "xmin": float(x0), "ymin": float(y0), "xmax": float(x0 + w),
                      "ymax": float(y0 + h)})
    return np.asarray(image), boxes


def _covered(box: np.ndarray, others: np.ndarray) -> float:
    """The largest share of `box` or of one of `others` that their intersection covers."""
    lt, rb = np.maximum(box[:2], others[:, :2]), np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    smaller = np.minimum(np.prod(box[2:] - box[:2]), np.prod(others[:, 2:] - others[:, :2], axis=1))
    return float((inter / smaller).max())


def _box_type() -> pa.DataType:
    return pa.list_(pa.struct([pa.field("label", pa.string())] +
                              [pa.field(n, pa.float32()) for n in ("xmin", "ymin", "xmax", "ymax")]))


def _generate(batches: Iterator[pa.RecordBatch], size: int, max_objects: int, seed: int) -> Iterator[pa.RecordBatch]:
    from zooapi.feed.spark_image import CV_8UC3, image_type, swap_red_blue

    for batch in batches:
        ids = batch.column("id").to_numpy()
        drawn = [draw_shapes(np.random.default_rng([seed, int(i)]), size, max_objects) for i in ids]
        origins = [f"shapes-{seed}-{int(i)}" for i in ids]
        image = pa.StructArray.from_arrays(
            [pa.array(origins), pa.array([size] * len(ids), pa.int32()), pa.array([size] * len(ids), pa.int32()),
             pa.array([3] * len(ids), pa.int32()), pa.array([CV_8UC3] * len(ids), pa.int32()),
             pa.array([swap_red_blue(p).tobytes() for p, _ in drawn], pa.binary())], fields=list(image_type()))
        yield pa.RecordBatch.from_arrays([pa.array(ids, pa.int64()), image, pa.array([b for _, b in drawn],
                                                                                     _box_type())],
                                         ["id", "image", "boxes"])


def shapes_frame(spark: "SparkSession", n: int, size: int = 128, max_objects: int = 4, seed: int = 0,
                 partitions: int | None = None) -> "DataFrame":
    """`n` generated images as a DataFrame `(id, image, boxes)`, made on the
    executors; row `id` is the same for the same `seed` however the rows are
    partitioned.

    Args:
        spark: the session.
        n: the number of images.
        size: their side in pixels.
        max_objects: at most this many shapes per image (at least one).
        seed: the data's seed; other seeds give other images.
        partitions: the DataFrame's partitions (default Spark's default
            parallelism).

    Returns:
        `id` (long), `image` (Spark's image schema, BGR), `boxes`
        (`array<struct<label, xmin, ymin, xmax, ymax>>`, pixels).

    Example:
        >>> train = shapes_frame(spark, 2000, seed=1)  # doctest: +SKIP
    """
    from pyspark.ml.image import ImageSchema
    from pyspark.sql import types as T

    n, size, max_objects = check_int("n", n), check_int("size", size), check_int("max_objects", max_objects)
    box = T.StructType([T.StructField("label", T.StringType())] +
                       [T.StructField(c, T.FloatType()) for c in ("xmin", "ymin", "xmax", "ymax")])
    schema = T.StructType([T.StructField("id", T.LongType()), ImageSchema.imageSchema["image"],
                           T.StructField("boxes", T.ArrayType(box))])
    rows = spark.range(0, n, numPartitions=partitions or default_parallelism(spark))
    return rows.mapInArrow(lambda batches: _generate(batches, size, max_objects, int(seed)), schema)
