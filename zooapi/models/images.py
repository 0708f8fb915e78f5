"""Images of any size and channel count, brought to the one shape a model
takes, on the workers.

zooapi's feed stacks a batch of Spark images into one `(n, h, w, c)` array,
so every image in a batch must have the same size and channels. Image
folders rarely do (the NIH chest X-rays are mostly grayscale, some RGBA, some
another size). `resize_images` converts, inside `mapInArrow`, each image that
differs from the target: alpha dropped, grayscale repeated to 3 channels (or
color to luminance for 1), then resized with Pillow's bilinear filter
(antialiased when shrinking, as `NNImageReader`'s `resize_*` options). Images
that already match are passed through untouched. The result stays in Spark's
image schema (BGR bytes), so nothing else changes.

Example:
    >>> from zooapi.models import resize_images  # doctest: +SKIP
    >>> resize_images(df, "image", 224, 224).select("image.height", "image.width").distinct().show()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pyarrow as pa

from zooapi.checks import check_int
from zooapi.feature.pillow_image import convert_channels, image_pixels, resize_image
from zooapi.feature.spark_image import MODES, image_type, swap_red_blue

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["resize_images"]


def conform_pixels(pixels: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    """One image in OpenCV byte order (BGR, BGRA or gray), as Spark's image
    struct stores it, brought to `(height, width, channels)`: alpha dropped
    (or color turned to luminance for 1 channel), resized with Pillow's
    bilinear filter, gray repeated for 3 channels.

    Args:
        pixels: a `(h, w, c)` uint8 array, `c` 1, 3 or 4.
        height: the target height.
        width: the target width.
        channels: 3 (BGR) or 1 (grayscale).

    Returns:
        A `(height, width, channels)` uint8 array, same byte order.

    Example:
        >>> conform_pixels(np.zeros((4, 6, 4), np.uint8), 2, 3, 3).shape
        (2, 3, 3)
    """
    from PIL import Image

    codec = 0 if channels == 1 else 1
    if pixels.shape[2] == 1:
        image = Image.fromarray(np.ascontiguousarray(pixels[..., 0]))
    else:
        # Only luminance weighs the channels differently: otherwise BGR bytes
        # pass through Pillow as "RGB" unswapped.
        color = swap_red_blue(pixels[..., :3]) if channels == 1 else pixels
        # Alpha goes before resizing: Pillow resizes RGBA premultiplied.
        image = convert_channels(Image.fromarray(np.ascontiguousarray(color)), codec)
    # Gray becomes 3 channels after resizing, a third of the pixels to resize.
    return image_pixels(convert_channels(resize_image(image, height, width), codec))


def conform_column(column: str, arr: pa.Array, height: int, width: int, channels: int,
                   offset: int = 0) -> pa.Array:
    """An Arrow column of Spark images with every image as `(height, width,
    channels)`; the column itself when they all are. Nulls stay null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else np.ones(n, bool)
    dims = np.stack([arr.field(f).to_numpy(zero_copy_only=False) for f in ("height", "width", "nChannels", "mode")],
                    1) if n else np.zeros((0, 4), np.int32)
    target = np.array([height, width, channels, MODES[channels]])
    redo = valid & (dims != target).any(1)
    if not redo.any():
        return arr
    data = arr.field("data")
    out_data: list[bytes | None] = []
    for i in range(n):
        if not valid[i]:
            out_data.append(b"")
            continue
        raw = data[i].as_py()
        if not redo[i]:
            out_data.append(raw)
            continue
        h, w, c, mode = (int(v) for v in dims[i])
        if mode not in MODES.values() or c not in MODES:
            raise ValueError(
                f"Column '{column}' has an image of OpenCV mode {mode} with {c} channel(s) at row {offset + i} "
                "of its partition; expected 8-bit images (mode 0, 16 or 24: 1, 3 or 4 channels) to resize.")
        if len(raw) != h * w * c:
            raise ValueError(
                f"Column '{column}' has {len(raw)} bytes of image data at row {offset + i} of its partition; "
                f"expected height*width*nChannels = {h}*{w}*{c} = {h * w * c}.")
        pixels = np.frombuffer(raw, np.uint8).reshape(h, w, c)
        out_data.append(conform_pixels(pixels, height, width, channels).tobytes())
    rows = [np.where(redo, v, d) for v, d in zip(target, dims.T)]
    fields = [arr.field("origin")] + [pa.array(r.astype(np.int32), pa.int32()) for r in rows]
    fields.append(pa.array(out_data, pa.binary()))
    mask = pa.array(~valid) if arr.null_count else None
    return pa.StructArray.from_arrays(fields, fields=list(image_type()), mask=mask)


def resize_partition(batches: Iterator[pa.RecordBatch], column: str, output_col: str, height: int, width: int,
                     channels: int) -> Iterator[pa.RecordBatch]:
    """Runs on the workers: each batch with `output_col` holding the conformed
    images (replacing `column` when they are the same name)."""
    offset = 0
    for batch in batches:
        images = conform_column(column, batch.column(column), height, width, channels, offset)
        offset += batch.num_rows
        if output_col == column:
            index = batch.schema.get_field_index(column)
            yield batch.set_column(index, column, images)
        else:
            yield batch.append_column(output_col, images)


def check_image_column(df: "DataFrame", column: Any, argument: str, encoded: bool = False) -> str:
    """The kind of `column` of `df`: "image" (Spark's image struct) or, when
    `encoded` is allowed, "binary" (encoded image files); else a
    TypeError/ValueError naming `argument`."""
    from pyspark.sql import types as T

    from zooapi.feed.spark_image import IMAGE_FIELDS
    from zooapi.feature.dataframe_checks import check_column

    dtype = df.schema[check_column(df, column, argument)].dataType
    if hasattr(dtype, "names") and tuple(dtype.names) == IMAGE_FIELDS:
        return "image"
    if encoded and isinstance(dtype, T.BinaryType):
        return "binary"
    raise TypeError(
        f"Column '{column}' (`{argument}`) has type {dtype.simpleString()}; expected Spark's image struct "
        f"({', '.join(IMAGE_FIELDS)}), as `NNImageReader.readImages` or spark.read.format('image') give"
        + (", or binary image files (`readImages(..., decode=False)`)." if encoded else "."))


def image_input(df: "DataFrame", column: str, argument: str, height: int, width: int, channels: int,
                output_col: str | None = None) -> tuple["DataFrame", str, Any]:
    """How an image column of any size feeds a model input of `(height,
    width, channels)`: `(frame, column to feed, preprocessing to put first)`.
    Spark images are resized on the workers into `output_col` (default: in
    place); encoded files stay as they are and are decoded to the input's
    size by `ImageBytesToMat` where they are fed."""
    from zooapi.feature.image_files import ImageBytesToMat

    if check_image_column(df, column, argument, encoded=True) == "binary":
        return df, column, ImageBytesToMat(height, width, image_codec=0 if channels == 1 else 1)
    resized = resize_images(df, column, height, width, channels, output_col=output_col)
    return resized, output_col or column, None


def resize_images(df: "DataFrame", input_col: str, height: int, width: int, channels: int = 3,
                  output_col: str | None = None) -> "DataFrame":
    """Every image of `input_col` as `(height, width, channels)`, converted on
    the workers where it differs.

    Args:
        df: a DataFrame with a column in Spark's image schema.
        input_col: that column.
        height: the target height.
        width: the target width.
        channels: 3 (BGR) or 1 (grayscale).
        output_col: the column to write; default `input_col` (replaced).

    Returns:
        The DataFrame (lazy) with every other column unchanged.

    Example:
        >>> small = resize_images(df, "image", 96, 96, output_col="small")  # doctest: +SKIP
    """
    from pyspark.sql import types as T

    check_image_column(df, input_col, "input_col")
    check_int("height", height)
    check_int("width", width)
    if channels not in (1, 3):
        raise ValueError(f"Received an invalid value for `channels`, expected 1 or 3. Received: channels={channels!r}")
    output_col = input_col if output_col is None else output_col
    if output_col != input_col and output_col in df.columns:
        raise ValueError(f"Column '{output_col}' already exists in the DataFrame; choose another `output_col`.")
    image_type = df.schema[input_col].dataType
    if output_col == input_col:
        schema = df.schema
    else:
        schema = T.StructType(df.schema.fields + [T.StructField(output_col, image_type, True)])
    h, w, c = int(height), int(width), int(channels)
    return df.mapInArrow(lambda batches: resize_partition(batches, input_col, output_col, h, w, c), schema)
