"""AnomalyDetector trained through zooapi on a generated series finds the
anomalies planted in it (`local[2]`)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zooapi.feature.timeseries import detect_anomalies, unroll
from zooapi.models import AnomalyDetector
from zooapi.models.datasets import make_anomaly_series

pytestmark = pytest.mark.both_sessions

LENGTH = 12


def series_frame(spark, values: np.ndarray, series: str = "s"):
    return spark.createDataFrame([(series, t, float(v)) for t, v in enumerate(values)],
                                 "series string, t long, value double")


def found_events(flagged_times, events, tolerance: int = 2) -> tuple[float, float]:
    """(recall of the events, precision of the flags): a flag within
    `tolerance` steps of an event's range (a dropout's 5 points, else its
    first) finds it."""
    ranges = [(start - tolerance, start + (4 if kind == "dropout" else 0) + tolerance) for kind, start in events]
    hit = [any(lo <= t <= hi for t in flagged_times) for lo, hi in ranges]
    good = [any(lo <= t <= hi for lo, hi in ranges) for t in flagged_times]
    return float(np.mean(hit)), float(np.mean(good))


def test_the_model_is_stacked_lstms_with_dropout_and_checks_its_arguments():
    model = AnomalyDetector((24, 3))
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer"] + ["LSTM", "Dropout"] * 3 + ["Dense"]
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [8, 32, 15, 1]
    assert model.input_shape == (None, 24, 3) and model.output_shape == (None, 1)
    with pytest.raises(ValueError, match=r"expected 2 rates in \[0, 1\), one per hidden layer. "
                                         r"Received: dropouts=\(0.2,\)"):
        AnomalyDetector((24, 1), hidden_layers=(4, 4), dropouts=(0.2,))
    with pytest.raises(ValueError, match=r"expected 2 positive integers. Received: feature_shape=\(24,\)"):
        AnomalyDetector((24,))


@pytest.mark.slow
def test_trained_detector_finds_the_planted_spikes_dropouts_and_level_shifts(spark):
    values, _, events = make_anomaly_series(length=800, period=24, anomalies=6, seed=0)
    # unroll's windows (array<array<double>>, LENGTH steps of 1 value) feed the (LENGTH, 1) input as they are.
    windows = unroll(series_frame(spark, values), "value", LENGTH, order_col="t", series_col="series").cache()
    keras.utils.set_random_seed(0)
    model = AnomalyDetector((LENGTH, 1), hidden_layers=(16,), dropouts=(0.0,))
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(windows, feature_cols="features", label_cols="label", batch_size=32, epochs=10, num_workers=2,
              verbose=0)
    scored = model.predict(windows, feature_cols="features")
    flagged = detect_anomalies(scored, "label", "prediction", anomaly_fraction=0.02)
    times = sorted(r.t for r in flagged.where("is_anomaly").select("t").collect())
    recall, precision = found_events(times, events)
    # 2 % of 788 windows is 16 flags for 6 events: every event has a flag, and
    # most flags are on an event (the steps right after one are hard to predict too).
    assert recall == 1.0, (times, events)
    assert precision >= 0.6, (times, events)
    windows.unpersist()
