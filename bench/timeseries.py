"""Time series anomaly detection: AnomalyDetector against two baselines, and
the speed of `unroll` and of training through zooapi.

In one run, on Spark `local[2]`:

- the UCR anomaly archive series 135_UCR_Anomaly_InternalBleeding16
  (`pip install --no-deps aeon`): scaled with the statistics of its 1,200
  anomaly-free training points, windows of `--length` steps, AnomalyDetector
  trained on the training windows, every point scored by its prediction
  error; the archive's rule: the top-scored point must lie in the labelled
  range +-100 points;
- a generated series with planted spikes, dropouts and level shifts
  (`make_anomaly_series`): precision, recall and F1 of the top 2 % of the
  points, a flag finding an anomaly when it lies within 2 points of it;
- baselines on the same windows and points: scikit-learn's IsolationForest
  on the windows (the score of a window goes to its last point) and a
  rolling z-score (the point's distance from the mean of the previous
  `--length` points, in their standard deviations);
- `unroll` windows/s (written to Spark's no-op sink), and training
  samples/s of zooapi's fit (1 worker) against `model.fit` on the same arrays.

Run: `python bench/timeseries.py` (`--epochs`, `--length`, `--unroll-rows`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import spark_session  # noqa: E402

FRACTION = 0.02
TOLERANCE = 2


def event_scores(flagged: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of flagged positions against labelled points,
    each labelled run of points being one anomaly."""
    starts = np.flatnonzero(labels & ~np.r_[False, labels[:-1]])
    ends = np.flatnonzero(labels & ~np.r_[labels[1:], False])
    ranges = list(zip(starts - TOLERANCE, ends + TOLERANCE))
    recall = np.mean([np.any((flagged >= lo) & (flagged <= hi)) for lo, hi in ranges])
    precision = np.mean([any(lo <= t <= hi for lo, hi in ranges) for t in flagged]) if len(flagged) else 0.0
    return float(precision), float(recall), float(2 * precision * recall / max(precision + recall, 1e-9))


def top(scores: np.ndarray, positions: np.ndarray, fraction: float) -> np.ndarray:
    return np.sort(positions[np.argsort(-scores)[:max(1, int(round(fraction * len(scores))))]])


def rolling_z(values: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    windows = np.lib.stride_tricks.sliding_window_view(values[:-1], length)
    z = np.abs(values[length:] - windows.mean(1)) / (windows.std(1) + 1e-6)
    return z, np.arange(length, len(values))


def isolation_forest(values: np.ndarray, length: int, train_end: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.ensemble import IsolationForest

    windows = np.lib.stride_tricks.sliding_window_view(values, length)
    fit_on = windows if train_end is None else windows[:train_end - length + 1]
    forest = IsolationForest(n_estimators=200, random_state=0).fit(fit_on)
    return -forest.score_samples(windows), np.arange(length - 1, len(values))


def detector_errors(spark, values: np.ndarray, length: int, epochs: int, train_end: int | None,
                    timings: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """AnomalyDetector's absolute error for every point after the first window."""
    import keras

    from zooapi.feature.timeseries import split_by_time, unroll
    from zooapi.models import AnomalyDetector

    df = spark.createDataFrame([(t, float(v)) for t, v in enumerate(values)], "t long, value double")
    windows = unroll(df, "value", length, order_col="t").cache()
    train = windows if train_end is None else split_by_time(windows, "t", at=train_end)[0]
    train = train.cache()
    rows = train.count()
    keras.utils.set_random_seed(0)
    model = AnomalyDetector((length, 1))
    model.compile(keras.optimizers.Adam(0.005), "mse")
    started = time.perf_counter()
    model.fit(train, feature_cols="features", label_cols="label", batch_size=64, epochs=epochs, num_workers=1,
              verbose=0)
    seconds = time.perf_counter() - started
    scored = model.predict(windows, feature_cols="features").select("t", "label", "prediction").toPandas()
    if timings is not None:
        local = train.select("features", "label").toPandas()  # the baseline's arrays (a benchmark, not the library)
        # unroll's windows are array<array<double>> (length x 1): NumPy gets one object array per row
        x = np.stack([np.stack(window) for window in local.features]).reshape(-1, length, 1).astype(np.float32)
        y = local.label.to_numpy(np.float32)
        keras.utils.set_random_seed(0)
        plain = AnomalyDetector((length, 1))
        plain.compile(keras.optimizers.Adam(0.005), "mse")
        began = time.perf_counter()
        plain.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
        timings.update(zooapi=rows * epochs / seconds, keras=rows * epochs / (time.perf_counter() - began))
    train.unpersist()
    windows.unpersist()
    scored = scored.sort_values("t")
    return np.abs(scored.label.to_numpy() - scored.prediction.to_numpy()), scored.t.to_numpy()


def unroll_speed(spark, rows: int, length: int) -> float:
    from pyspark.sql import functions as F

    from zooapi.feature.timeseries import unroll

    series = 100
    df = (spark.range(rows).withColumn("series", F.col("id") % series).withColumn("t", F.col("id") / series)
          .withColumn("value", F.sin(F.col("id") / 7.0)).cache())
    df.count()
    started = time.perf_counter()
    unroll(df, "value", length, order_col="t", series_col="series").write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - started
    df.unpersist()
    return (rows - series * length) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--unroll-rows", type=int, default=500_000)
    args = parser.parse_args()
    spark = spark_session("bench-timeseries")

    from zooapi.models.datasets import UCR_ANOMALY, load_ucr_anomaly, make_anomaly_series

    ucr = load_ucr_anomaly()
    values = ucr.value.to_numpy(np.float64)
    train_end = UCR_ANOMALY["train_end"]
    values = (values - values[:train_end].mean()) / values[:train_end].std()
    lo, hi = UCR_ANOMALY["anomaly"]
    print(f"UCR {UCR_ANOMALY['name']}: {len(values)} points, anomaly {lo}-{hi}, training on the first {train_end}")
    timings: dict = {}
    found = {}
    for name, (scores, positions) in (
            ("AnomalyDetector", detector_errors(spark, values, args.length, args.epochs, train_end, timings)),
            ("IsolationForest", isolation_forest(values, args.length, train_end)),
            ("rolling z-score", rolling_z(values, args.length))):
        best = int(positions[np.argmax(scores)])
        found[name] = lo - 100 <= best <= hi + 100
        print(f"  {name:16s} top-scored point {best}: {'found' if found[name] else 'missed'}")

    gen, labels, events = make_anomaly_series(length=2000, period=50, anomalies=12, seed=0)
    print(f"Generated: 2000 points, {len(events)} anomalies "
          f"({', '.join(sorted({k for k, _ in events}))}), top {FRACTION:.0%} flagged, tolerance {TOLERANCE}")
    f1 = {}
    for name, (scores, positions) in (
            ("AnomalyDetector", detector_errors(spark, gen.astype(np.float64), args.length, args.epochs, None)),
            ("IsolationForest", isolation_forest(gen.astype(np.float64), args.length)),
            ("rolling z-score", rolling_z(gen.astype(np.float64), args.length))):
        precision, recall, f1[name] = event_scores(top(scores, positions, FRACTION), labels)
        print(f"  {name:16s} precision {precision:.2f} recall {recall:.2f} F1 {f1[name]:.2f}")

    windows_per_s = unroll_speed(spark, args.unroll_rows, args.length)
    print(f"unroll: {windows_per_s:,.0f} windows/s ({args.unroll_rows:,} rows, 100 series, length {args.length})")
    print(f"training (UCR windows, batch 64): zooapi 1 worker {timings['zooapi']:,.0f} samples/s, "
          f"model.fit {timings['keras']:,.0f} samples/s")
    print(f"UCR found: {found['AnomalyDetector']}; generated F1 {f1['AnomalyDetector']:.2f} vs IsolationForest "
          f"{f1['IsolationForest']:.2f}, rolling z-score {f1['rolling z-score']:.2f}; "
          f"training ratio zooapi/model.fit {timings['zooapi'] / timings['keras']:.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
