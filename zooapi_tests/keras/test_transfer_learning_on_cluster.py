"""zooapi.keras models on two real executor JVMs (local-cluster): the
executors' Python workers import the zooapi classes to rebuild the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zooapi.keras import Input, Model, Net, Sequential, layers
from zooapi_tests.conftest import digits_frame

pytestmark = pytest.mark.slow


def test_a_loaded_partly_frozen_model_trains_and_predicts_on_two_executors(spark_cluster, digits, tmp_path):
    x, y = digits
    keras.utils.set_random_seed(0)
    Sequential([Input((64,)), layers.Dense(32, activation="relu", name="hidden"),
                layers.Dense(10, activation="softmax", name="out")]).save(tmp_path / "mlp.keras")
    loaded = Net.load(tmp_path / "mlp.keras")
    inp = Input((64,))
    model = Model(inp, layers.Dense(10, activation="softmax", name="new_out")(loaded.new_graph("hidden")(inp)))
    model.freeze_up_to("hidden")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hidden = [w.copy() for w in loaded.get_layer("hidden").get_weights()]

    df = digits_frame(spark_cluster, x[:600], y[:600])
    model.fit(df, feature_cols="features", label_cols="label", batch_size=32, epochs=3, num_workers=2, verbose=0)

    assert all(np.array_equal(a, b) for a, b in zip(hidden, loaded.get_layer("hidden").get_weights()))
    scored = model.predict(df, feature_cols="features", num_workers=2).select("label", "prediction").collect()
    accuracy = np.mean([np.argmax(r["prediction"]) == r["label"] for r in scored])
    # A random, frozen 32-unit ReLU layer still separates digits well; the
    # trained head gets far above chance (0.1) on its training rows.
    assert accuracy > 0.6, accuracy
