"""What a model needs from a DataFrame: one `TensorFeed` per input and label."""

from __future__ import annotations

from typing import Any

from zooapi.feed import TensorFeed, plan_groups
from zooapi.feed.columns import ColumnSpec


def _tensor_specs(tensors: Any) -> list[tuple[tuple[int | None, ...], str]]:
    return [(tuple(t.shape[1:]), str(t.dtype)) for t in tensors]


def input_specs(model) -> list[tuple[tuple[int | None, ...] | None, str]]:
    """(shape without batch axis, dtype) per model input; shape None when the
    model is not built yet (its first batch will build it)."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        return [(None, "float32")]
    return [(shape, dtype if dtype in ("string",) or "int" in dtype or "float" in dtype else "float32")
            for shape, dtype in _tensor_specs(inputs)]


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

    With `raw`, rows keep their decoded shape (user preprocessing shapes them).
    """
    specs = input_specs(model)
    if raw:
        specs = [(None, dtype) for _, dtype in specs]
    groups = plan_groups(schema, feature_cols, len(specs), "feature")
    feeds = []
    for group, (shape, dtype) in zip(groups, specs):
        if not group.numeric and dtype != "string":
            dtype = "string"
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


def feed_columns(*feed_lists: list[TensorFeed]) -> list[str]:
    """The distinct columns the feeds read, in order."""
    seen: dict[str, None] = {}
    for feeds in feed_lists:
        for feed in feeds:
            seen.update(dict.fromkeys(feed.group.columns))
    return list(seen)
