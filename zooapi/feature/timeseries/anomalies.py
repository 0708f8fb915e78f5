"""Anomaly flags from prediction errors (`detect_anomalies`): the rows whose
prediction is furthest from the truth, by a fraction of the rows (overall or
per series) or an absolute threshold."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from zooapi.feature.dataframe_checks import check_column, check_fraction, check_numeric
from zooapi.feature.timeseries.series import QUANTILE_ACCURACY, series_keys

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["detect_anomalies"]

logger = logging.getLogger(__name__)


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
    cut = F.percentile_approx(error_col, 1.0 - fraction, QUANTILE_ACCURACY)
    if series_col is None:
        value = scored.agg(cut).first()[0]  # one number per DataFrame
        logger.info("detect_anomalies: errors above %s are anomalies (top %s)", value, fraction)
        limit = F.lit(value).cast("double")
    else:
        keys = series_keys(df, series_col)
        scored = scored.join(scored.groupBy(*keys).agg(cut.alias("_cut")), keys, "left")
        limit = F.col("_cut")
    flagged = scored.withColumn(anomaly_col, F.coalesce(F.col(error_col) > limit, F.lit(False)))
    return flagged.drop("_cut") if series_col is not None else flagged
