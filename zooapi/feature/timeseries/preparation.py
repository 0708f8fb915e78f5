"""Preparing time series for a model: per-series standard scaling
(`series_stats`, `standard_scale`), a time-ordered train/test split
(`split_by_time`) and calendar features (`time_features`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from zooapi.feature.dataframe_checks import check_column, check_columns, check_fraction, check_numeric
from zooapi.feature.timeseries.series import QUANTILE_ACCURACY, check_order_column, series_keys

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["series_stats", "split_by_time", "standard_scale", "time_features"]


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
    keys = series_keys(df, series_col)
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
    keys = series_keys(df, series_col)
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

    check_order_column(df, order_col)
    keys = series_keys(df, series_col)
    if at is not None:
        before = F.col(order_col) < F.lit(at)
        return df.where(before), df.where(~before)
    fraction = check_fraction("test_fraction", test_fraction)
    cuts = df.groupBy(*keys).agg(F.percentile_approx(order_col, 1.0 - fraction, QUANTILE_ACCURACY).alias("_cut"))
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
