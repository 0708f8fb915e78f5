"""Bounding-box columns for object detection, and readers of box
annotations (CSV, Pascal VOC XML, COCO JSON) into such a column, on the
cluster.

A boxes column is `array<struct<label: string, xmin, ymin, xmax, ymax>>`
(coordinates float or double), one element per object, in **pixels** of the
image (x to the right, y down, `xmax`/`ymax` the far edges, so a box
covering the whole `w` x `h` image is `(0, 0, w, h)`) or, with
`relative=True`, in fractions of the image's width and height (0 to 1). An
empty array is an image with no object (a valid negative example).

Checked per row where the boxes are used (`check_boxes`): a box with
`xmax <= xmin` or `ymax <= ymin`, a box outside the image (by more than
half a pixel), or a label the detector does not know is a `ValueError`
naming the column, the image and the box.

The readers give `(file, boxes)` (plus `width`, `height` where the
annotation says them), to be joined with the images on their file name,
e.g. `F.element_at(F.split("origin", "/"), -1)`.

Example:
    >>> from zooapi.models.boxes import read_box_csv  # doctest: +SKIP
    >>> boxes = read_box_csv(spark, "hdfs:///data/boxes.csv")  # file,label,xmin,ymin,xmax,ymax  # doctest: +SKIP
    >>> train = images.withColumn("file", F.element_at(F.split("origin", "/"), -1)).join(boxes, "file")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["BOX_FIELDS", "box_type", "check_boxes", "check_boxes_column", "detection_type", "read_box_csv",
           "read_coco_annotations", "read_voc_annotations"]

BOX_FIELDS = ("label", "xmin", "ymin", "xmax", "ymax")
_COORDS = BOX_FIELDS[1:]


def box_type():
    """`array<struct<label: string, xmin: float, ymin: float, xmax: float, ymax: float>>`."""
    from pyspark.sql import types as T

    return T.ArrayType(T.StructType([T.StructField("label", T.StringType())] +
                                    [T.StructField(c, T.FloatType()) for c in _COORDS]))


def detection_type():
    """`array<struct<label: string, score: float, xmin, ymin, xmax, ymax: float>>`."""
    from pyspark.sql import types as T

    return T.ArrayType(T.StructType([T.StructField("label", T.StringType()), T.StructField("score", T.FloatType())] +
                                    [T.StructField(c, T.FloatType()) for c in _COORDS]))


def check_boxes_column(df: "DataFrame", column: Any, argument: str = "boxes_col") -> str:
    """`column` when it is a boxes column of `df`; else a TypeError/ValueError
    naming it, its type and the expected type."""
    from pyspark.sql import types as T

    from zooapi.feature.dataframe_checks import check_column

    dtype = df.schema[check_column(df, column, argument)].dataType
    element = dtype.elementType if isinstance(dtype, T.ArrayType) else None
    fields = {f.name: f.dataType for f in element.fields} if isinstance(element, T.StructType) else {}
    if not (set(BOX_FIELDS) <= set(fields) and isinstance(fields["label"], T.StringType)
            and all(isinstance(fields[c], T.NumericType) for c in _COORDS)):
        raise TypeError(f"Column '{column}' (`{argument}`) has type {dtype.simpleString()}; expected "
                        f"array<struct<label: string, xmin, ymin, xmax, ymax: numbers>>, one element per object.")
    return column


def check_boxes(boxes: Sequence[dict], width: int, height: int, relative: bool, classes: dict[str, int],
                column: str, origin: str) -> tuple[np.ndarray, np.ndarray]:
    """One image's boxes as `(relative xyxy (m, 4) float32, class indices (m,))`,
    or a ValueError naming `column`, the image `origin` and the bad box."""
    coords = np.array([[b[c] for c in _COORDS] for b in boxes], np.float64).reshape(-1, 4)
    if not relative:
        coords = coords / np.array([width, height, width, height], np.float64)
    tolerance = (0.5 / width, 0.5 / height)
    for box, rel in zip(boxes, coords):
        where = f"Box {dict(box)} of image '{origin}' in column '{column}'"
        if not np.all(np.isfinite(rel)) or rel[2] <= rel[0] or rel[3] <= rel[1]:
            raise ValueError(f"{where} is empty or inverted; expected xmin < xmax and ymin < ymax.")
        if (rel[0] < -tolerance[0] or rel[1] < -tolerance[1] or rel[2] > 1 + tolerance[0]
                or rel[3] > 1 + tolerance[1]):
            unit = "relative coordinates in [0, 1]" if relative else f"pixels within the {width}x{height} image"
            raise ValueError(f"{where} lies outside the image; expected {unit}.")
        if box["label"] not in classes:
            raise ValueError(f"{where} has the unknown label {box['label']!r}; expected one of "
                             f"{', '.join(map(repr, classes))}.")
    labels = np.array([classes[b["label"]] for b in boxes], np.int64)
    return np.clip(coords, 0, 1).astype(np.float32), labels


# -- readers ---------------------------------------------------------------

def _grouped(df: "DataFrame", file_col: str, *keep: str) -> "DataFrame":
    from pyspark.sql import functions as F

    box = F.struct(F.col("label").cast("string").alias("label"),
                   *[F.col(c).cast("float").alias(c) for c in _COORDS])
    return df.groupBy(file_col, *keep).agg(F.collect_list(box).alias("boxes"))


def read_box_csv(spark: "SparkSession", path: str, file_col: str = "file") -> "DataFrame":
    """A CSV of one box per line (header `file,label,xmin,ymin,xmax,ymax`,
    in pixels or relative) as one row per image, `(file, boxes)`.

    Args:
        spark: the session.
        path: the CSV file(s), any path Spark reads.
        file_col: the column naming the image.

    Returns:
        `(file_col, boxes)`; images without boxes are not in it (left-join
        the images and fill an empty array for them).

    Example:
        >>> boxes = read_box_csv(spark, "boxes.csv")  # doctest: +SKIP
    """
    df = spark.read.csv(path, header=True)
    missing = [c for c in (file_col, *BOX_FIELDS) if c not in df.columns]
    if missing:
        raise ValueError(f"The CSV {path!r} lacks the column(s) {', '.join(missing)}; expected a header with "
                         f"{file_col}, {', '.join(BOX_FIELDS)}. Received: {', '.join(df.columns)}.")
    return _grouped(df, file_col)


def _parse_voc(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import xml.etree.ElementTree as ET

    for batch in batches:
        files, widths, heights, boxes = [], [], [], []
        for path, content in zip(batch.column("path").to_pylist(), batch.column("content").to_pylist()):
            try:
                root = ET.fromstring(content)
                size = root.find("size")
                objects = [{"label": o.findtext("name").strip(),
                            **{c: float(o.find("bndbox").findtext(c)) for c in _COORDS}}
                           for o in root.iter("object")]
            except (ET.ParseError, AttributeError, TypeError, ValueError) as err:
                raise ValueError(f"The Pascal VOC annotation {path!r} could not be read: expected <annotation> with "
                                 f"<filename>, <size> and <object>s each with <name> and <bndbox>. ({err})") from None
            files.append(root.findtext("filename"))
            widths.append(int(size.findtext("width")) if size is not None else None)
            heights.append(int(size.findtext("height")) if size is not None else None)
            boxes.append(objects)
        yield pa.RecordBatch.from_arrays(
            [pa.array(files, pa.string()), pa.array(widths, pa.int32()), pa.array(heights, pa.int32()),
             pa.array(boxes, pa.list_(pa.struct([pa.field("label", pa.string())] +
                                                [pa.field(c, pa.float32()) for c in _COORDS])))],
            ["file", "width", "height", "boxes"])


def read_voc_annotations(spark: "SparkSession", path: str) -> "DataFrame":
    """A folder of Pascal VOC XML annotations (`Annotations/*.xml`) as
    `(file, width, height, boxes)`, parsed on the executors.

    VOC's coordinates are pixels, 1-based (`xmin` 1 is the first pixel):
    read as they are, they lie within `[0, width]` as the boxes column
    expects. A file that is not such XML fails the job with a ValueError
    naming it.

    Args:
        spark: the session.
        path: the folder (or glob) of `.xml` files.

    Returns:
        One row per annotation file.

    Example:
        >>> boxes = read_voc_annotations(spark, "VOC2012/Annotations")  # doctest: +SKIP
    """
    from pyspark.sql import types as T

    files = spark.read.format("binaryFile").option("pathGlobFilter", "*.xml").option("recursiveFileLookup", "true")
    schema = T.StructType([T.StructField("file", T.StringType()), T.StructField("width", T.IntegerType()),
                           T.StructField("height", T.IntegerType()), T.StructField("boxes", box_type())])
    return files.load(path).select("path", "content").mapInArrow(_parse_voc, schema)


def read_coco_annotations(spark: "SparkSession", path: str) -> "DataFrame":
    """A COCO detection annotation file (`instances_*.json`) as `(file,
    width, height, boxes)`, one row per image (with an empty array for an
    image without annotations), labels as the category names; joined on
    the cluster. COCO's `bbox` is `[x, y, width, height]` in pixels; crowd
    annotations (`iscrowd` 1) are left out.

    Args:
        spark: the session.
        path: the JSON file.

    Returns:
        One row per image of the file's `images`.

    Example:
        >>> boxes = read_coco_annotations(spark, "annotations/instances_val2017.json")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    coco = spark.read.json(path, multiLine=True)
    missing = [c for c in ("images", "annotations", "categories") if c not in coco.columns]
    if missing:
        raise ValueError(f"The COCO file {path!r} lacks {', '.join(missing)}; expected a detection annotation file "
                         f"with images, annotations and categories.")
    images = coco.select(F.explode("images").alias("i")).select(
        F.col("i.id").alias("image_id"), F.col("i.file_name").alias("file"), F.col("i.width").cast("int").alias(
            "width"), F.col("i.height").cast("int").alias("height"))
    categories = coco.select(F.explode("categories").alias("c")).select(
        F.col("c.id").alias("category_id"), F.col("c.name").alias("label"))
    annotations = coco.select(F.explode("annotations").alias("a")).select("a.*")
    if "iscrowd" in annotations.columns:
        annotations = annotations.where(F.coalesce(F.col("iscrowd"), F.lit(0)) == 0)
    b = F.col("bbox")
    annotations = (annotations.join(F.broadcast(categories), "category_id")
                   .select("image_id", "label", b[0].alias("xmin"), b[1].alias("ymin"),
                           (b[0] + b[2]).alias("xmax"), (b[1] + b[3]).alias("ymax")))
    box = F.struct(F.col("label").cast("string").alias("label"), *[F.col(c).cast("float").alias(c) for c in _COORDS])
    grouped = annotations.groupBy("image_id").agg(F.collect_list(box).alias("boxes"))
    return (images.join(grouped, "image_id", "left")
            .select("file", "width", "height", F.coalesce("boxes", F.array().cast(box_type())).alias("boxes")))
