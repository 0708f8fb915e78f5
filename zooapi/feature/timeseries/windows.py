"""Sliding windows over time series (`unroll`): the input of a sequence
model, one window per time step, computed on the cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from zooapi.feature.dataframe_checks import check_column, check_columns, check_numeric, check_positive_int
from zooapi.feature.timeseries.series import check_order_column, check_series, series_keys

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["unroll"]


def unroll(df: "DataFrame", feature_cols: str | Sequence[str], unroll_length: int, predict_step: int = 1, *,
           order_col: str, series_col: str | None = None, label_col: str | None = None) -> "DataFrame":
    """Sliding windows over a time-ordered DataFrame, computed on the cluster.

    Window `i` of a series holds the feature values of its time steps
    `i .. i + unroll_length - 1` (in `order_col` order) and, as its label,
    the value of `label_col` at step `i + unroll_length - 1 + predict_step`.
    A series of `n` rows gives `n - unroll_length - predict_step + 1`
    windows. Rows may come in any order; each series is sorted by Spark
    (with spilling), and series are windowed in parallel. Nothing is
    collected: one small Spark job checks the series first (lengths,
    duplicated timestamps, nulls), then the windows are a lazy DataFrame.

    The windows feed a model input of shape `(unroll_length,
    len(feature_cols))` as they are (zooapi's feed takes nested arrays of
    fixed lengths).

    Args:
        df: the time series, one row per time step (and series).
        feature_cols: the numeric column(s) that make each step's features.
        unroll_length: time steps per window.
        predict_step: how far after a window's last step its label lies
            (1: the next step).
        order_col: a numeric, date or timestamp column giving time order;
            unique within a series.
        series_col: a column telling series apart, or None for one series.
        label_col: the numeric column whose value is the label; default
            the first of `feature_cols`.

    Returns:
        A DataFrame of `series_col` (when given), `index` (the window's start,
        0-based within its series, long), `features`
        (`array<array<float>>`, `unroll_length` steps of
        `len(feature_cols)` values), `label` (double) and `order_col` (the
        time of the label's step).

    Raises:
        ValueError: a series shorter than `unroll_length + predict_step`, a
            duplicated or null timestamp, a null or NaN value (each naming
            the series, column and timestamp), a missing column or a bad
            length.
        TypeError: a non-numeric feature or label column, or an `order_col`
            that does not sort in time order.

    Example:
        >>> windows = unroll(df, ["value", "hour"], unroll_length=24, order_col="time",
        ...                  series_col="sensor")  # doctest: +SKIP
        >>> windows.select("sensor", "index", "label").show(3)  # doctest: +SKIP
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    columns = check_columns(df, feature_cols, "feature_cols")
    label = columns[0] if label_col is None else check_column(df, label_col, "label_col")
    check_numeric(df, columns, "feature_cols")
    check_numeric(df, [label], "label_col")
    length = check_positive_int("unroll_length", unroll_length)
    step = check_positive_int("predict_step", predict_step)
    check_order_column(df, order_col)
    keys = series_keys(df, series_col)
    span = length + step
    check_series(df, order_col, list(dict.fromkeys(columns + [label])), series_col, span,
                 f"unroll_length={length} and predict_step={step}")

    ordered = Window.partitionBy(*keys).orderBy(order_col)
    step_value = F.struct(F.col(order_col).alias("t"), F.col(label).cast("double").alias("y"),
                          F.array(*[F.col(c).cast("float") for c in columns]).alias("x"))
    windows = df.select(*keys, (F.row_number().over(ordered) - 1).cast("long").alias("index"),
                        F.collect_list(step_value).over(ordered.rowsBetween(0, span - 1)).alias("_steps"))
    last = F.element_at("_steps", span)
    return (windows.where(F.size("_steps") == span)
            .select(*keys, "index", F.transform(F.slice("_steps", 1, length), lambda s: s["x"]).alias("features"),
                    last["y"].alias("label"), last["t"].alias(order_col)))
