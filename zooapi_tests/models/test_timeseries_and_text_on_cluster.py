"""Time-series windows and a text classifier on `local-cluster`: two
executor JVMs with their own Python workers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zooapi.feature.text import text_vocabulary
from zooapi.feature.timeseries import unroll
from zooapi.models import TextClassifier
from zooapi_tests.feature.test_timeseries import numpy_unroll
from zooapi_tests.models.test_text_classifier import labelled_texts

pytestmark = pytest.mark.slow


def test_many_series_unroll_on_two_executors_as_numpy_does(spark_cluster):
    rng = np.random.default_rng(3)
    series = {f"s{k}": rng.normal(size=20 + k) for k in range(6)}
    rows = [(name, t, float(v)) for name, values in series.items() for t, v in enumerate(values)]
    df = spark_cluster.createDataFrame(rows, "series string, t long, value double").repartition(4, "t")
    out = unroll(df, "value", 5, 2, order_col="t", series_col="series").toPandas()
    for name, values in series.items():
        part = out[out.series == name].sort_values("index")
        features, labels = numpy_unroll(values.astype(np.float32), 5, 2, label=values)
        np.testing.assert_array_equal(np.stack([np.stack(f) for f in part["features"]]), features)
        np.testing.assert_allclose(part["label"].to_numpy(), labels)


def test_text_classifier_trains_on_two_executors_from_a_cluster_vocabulary(spark_cluster):
    df = spark_cluster.createDataFrame(labelled_texts(400, seed=1), "id long, text string, label long").repartition(2)
    train, test = df.where("id < 320"), df.where("id >= 320")
    keras.utils.set_random_seed(0)
    model = TextClassifier(3, sequence_length=16, encoder_output_dim=16, embedding_dim=8,
                           vocabulary=text_vocabulary(train, "text", max_tokens=500))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, feature_cols="text", label_cols="label", batch_size=32, epochs=6, num_workers=2, verbose=0)
    accuracy = model.evaluate(test, feature_cols="text", label_cols="label", return_dict=True)["accuracy"]
    assert accuracy >= 0.95, accuracy
