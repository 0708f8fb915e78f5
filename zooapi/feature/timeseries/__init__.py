"""Time series on Spark DataFrames: sliding windows (`unroll`), anomaly
flags from prediction errors (`detect_anomalies`), per-series standard
scaling (`series_stats`, `standard_scale`), a time-ordered split
(`split_by_time`) and calendar features (`time_features`).

Everything runs as Spark jobs on the cluster; only per-series statistics
(a few numbers per series) ever reach the driver. Many series, told apart by
`series_col`, are processed in parallel, one Spark window partition each;
Spark sorts and buffers a series with spilling to disk, so a series need
not fit in a worker's memory.

The functions live in one module per concept: `windows` (`unroll`),
`anomalies` (`detect_anomalies`), `preparation` (scaling, the split, calendar
features) and `series` (the checks they share); import them from here.

Example:
    >>> from zooapi.feature.timeseries import unroll, detect_anomalies  # doctest: +SKIP
    >>> windows = unroll(df, "value", unroll_length=24, order_col="time")  # doctest: +SKIP
    >>> scored = model.predict(windows, feature_cols="features")  # doctest: +SKIP
    >>> detect_anomalies(scored, "label", "prediction", anomaly_fraction=0.01).where("is_anomaly").show()  # doctest: +SKIP
"""

from __future__ import annotations

from zooapi.feature.timeseries.anomalies import detect_anomalies
from zooapi.feature.timeseries.preparation import series_stats, split_by_time, standard_scale, time_features
from zooapi.feature.timeseries.windows import unroll

__all__ = ["detect_anomalies", "series_stats", "split_by_time", "standard_scale", "time_features", "unroll"]
