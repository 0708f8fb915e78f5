"""Transfer learning end to end: a CNN trained on digits 0-4 is saved,
loaded with Net.load, cut with new_graph, frozen with freeze_up_to, given a
new head and trained on digits 5-9 from a DataFrame on 2 workers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zooapi.keras import Input, Model, Net, layers

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]


def split_digits(digits):
    """Digits 0-4 for the base model; digits 5-9 (relabelled 0-4) split
    80/20 for the transfer task."""
    x, y = digits
    x = x.reshape(-1, 8, 8, 1)
    rng = np.random.default_rng(0)
    low, high = np.flatnonzero(y < 5), rng.permutation(np.flatnonzero(y >= 5))
    cut = int(0.8 * len(high))
    return (x[low], y[low]), (x[high[:cut]], y[high[:cut]] - 5), (x[high[cut:]], y[high[cut:]] - 5)


def frame(spark, x, y):
    rows = [(row.reshape(-1).tolist(), int(label)) for row, label in zip(x, y)]
    return spark.createDataFrame(rows, "features array<float>, label long")


def base_cnn() -> Model:
    keras.utils.set_random_seed(0)
    inp = Input((8, 8, 1), name="pixels")
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    h = layers.Conv2D(32, 3, activation="relu", name="conv2")(h)
    h = layers.Dense(32, activation="relu", name="fc")(layers.Flatten(name="flatten")(h))
    model = Model(inp, layers.Dense(5, activation="softmax", name="digits_0_4")(h), name="cnn")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_transfer_learning_keeps_frozen_weights_bit_identical_after_a_distributed_fit(spark, digits, tmp_path):
    (x_base, y_base), (x_train, y_train), (x_test, y_test) = split_digits(digits)
    cnn = base_cnn()
    cnn.fit(x_base, y_base, batch_size=32, epochs=8, verbose=0)
    cnn.save(tmp_path / "cnn.keras")

    loaded = Net.load(str(tmp_path / "cnn.keras"))
    base = loaded.new_graph("fc", name="features")
    # Cutting leaves the loaded model whole (until training changes the layers it shares).
    np.testing.assert_allclose(loaded.predict(x_base[:50], verbose=0), cnn.predict(x_base[:50], verbose=0), atol=1e-6)
    inp = Input((8, 8, 1), name="pixels")
    model = Model(inp, layers.Dense(5, activation="softmax", name="head")(base(inp)), name="transfer")
    model.freeze_up_to("conv2")  # reaches conv1 and conv2 inside `features`; fc and head still train
    assert {layer.name: layer.trainable for layer in model.flattened_layers()} == {
        "conv1": False, "conv2": False, "flatten": True, "fc": True, "head": True}
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])

    def weights(name):
        return [w.copy() for w in model.get_layer("features").get_layer(name).get_weights()] if name != "head" \
            else [w.copy() for w in model.get_layer("head").get_weights()]

    before = {name: weights(name) for name in ("conv1", "conv2", "fc", "head")}
    history = model.fit(frame(spark, x_train, y_train), feature_cols="features", label_cols="label",
                        batch_size=32, epochs=6, num_workers=2, verbose=0, seed=1)
    assert len(history.history["loss"]) == 6

    for name in ("conv1", "conv2"):
        assert all(np.array_equal(a, b) for a, b in zip(before[name], weights(name))), name
    for name in ("fc", "head"):
        assert not any(np.array_equal(a, b) for a, b in zip(before[name], weights(name))), name

    loss, accuracy = model.evaluate(frame(spark, x_test, y_test), feature_cols="features", label_cols="label")
    # Five classes: chance is 0.2. With plain Keras on the same split, seeds
    # 0-4 gave 0.98-0.99 (0.96-0.98 with the head alone trainable): the conv
    # features learned on digits 0-4 carry over. 0.9 is 4.5 times chance and
    # 0.06 below the worst seen, room for the distributed run's other order.
    assert accuracy >= 0.9, accuracy
    # The engine's evaluation is exact: Keras on the same rows agrees.
    assert accuracy == pytest.approx(model.evaluate(x_test, y_test, verbose=0)[1], abs=1e-6)

    model.save(tmp_path / "transfer.keras")
    again = Net.load(str(tmp_path / "transfer.keras"))
    assert isinstance(again, Model)
    assert [layer.trainable for layer in again.flattened_layers()] == [False, False, True, True, True]
    np.testing.assert_allclose(again.predict(x_test, verbose=0), model.predict(x_test, verbose=0), atol=1e-6)
