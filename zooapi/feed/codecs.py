"""Arrow record batches to NumPy tensors and back, one codec per column kind.

Decoding checks every batch: a null, a ragged array, a vector or image of
another size raises a `ValueError` that names the column, the row's position
in its partition, what was seen and what was expected.

Images come out as `float32` `(n, height, width, channels)` in RGB(A) order:
Spark's image struct stores OpenCV's BGR, and Keras models expect RGB.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zooapi.feed.columns import ColumnGroup
from zooapi.feed.spark_image import IMAGE_DTYPES, swap_red_blue


def _first(mask: pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _check_no_nulls(column: str, arr: pa.Array, offset: int) -> None:
    if arr.null_count:
        row = _first(pc.is_null(arr))
        raise ValueError(
            f"Column '{column}' has a null at row {offset + row} of its partition; "
            "expected a value in every row. Drop or fill nulls first "
            "(`df.na.drop(subset=[...])` or `df.na.fill(...)`)."
        )


def _is_list(arrow_type) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)


def _decode_array(column: str, arr: pa.Array, offset: int) -> np.ndarray:
    """`array<numeric>` as `(n, d)`; nested arrays (`array<array<numeric>>`,
    ...) as `(n, d1, d2, ...)`, every level of a fixed length."""
    n, dims, values = len(arr), [], arr
    while _is_list(values.type):
        per_row = max(int(np.prod(dims, dtype=np.int64)), 1)  # arrays of this level in one row
        if dims and values.null_count:
            row = _first(pc.is_null(values)) // per_row
            raise ValueError(
                f"Column '{column}' has a null inner array at row {offset + row} of its partition; "
                "expected arrays of numbers only.")
        lengths = pc.list_value_length(values)
        d = lengths[0].as_py() if len(values) else 0
        if len(values) and (pc.min(lengths).as_py() != d or pc.max(lengths).as_py() != d):
            position = _first(pc.not_equal(lengths, d))
            row, have = offset + position // per_row, lengths[position].as_py()
            if not dims:
                raise ValueError(
                    f"Column '{column}' is ragged: row {row} of its partition has {have} values, row {offset} "
                    f"has {d}; expected the same length in every row.")
            raise ValueError(
                f"Column '{column}' is ragged: row {row} of its partition holds an inner array of {have} "
                f"value(s) at nesting level {len(dims)}, where row {offset}'s first inner array has {d}; "
                "expected the same length at every level.")
        dims.append(d)
        values = values.flatten()
    if values.null_count:
        row = _first(pc.is_null(values)) // max(int(np.prod(dims, dtype=np.int64)), 1)
        raise ValueError(
            f"Column '{column}' has a null element at row {offset + row} of its "
            "partition; expected numbers only."
        )
    return values.to_numpy(zero_copy_only=False).reshape(n, *dims)


def _decode_vector(column: str, arr: pa.StructArray, offset: int) -> np.ndarray:
    n = len(arr)
    kind = arr.field("type").to_numpy(zero_copy_only=False)
    values = arr.field("values")
    dense = kind == 1
    if dense.all():
        return _decode_array(column, values, offset)
    sizes = np.where(dense, pc.list_value_length(values).to_numpy(zero_copy_only=False),
                     arr.field("size").fill_null(0).to_numpy(zero_copy_only=False))
    d = int(sizes[0]) if n else 0
    if (sizes != d).any():
        row = int(np.argmax(sizes != d))
        raise ValueError(
            f"Column '{column}' holds vectors of different sizes: row {offset + row} "
            f"of its partition has size {int(sizes[row])}, row {offset} has {d}; "
            "expected the same size in every row."
        )
    out = np.zeros((n, d), dtype=np.float64)
    rows = np.flatnonzero(dense)
    if rows.size:
        out[rows] = np.stack([np.asarray(values[int(r)].values) for r in rows])
    sparse = np.flatnonzero(~dense)
    sub_values = values.take(pa.array(sparse))
    sub_indices = arr.field("indices").take(pa.array(sparse))
    counts = pc.list_value_length(sub_indices).to_numpy(zero_copy_only=False)
    out[np.repeat(sparse, counts), sub_indices.flatten().to_numpy()] = sub_values.flatten().to_numpy()
    return out


def _decode_image(column: str, arr: pa.StructArray, offset: int) -> np.ndarray:
    n = len(arr)
    dims = np.stack([arr.field(f).to_numpy(zero_copy_only=False) for f in ("height", "width", "nChannels", "mode")], 1)
    if n and (dims != dims[0]).any():
        row = int(np.argmax((dims != dims[0]).any(1)))
        raise ValueError(
            f"Column '{column}' holds images of different sizes: row {offset + row} of "
            f"its partition is (height, width, nChannels, mode)={tuple(dims[row])}, row "
            f"{offset} is {tuple(dims[0])}; expected one size (resize images first)."
        )
    h, w, c, mode = (int(v) for v in dims[0]) if n else (0, 0, 0, 0)
    if mode not in IMAGE_DTYPES:
        raise ValueError(
            f"Column '{column}' has images of OpenCV mode {mode}; expected one of "
            f"{sorted(IMAGE_DTYPES)} (8-bit or 32-bit float, 1, 3 or 4 channels)."
        )
    data = arr.field("data")
    dtype = np.dtype(IMAGE_DTYPES[mode])
    expected = h * w * c * dtype.itemsize
    lengths = pc.binary_length(data).to_numpy(zero_copy_only=False)
    if (lengths != expected).any():
        row = int(np.argmax(lengths != expected))
        raise ValueError(
            f"Column '{column}' has {int(lengths[row])} bytes of image data at row "
            f"{offset + row} of its partition; expected height*width*nChannels = {expected}."
        )
    offset_type = np.int64 if pa.types.is_large_binary(data.type) else np.int32
    start = int(np.frombuffer(data.buffers()[1], dtype=offset_type)[data.offset]) if n else 0
    raw = np.frombuffer(data.buffers()[2], dtype=np.uint8)[start:start + n * expected] if n else np.zeros(0, np.uint8)
    return swap_red_blue(raw.view(dtype).reshape(n, h, w, c)).astype(np.float32)


def decode_column(column: str, kind: str, arr: pa.Array, offset: int = 0) -> np.ndarray:
    """One Arrow column as a NumPy array with one leading row axis.

    Args:
        column: the column's name, for error messages.
        kind: its kind (see `zooapi.feed.columns`).
        arr: the Arrow array (a `ChunkedArray` is combined first).
        offset: the position of the first row in its partition, for errors.

    Example:
        >>> decode_column("x", "array", pa.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _check_no_nulls(column, arr, offset)
    if kind == "scalar":
        return arr.to_numpy(zero_copy_only=False)
    if kind == "array":
        return _decode_array(column, arr, offset)
    if kind == "vector":
        return _decode_vector(column, arr, offset)
    if kind == "image":
        return _decode_image(column, arr, offset)
    if kind in ("binary", "string"):
        return arr.to_numpy(zero_copy_only=False)
    raise ValueError(f"Unknown column kind '{kind}' for column '{column}'.")


def decode_group(
    batch: pa.RecordBatch,
    group: ColumnGroup,
    offset: int = 0,
    shape: Sequence[int | None] | None = None,
    dtype: str | None = "float32",
) -> np.ndarray:
    """The tensor a column group feeds: `(n, *shape)`.

    Several numeric columns are flattened per row and concatenated. With
    `shape` (the tensor's shape without its batch axis), each row is
    reshaped to it, and a row of the wrong size raises a `ValueError`; a
    scalar column of any kind (number, string, binary) so gets the input's
    rank: `(n,)` becomes `(n, 1)` for a shape of `(1,)`.
    """
    parts = [decode_column(c, k, batch.column(c), offset) for c, k in zip(group.columns, group.kinds)]
    n = batch.num_rows
    if not group.numeric:
        out = parts[0]
    elif len(parts) == 1:
        out = parts[0]
    else:
        out = np.concatenate([p.reshape(n, -1) for p in parts], axis=1)
    if group.numeric and dtype is not None and out.dtype != dtype:
        out = out.astype(dtype)
    if shape is not None:
        out = fit_shape(out, shape, group)
    return out


def fit_shape(arr: np.ndarray, shape: Sequence[int | None], group: ColumnGroup) -> np.ndarray:
    """Reshapes `(n, ...)` rows to `(n, *shape)`, or says why they do not fit."""
    n = arr.shape[0]
    have = int(np.prod(arr.shape[1:], dtype=np.int64))
    if any(s is None for s in shape):
        known = int(np.prod([s for s in shape if s is not None], dtype=np.int64))
        if known and have % known == 0:
            return arr.reshape(n, *[-1 if s is None else s for s in shape])
    else:
        want = int(np.prod(shape, dtype=np.int64))
        if have == want:
            return arr.reshape(n, *shape) if tuple(arr.shape[1:]) != tuple(shape) else arr
    raise ValueError(
        f"{group.describe().capitalize()} gives {have} value(s) per row (shape "
        f"{tuple(arr.shape[1:])}); the model expects shape {tuple(shape)} per row."
    )


def encode_output(arr: np.ndarray) -> pa.Array:
    """A model output `(n, ...)` as an Arrow column: `double` when each row has
    one value, else `array<float>` with the row flattened.

    Args:
        arr: the model output, one row per input row.

    Example:
        >>> encode_output(np.zeros((2, 2, 2), np.float32)).to_pylist()
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    n = arr.shape[0]
    flat = np.ascontiguousarray(arr).reshape(n, int(np.prod(arr.shape[1:], dtype=np.int64)))
    if flat.shape[1] == 1:
        return pa.array(flat[:, 0].astype(np.float64))
    values = pa.array(flat.astype(np.float32, copy=False).reshape(-1))
    offsets = pa.array(np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def output_spark_type(row_shape: Sequence[int | None]):
    """The Spark type `encode_output` gives for rows of this shape.

    Args:
        row_shape: the shape of one output row (without the batch axis).

    Example:
        >>> output_spark_type((10,)).simpleString()
        'array<float>'
    """
    from pyspark.sql import types as T

    if any(s is None for s in row_shape) or int(np.prod(row_shape, dtype=np.int64)) != 1:
        return T.ArrayType(T.FloatType(), containsNull=False)
    return T.DoubleType()


def fit_label(arr: np.ndarray, output_shape: Sequence[int | None] | None, group: ColumnGroup) -> np.ndarray:
    """Shapes labels for an output of `output_shape`: as many values per row
    as the output (reshaped to it), or one value per row (kept as `(n,)`)."""
    n = arr.shape[0]
    have = int(np.prod(arr.shape[1:], dtype=np.int64))
    if output_shape is None or any(s is None for s in output_shape):
        return arr
    want = int(np.prod(output_shape, dtype=np.int64))
    if have == want:
        return arr.reshape(n, *output_shape)
    if have == 1:
        return arr.reshape(n)
    raise ValueError(
        f"Label {group.describe()} gives {have} value(s) per row (shape "
        f"{tuple(arr.shape[1:])}); the model's output has shape {tuple(output_shape)}, so "
        f"expected {want} value(s) per row, or 1 (a class index)."
    )


def decode_feed(batch: pa.RecordBatch, feed, offset: int = 0) -> np.ndarray:
    """The tensor a `TensorFeed` describes, from one record batch."""
    if feed.is_label:
        arr = decode_group(batch, feed.group, offset, shape=None, dtype=feed.dtype)
        return fit_label(arr, feed.shape, feed.group) if feed.group.numeric else arr
    return decode_group(batch, feed.group, offset, shape=feed.shape, dtype=feed.dtype)
