"""zooapi.feature.timeseries on `local[2]`: windows against a NumPy
reference, anomaly flags, scaling, the time split, calendar features, and
the errors for bad series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from zooapi.feature.timeseries import (
    detect_anomalies,
    series_stats,
    split_by_time,
    standard_scale,
    time_features,
    unroll,
)


def numpy_unroll(values: np.ndarray, length: int, step: int, label: np.ndarray | None = None):
    """The reference: window i is values[i : i + length], its label the value
    `step` after the window's last step."""
    values = values.reshape(len(values), -1)
    label = values[:, 0] if label is None else label
    count = len(values) - length - step + 1
    return (np.stack([values[i:i + length] for i in range(count)]),
            np.array([label[i + length - 1 + step] for i in range(count)]))


def test_unroll_matches_numpy_on_5_to_104_with_length_3_and_step_2(spark):
    rows = [(t, float(v)) for t, v in enumerate(range(5, 105))]
    df = spark.createDataFrame(rows[::-1], "t long, value double").repartition(3)  # any row order
    out = unroll(df, "value", 3, 2, order_col="t").orderBy("index").toPandas()
    features, labels = numpy_unroll(np.arange(5, 105, dtype=np.float64), 3, 2)
    assert len(out) == 96 and features.shape == (96, 3, 1)
    assert out["index"].tolist() == list(range(96))
    assert out["label"].tolist() == list(range(9, 105))
    np.testing.assert_array_equal(np.stack([np.stack(f) for f in out["features"]]), features)
    # Every step of the window is kept, not only the last one (Analytics Zoo's Python unroll).
    assert out["features"][0].tolist() == [[5.0], [6.0], [7.0]]
    assert out["t"].tolist() == list(range(4, 100))  # the label's time


def test_unroll_windows_several_series_with_several_features_in_parallel(spark):
    rng = np.random.default_rng(0)
    lengths = {"a": 30, "b": 17, "c": 9}
    rows, data = [], {}
    for name, n in lengths.items():
        x = rng.normal(size=(n, 2)).astype(np.float32)
        y = rng.normal(size=n)
        data[name] = (x, y)
        rows += [(name, dt.datetime(2024, 1, 1) + dt.timedelta(hours=i), float(x[i, 0]), float(x[i, 1]), float(y[i]))
                 for i in range(n)]
    rng.shuffle(rows)
    df = spark.createDataFrame(rows, "sensor string, time timestamp, a double, b double, y double").repartition(4)
    out = unroll(df, ["a", "b"], 4, order_col="time", series_col="sensor", label_col="y").toPandas()
    for name, (x, y) in data.items():
        part = out[out.sensor == name].sort_values("index")
        features, labels = numpy_unroll(x, 4, 1, label=y)
        assert part["index"].tolist() == list(range(len(labels)))
        np.testing.assert_array_equal(np.stack([np.stack(f) for f in part["features"]]), features)
        np.testing.assert_allclose(part["label"].to_numpy(), labels)


def test_unroll_refuses_bad_series_naming_the_series_column_and_value(spark):
    def frame(rows):
        return spark.createDataFrame(rows, "s string, t long, v double")

    good = [("a", t, float(t)) for t in range(10)]
    with pytest.raises(ValueError, match=r"^Series 'b' of column 's' has 4 rows; unroll_length=5 and "
                                         r"predict_step=1 need at least 6\."):
        unroll(frame(good + [("b", t, 1.0) for t in range(4)]), "v", 5, order_col="t", series_col="s")
    with pytest.raises(ValueError, match=r"^Series 'a' of column 's' has duplicated timestamps in column 't' "
                                         r"\(`order_col`\): 3 appears 2 times"):
        unroll(frame(good + [("a", 3, 9.0)]), "v", 2, order_col="t", series_col="s")
    with pytest.raises(ValueError, match=r"^Column 'v' has 1 null or NaN values in series 'a' of column 's', "
                                         r"the first at t=7"):
        unroll(frame([r if r[1] != 7 else ("a", 7, None) for r in good]), "v", 2, order_col="t", series_col="s")
    with pytest.raises(ValueError, match=r"^The series has 2 null timestamps in column 't'"):
        unroll(frame(good + [("a", None, 1.0), ("a", None, 2.0)]), "v", 2, order_col="t")
    with pytest.raises(TypeError, match=r"^Column 'when' \(`order_col`\) has Spark type string; expected a "
                                        r"numeric, date or timestamp column"):
        unroll(spark.createDataFrame([("2024-1-9", 1.0)], "when string, v double"), "v", 1, order_col="when")
    with pytest.raises(TypeError, match=r"^Column 's' \(`feature_cols`\) has Spark type string; expected a numeric"):
        unroll(frame(good), ["v", "s"], 2, order_col="t")
    with pytest.raises(ValueError, match=r"^Column 'x' \(`feature_cols`\) is not in the DataFrame"):
        unroll(frame(good), "x", 2, order_col="t")
    with pytest.raises(ValueError, match=r"expected an integer >= 1. Received: unroll_length=0"):
        unroll(frame(good), "v", 0, order_col="t")


def test_detect_anomalies_flags_the_top_fraction_or_errors_above_a_threshold(spark):
    rng = np.random.default_rng(1)
    errors = rng.permutation(1000).astype(float)  # distinct errors 0..999
    rows = [(i, float(e), 0.0, "a" if i % 2 else "b") for i, e in enumerate(errors)]
    df = spark.createDataFrame(rows, "i long, truth double, prediction double, s string")
    flagged = detect_anomalies(df, "truth", "prediction", anomaly_fraction=0.01).toPandas()
    assert sorted(flagged[flagged.is_anomaly].error) == list(range(990, 1000))  # 1 % (a fraction, not a percent)
    by_series = detect_anomalies(df, "truth", anomaly_fraction=0.02, series_col="s").toPandas()
    for _, part in by_series.groupby("s"):
        assert part.is_anomaly.sum() == 10 and part[part.is_anomaly].error.min() > part[~part.is_anomaly].error.max()
    above = detect_anomalies(df.selectExpr("truth", "array(cast(prediction as float)) as p"), "truth", "p",
                             threshold=994.5).toPandas()
    assert sorted(above[above.is_anomaly].error) == [995, 996, 997, 998, 999]
    with pytest.raises(ValueError, match=r"expected a fraction strictly between 0 and 1 \(not a percent\). "
                                         r"Received: anomaly_fraction=5"):
        detect_anomalies(df, "truth", anomaly_fraction=5)
    with pytest.raises(ValueError, match=r"^Give exactly one of `anomaly_fraction` and `threshold`"):
        detect_anomalies(df, "truth", anomaly_fraction=0.1, threshold=2.0)
    with pytest.raises(TypeError, match=r"^Column 's' \(`prediction_col`\) has Spark type string"):
        detect_anomalies(df, "truth", "s", threshold=1.0)


def test_scaling_split_and_time_features(spark):
    start = dt.datetime(2024, 1, 5, 22)  # a Friday, 22:00
    rows = [(s, start + dt.timedelta(hours=i), float(i) * (10 if s == "big" else 1) + (100 if s == "big" else 0))
            for s in ("big", "small") for i in range(50)]
    df = spark.createDataFrame(rows, "s string, time timestamp, v double")
    train, test = split_by_time(df, "time", 0.2, series_col="s")
    train_pd, test_pd = train.toPandas(), test.toPandas()
    for s in ("big", "small"):
        assert len(train_pd[train_pd.s == s]) == 40 and len(test_pd[test_pd.s == s]) == 10
        assert train_pd[train_pd.s == s].time.max() < test_pd[test_pd.s == s].time.min()
    early, late = split_by_time(df, "time", at=start + dt.timedelta(hours=5))
    assert early.count() == 10 and late.count() == 90

    scaled = standard_scale(df, "v", series_stats(train, "v", series_col="s"), series_col="s").toPandas()
    for s in ("big", "small"):
        fit = train_pd[train_pd.s == s].v
        part = scaled[scaled.s == s].sort_values("time").v.to_numpy()
        raw = df.toPandas().query("s == @s").sort_values("time").v.to_numpy()
        np.testing.assert_allclose(part, (raw - fit.mean()) / fit.std(ddof=1))

    cal = time_features(df.where("s = 'small'"), "time").orderBy("time").toPandas()
    assert cal.hour.tolist()[:4] == [22, 23, 0, 1]
    assert cal.day_of_week.tolist()[:4] == [4, 4, 5, 5]  # Friday, Friday, Saturday, Saturday
    assert cal.is_weekend.tolist()[:4] == [0, 0, 1, 1]
    with pytest.raises(TypeError, match=r"^Column 'v' \(`timestamp_col`\) has Spark type double; expected a "
                                        r"timestamp or date"):
        time_features(df, "v")
