"""Arrow <-> NumPy: the column codecs. Knows no Keras.

`column_kind` reads a column's kind off its Spark type, `decode_column`
turns an Arrow column of that kind into a NumPy array with one row per
element, `encode_output` turns a model output back into an Arrow column, and
`output_spark_type` is that column's Spark type. The engine's internals
(column groups, tensor feeds, spill files) stay importable from
`zooapi.feed.columns`, `zooapi.feed.codecs` and `zooapi.feed.spill`.

Example:
    >>> import numpy as np
    >>> import pyarrow as pa
    >>> from zooapi.feed import decode_column, encode_output
    >>> decode_column("x", "array", pa.array([[1.0, 2.0], [3.0, 4.0]])).shape
    (2, 2)
    >>> encode_output(np.zeros((3, 1), np.float32)).type
    DataType(double)
"""

from zooapi.feed.codecs import decode_column, encode_output, output_spark_type
from zooapi.feed.columns import column_kind

__all__ = ["column_kind", "decode_column", "encode_output", "output_spark_type"]
