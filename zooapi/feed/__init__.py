"""Arrow <-> NumPy: column codecs and local spill files. Knows no Keras."""

from zooapi.feed.codecs import decode_column, decode_feed, decode_group, encode_output, fit_label, fit_shape, output_spark_type
from zooapi.feed.columns import ColumnGroup, TensorFeed, column_kind, normalize_spec, plan_groups
from zooapi.feed.spill import SpillReader, SpillWriter

__all__ = [
    "ColumnGroup", "TensorFeed", "SpillReader", "SpillWriter", "column_kind", "decode_column",
    "decode_feed", "decode_group", "encode_output", "fit_label", "fit_shape", "normalize_spec",
    "output_spark_type", "plan_groups",
]
