"""Time series on Spark DataFrames: sliding windows (`unroll`), anomaly
flags from prediction errors (`detect_anomalies`), per-series standard
scaling (`series_stats`, `standard_scale`), a time-ordered split
(`split_by_time`) and calendar features (`time_features`).

Everything runs as Spark jobs on the cluster; only per-series statistics
(a few numbers per series) ever reach the driver. Many series, told apart by
`series_col`, are processed in parallel, one Spark window partition each;
Spark sorts and buffers a series with spilling to disk, so a series need
not fit in a worker's memory.

Example:
    >>> from zooapi.feature.timeseries import unroll, detect_anomalies  # doctest: +SKIP
    >>> windows = unroll(df, "value", unroll_length=24, order_col="time")  # doctest: +SKIP
    >>> scored = model.predict(windows, feature_cols="features")  # doctest: +SKIP
    >>> detect_anomalies(scored, "label", "prediction", anomaly_fraction=0.01).where("is_anomaly").show()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

from zooapi.feature.dataframe_checks import (
    check_column,
    check_columns,
    check_fraction,
    check_numeric,
    check_positive_int,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["detect_anomalies", "series_stats", "split_by_time", "standard_scale", "time_features", "unroll"]

logger = logging.getLogger(__name__)

# Quantiles: percentile_approx's accuracy (relative error 1/accuracy of the rank).
_QUANTILE_ACCURACY = 100_000


def _series_keys(df: "DataFrame", series_col: str | None) -> list[str]:
    return [] if series_col is None else [check_column(df, series_col, "series_col")]


def _check_order_column(df: "DataFrame", order_col: Any) -> str:
    from pyspark.sql import types as T

    check_column(df, order_col, "order_col")
    dtype = df.schema[order_col].dataType
    if not isinstance(dtype, (T.NumericType, T.DateType, T.TimestampType, T.TimestampNTZType)):
        raise TypeError(f"Column '{order_col}' (`order_col`) has Spark type {dtype.simpleString()}; expected a "
                        "numeric, date or timestamp column whose order is time order (convert strings with "
                        "pyspark.sql.functions.to_timestamp).")
    return order_col


def _series_name(series_col: str | None, row: Any) -> str:
    return "The series" if series_col is None else f"Series {row[series_col]!r} of column '{series_col}'"


def _check_series(df: "DataFrame", order_col: str, value_cols: Sequence[str], series_col: str | None,
                  min_rows: int, need: str) -> None:
    """One Spark job: per series, its length, distinct timestamps and nulls.
    Raises a ValueError naming the first bad series (and, for a duplicated
    timestamp or a null, the timestamp)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    keys = _series_keys(df, series_col)

    def missing(name: str) -> "Column":
        bad = F.col(name).isNull()
        if isinstance(df.schema[name].dataType, (T.FloatType, T.DoubleType)):
            bad = bad | F.isnan(name)
        return F.sum(bad.cast("long"))

    stats = df.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("_rows"), F.count_distinct(order_col).alias("_distinct"),
        missing(order_col).alias("_null_order"),
        *[missing(c).alias(f"_null_{i}") for i, c in enumerate(value_cols)])
    nulls = [F.col(f"_null_{i}") > 0 for i in range(len(value_cols))]
    bad = stats.where((F.col("_rows") < min_rows) | (F.col("_null_order") > 0)
                      | (F.col("_distinct") < F.col("_rows")) | _any(nulls)).limit(1).collect()
    if not bad:
        return
    row = bad[0]
    where = df if series_col is None else df.where(F.col(series_col).eqNullSafe(row[series_col]))
    name = _series_name(series_col, row)
    if row["_null_order"] > 0:
        raise ValueError(f"{name} has {row['_null_order']} null timestamps in column '{order_col}' "
                         "(`order_col`); every row needs its time.")
    if row["_distinct"] < row["_rows"]:
        dup = where.groupBy(order_col).count().where("count > 1").orderBy(order_col).first()
        raise ValueError(f"{name} has duplicated timestamps in column '{order_col}' (`order_col`): "
                         f"{dup[order_col]!r} appears {dup['count']} times; each time step must be one row "
                         "(aggregate the duplicates first).")
    for i, column in enumerate(value_cols):
        if row[f"_null_{i}"] > 0:
            first = where.where(F.col(column).isNull() | (F.isnan(column) if isinstance(
                df.schema[column].dataType, (T.FloatType, T.DoubleType)) else F.lit(False))) \
                .agg(F.min(order_col)).first()[0]
            raise ValueError(f"Column '{column}' has {row[f'_null_{i}']} null or NaN values in "
                             f"{name[0].lower() + name[1:]}, the first at {order_col}={first!r}; "
                             "fill or drop them before windowing.")
    raise ValueError(f"{name} has {row['_rows']} rows; {need} need at least {min_rows}.")


def _any(conditions: list["Column"]) -> "Column":
    from pyspark.sql import functions as F

    out = F.lit(False)
    for condition in conditions:
        out = out | condition
    return out


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
    _check_order_column(df, order_col)
    keys = _series_keys(df, series_col)
    span = length + step
    _check_series(df, order_col, list(dict.fromkeys(columns + [label])), series_col, span,
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


def detect_anomalies(df: "DataFrame", truth_col: str, prediction_col: str = "prediction",
                     anomaly_fraction: float | None = None, threshold: float | None = None, *,
                     series_col: str | None = None, error_col: str = "error",
                     anomaly_col: str = "is_anomaly") -> "DataFrame":
    """Flags the rows whose prediction is furthest from the truth.

    The error is `abs(truth - prediction)`. With `anomaly_fraction`, the
    rows whose error is in the top fraction (of all rows, or of each series
    with `series_col`) are anomalies: Spark's `percentile_approx` gives the
    cut, so about `anomaly_fraction * rows` rows are flagged (ties at the cut
    are all flagged). With `threshold`, the rows whose error is above it.
    Rows with a null truth or prediction get a null error and are not flagged.

    Args:
        df: scored rows (e.g. `model.predict(windows, ...)` output).
        truth_col: the numeric column of true values.
        prediction_col: the predicted values: numeric, or an array whose
            first element is the prediction (a one-unit model output).
        anomaly_fraction: a fraction in (0, 1) (0.01 flags 1 % of the rows;
            not a percent).
        threshold: an absolute error above which a row is an anomaly.
        series_col: with `anomaly_fraction`, the column telling series
            apart: each series gets its own cut.
        error_col: the name of the added error column (double).
        anomaly_col: the name of the added flag column (boolean).

    Returns:
        `df` with `error_col` and `anomaly_col` added.

    Raises:
        ValueError: neither or both of `anomaly_fraction` and `threshold`, a
            fraction outside (0, 1), a negative threshold, a missing column.
        TypeError: a non-numeric truth or prediction column.

    Example:
        >>> flagged = detect_anomalies(scored, "label", "prediction", anomaly_fraction=0.005)  # doctest: +SKIP
        >>> flagged.where("is_anomaly").select("time", "label", "prediction", "error").show()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    check_column(df, truth_col, "truth_col")
    check_numeric(df, [truth_col], "truth_col")
    check_column(df, prediction_col, "prediction_col")
    if (anomaly_fraction is None) == (threshold is None):
        raise ValueError("Give exactly one of `anomaly_fraction` and `threshold`. Received: "
                         f"anomaly_fraction={anomaly_fraction!r}, threshold={threshold!r}")
    dtype = df.schema[prediction_col].dataType
    if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.NumericType):
        prediction = F.element_at(prediction_col, 1)
    elif isinstance(dtype, T.NumericType):
        prediction = F.col(prediction_col)
    else:
        raise TypeError(f"Column '{prediction_col}' (`prediction_col`) has Spark type {dtype.simpleString()}; "
                        "expected a numeric column or an array of numbers.")
    scored = df.withColumn(error_col, F.abs(F.col(truth_col).cast("double") - prediction.cast("double")))
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
            raise ValueError(f"Received an invalid value for `threshold`, expected a non-negative number. "
                             f"Received: threshold={threshold!r}")
        return scored.withColumn(anomaly_col, F.coalesce(F.col(error_col) > float(threshold), F.lit(False)))
    fraction = check_fraction("anomaly_fraction", anomaly_fraction)
    cut = F.percentile_approx(error_col, 1.0 - fraction, _QUANTILE_ACCURACY)
    if series_col is None:
        value = scored.agg(cut).first()[0]  # one number per DataFrame
        logger.info("detect_anomalies: errors above %s are anomalies (top %s)", value, fraction)
        limit = F.lit(value).cast("double")
    else:
        keys = _series_keys(df, series_col)
        scored = scored.join(scored.groupBy(*keys).agg(cut.alias("_cut")), keys, "left")
        limit = F.col("_cut")
    flagged = scored.withColumn(anomaly_col, F.coalesce(F.col(error_col) > limit, F.lit(False)))
    return flagged.drop("_cut") if series_col is not None else flagged


def series_stats(df: "DataFrame", cols: str | Sequence[str], series_col: str | None = None) -> "DataFrame":
    """The mean and standard deviation of `cols`, per series: fit a scaling
    on the training rows only, then apply it with `standard_scale`.

    Spark's `StandardScaler` scales one vector column over all rows; series
    of different levels need one scaling each, hence this helper. The
    deviation is the sample one (n - 1), as `StandardScaler` uses.

    Args:
        df: the rows to fit on.
        cols: the numeric column(s).
        series_col: the column telling series apart, or None for one series.

    Returns:
        A small DataFrame: `series_col` (when given), `<col>_mean` and
        `<col>_std` for each column.

    Example:
        >>> stats = series_stats(train, "value", series_col="sensor")  # doctest: +SKIP
        >>> train, test = standard_scale(train, "value", stats, "sensor"), standard_scale(test, "value", stats, "sensor")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    columns = check_columns(df, cols, "cols")
    check_numeric(df, columns, "cols")
    keys = _series_keys(df, series_col)
    return df.groupBy(*keys).agg(*[f for c in columns for f in (
        F.mean(c).alias(f"{c}_mean"), F.stddev_samp(c).alias(f"{c}_std"))])


def standard_scale(df: "DataFrame", cols: str | Sequence[str], stats: "DataFrame",
                   series_col: str | None = None) -> "DataFrame":
    """`cols` replaced by `(value - mean) / std` of their series, from
    `series_stats`. A constant column (std 0 or undefined) becomes 0.
    Rows of a series that `stats` does not know are dropped (an inner join).

    Args:
        df: the rows to scale.
        cols: the numeric column(s), as given to `series_stats`.
        stats: the output of `series_stats`.
        series_col: as given to `series_stats`.

    Returns:
        `df` with `cols` scaled (double).

    Raises:
        ValueError: `stats` lacks a column's statistics.

    Example:
        >>> scaled = standard_scale(df, "value", series_stats(train, "value"))  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    columns = check_columns(df, cols, "cols")
    check_numeric(df, columns, "cols")
    for c in columns:
        if f"{c}_mean" not in stats.columns or f"{c}_std" not in stats.columns:
            raise ValueError(f"`stats` has no statistics for column '{c}' (expected columns '{c}_mean' and "
                             f"'{c}_std' from series_stats). Its columns are: {', '.join(stats.columns)}.")
    keys = _series_keys(df, series_col)
    joined = df.join(F.broadcast(stats), keys, "inner") if keys else df.crossJoin(F.broadcast(stats))
    for c in columns:
        std = F.col(f"{c}_std")
        scale = F.when(std.isNull() | (std == 0), F.lit(None)).otherwise(std)
        joined = joined.withColumn(c, F.coalesce((F.col(c) - F.col(f"{c}_mean")) / scale, F.lit(0.0)))
    return joined.select(*df.columns)


def split_by_time(df: "DataFrame", order_col: str, test_fraction: float = 0.2, *, at: Any = None,
                  series_col: str | None = None) -> tuple["DataFrame", "DataFrame"]:
    """A time-ordered train/test split: the earlier rows train, the later test.

    Args:
        df: the time series.
        order_col: the numeric, date or timestamp column giving time order.
        test_fraction: the fraction of each series' rows (by time, through
            `percentile_approx`) that goes to the test part.
        at: instead of a fraction, a value of `order_col`: rows before it
            train, rows at or after it test.
        series_col: the column telling series apart: each series is cut at
            its own time.

    Returns:
        (train, test) DataFrames.

    Example:
        >>> train, test = split_by_time(df, "time", 0.2, series_col="sensor")  # doctest: +SKIP
        >>> train, test = split_by_time(df, "t", at=1200)  # the UCR archive's training prefix  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    _check_order_column(df, order_col)
    keys = _series_keys(df, series_col)
    if at is not None:
        before = F.col(order_col) < F.lit(at)
        return df.where(before), df.where(~before)
    fraction = check_fraction("test_fraction", test_fraction)
    cuts = df.groupBy(*keys).agg(F.percentile_approx(order_col, 1.0 - fraction, _QUANTILE_ACCURACY).alias("_cut"))
    joined = df.join(F.broadcast(cuts), keys, "inner") if keys else df.crossJoin(F.broadcast(cuts))
    before = F.col(order_col) <= F.col("_cut")  # the cut is the last training time
    return joined.where(before).drop("_cut"), joined.where(~before).drop("_cut")


def time_features(df: "DataFrame", timestamp_col: str) -> "DataFrame":
    """Calendar features from a timestamp: `hour` (0-23), `day_of_week`
    (0 Monday .. 6 Sunday, as pandas counts) and `is_weekend` (1 on Saturday
    and Sunday, else 0), all integers, added to `df`.

    Args:
        df: rows with a time.
        timestamp_col: a timestamp or date column (a date gives hour 0).

    Returns:
        `df` with the three columns added (replacing columns of those names).

    Raises:
        TypeError: `timestamp_col` is not a timestamp or date.

    Example:
        >>> time_features(taxi, "timestamp").select("timestamp", "hour", "day_of_week", "is_weekend").show(3)  # doctest: +SKIP
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    check_column(df, timestamp_col, "timestamp_col")
    dtype = df.schema[timestamp_col].dataType
    if not isinstance(dtype, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        raise TypeError(f"Column '{timestamp_col}' (`timestamp_col`) has Spark type {dtype.simpleString()}; "
                        "expected a timestamp or date (convert with pyspark.sql.functions.to_timestamp).")
    day = (F.dayofweek(timestamp_col) + 5) % 7  # Spark: 1 Sunday .. 7 Saturday
    return (df.withColumn("hour", F.hour(F.col(timestamp_col).cast("timestamp")).cast("int"))
            .withColumn("day_of_week", day.cast("int"))
            .withColumn("is_weekend", (day >= 5).cast("int")))
