"""What a model needs from a DataFrame: one `TensorFeed` per input and label."""

from __future__ import annotations

from typing import Any

import numpy as np

from zooapi.feed.columns import TensorFeed, array_levels, plan_groups
from zooapi.feed.columns import ColumnSpec, check_binding


def _tensor_specs(tensors: Any) -> list[tuple[tuple[int | None, ...], str]]:
    return [(tuple(t.shape[1:]), str(t.dtype)) for t in tensors]


def _feed_dtype(dtype: str) -> str:
    """The dtype a feed decodes to for a model input of `dtype` (booleans
    and other dtypes are fed as float32, which Keras casts)."""
    return dtype if dtype == "string" or "int" in dtype or "float" in dtype else "float32"


def _model_inputs(model) -> list | None:
    """The model's input KerasTensors; None when the model is not built yet."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    return list(inputs) if inputs else None


def input_specs(model) -> list[tuple[tuple[int | None, ...] | None, str]]:
    """(shape without batch axis, dtype) per model input; shape None when the
    model is not built yet (its first batch will build it)."""
    inputs = _model_inputs(model)
    if inputs is None:
        return [(None, "float32")]
    return [(shape, _feed_dtype(dtype)) for shape, dtype in _tensor_specs(inputs)]


def output_shapes(model) -> list[tuple[int | None, ...] | None]:
    """Shape without batch axis per model output; [None] when unknown."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if not outputs:
        return [None]
    return [shape for shape, _ in _tensor_specs(outputs)]


def plan_features(model, schema, feature_cols: ColumnSpec, raw: bool = False) -> list[TensorFeed]:
    """Checks `feature_cols` against the schema and the model's inputs.

    Each column group must be able to feed the input it is bound to (see
    `zooapi.feed.columns.check_binding`): a string column a string input, a
    numeric column a numeric input. A scalar column (numeric, string or
    binary) is shaped to the input's rank on the workers: `(n,)` feeds an
    input of shape `(None, 1)` as `(n, 1)`.

    With `raw`, rows keep their decoded shape and type, unchecked (user
    preprocessing shapes them).

    Raises:
        TypeError: a column's type cannot feed its input (on the driver,
            before any Spark job).
    """
    specs = input_specs(model)
    if raw:
        specs = [(None, dtype) for _, dtype in specs]
    groups = plan_groups(schema, feature_cols, len(specs), "feature")
    inputs = None if raw else _model_inputs(model)
    if inputs is not None:
        for group, tensor in zip(groups, inputs):
            check_binding(group, tensor.name, str(tensor.dtype), tuple(tensor.shape[1:]))
    feeds = []
    for group, (shape, dtype) in zip(groups, specs):
        feeds.append(TensorFeed(group, shape, dtype if group.numeric else "object"))
    return feeds


def plan_labels(model, schema, label_cols: ColumnSpec, raw: bool = False) -> list[TensorFeed]:
    """Checks `label_cols` against the schema and the model's outputs (not
    their shapes with `raw`: user preprocessing shapes the labels)."""
    shapes = output_shapes(model)
    groups = plan_groups(schema, label_cols, len(shapes), "label")
    for group in groups:
        if not group.numeric:
            raise TypeError(
                f"Label {group.describe()} has kind '{group.kinds[0]}'; expected numeric "
                "labels (a number, array<numeric> or an ML Vector per row)."
            )
    return [TensorFeed(g, None if raw else s, "float32", is_label=True) for g, s in zip(groups, shapes)]


def plan_sample_weights(schema, column: str | None) -> list[TensorFeed]:
    """The feed of a per-row loss weight column (none without one): one
    numeric value per row."""
    if column is None:
        return []
    if not isinstance(column, str):
        raise TypeError("Received an invalid value for `sample_weight`, expected the name of a numeric column "
                        f"of per-row weights. Received: sample_weight of type {type(column).__name__}")
    group = plan_groups(schema, column, 1, "sample_weight")[0]
    if group.kinds != ("scalar",):
        raise TypeError(f"Sample weight column '{column}' has type {group.spark_types[0]}; expected one number "
                        "per row (a numeric column).")
    return [TensorFeed(group, None, "float32")]


def check_first_row(df, feeds: list[TensorFeed]) -> None:
    """Reads the first row's length of every array column that alone feeds a
    tensor of known size, and refuses a mismatch on the driver, before the
    job (one `limit(1)` read; the workers check every row as they decode)."""
    from pyspark.sql import functions as F

    checked = {}
    for feed in feeds:
        group = feed.group
        if (feed.is_label or feed.shape is None or any(s is None for s in feed.shape)
                or group.kinds != ("array",)):
            continue
        checked[group.columns[0]] = (feed, int(np.prod(feed.shape, dtype=np.int64)))
    if not checked:
        return

    def values_per_row(name):
        column = F.col(name)
        for _ in range(array_levels(df.schema[name].dataType)[0] - 1):
            column = F.flatten(column)  # nested arrays: the values of all levels
        return F.size(column).alias(name)

    first = df.select(*[values_per_row(name) for name in checked]).limit(1).collect()
    for name, (feed, want) in checked.items():
        have = first[0][name] if first else None
        if have is not None and have >= 0 and have != want:
            raise ValueError(
                f"Column '{name}' holds {have} value(s) in its first row; the model input it feeds expects "
                f"{want} (shape {tuple(feed.shape)} per row).")


def feed_columns(*feed_lists: list[TensorFeed]) -> list[str]:
    """The distinct columns the feeds read, in order."""
    seen: dict[str, None] = {}
    for feeds in feed_lists:
        for feed in feeds:
            seen.update(dict.fromkeys(feed.group.columns))
    return list(seen)
