"""Checks and settings that the time-series functions share: the series key
columns (`series_col`), the time-order column (`order_col`), the one-job
check of every series' length, timestamps and nulls (`check_series`), and
the accuracy of the `percentile_approx` cuts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from zooapi.feature.dataframe_checks import check_column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["QUANTILE_ACCURACY", "check_order_column", "check_series", "series_keys"]

# Quantiles: percentile_approx's accuracy (relative error 1/accuracy of the rank).
QUANTILE_ACCURACY = 100_000


def series_keys(df: "DataFrame", series_col: str | None) -> list[str]:
    """The grouping columns of `series_col`: none for one series."""
    return [] if series_col is None else [check_column(df, series_col, "series_col")]


def check_order_column(df: "DataFrame", order_col: Any) -> str:
    """`order_col` when it names a numeric, date or timestamp column of `df`."""
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


def check_series(df: "DataFrame", order_col: str, value_cols: Sequence[str], series_col: str | None,
                 min_rows: int, need: str) -> None:
    """One Spark job: per series, its length, distinct timestamps and nulls.
    Raises a ValueError naming the first bad series (and, for a duplicated
    timestamp or a null, the timestamp)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    keys = series_keys(df, series_col)

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
