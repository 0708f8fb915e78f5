"""Layer state (BatchNormalization's moving statistics, counters) on several
workers, in `local[2]`."""

import keras
import numpy as np
import pytest

from zooapi import engine
from zooapi.worker.layer_state import differing, fingerprints, updated_state
from zooapi_tests.conftest import digits_frame

pytestmark = pytest.mark.slow


def digits_cnn(synchronized: bool = False, seed: int = 0, lr: float = 0.01):
    """A small CNN on 8x8 digits with batch normalisation after each layer."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Reshape((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(momentum=0.9, synchronized=synchronized, name="bn1"),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(momentum=0.9, synchronized=synchronized, name="bn2"),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ], name="cnn")
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_updated_state_is_the_moving_statistics_of_trainable_layers_only():
    model = digits_cnn()
    names = [v.path for v in updated_state(model)]
    assert names == ["cnn/bn1/moving_mean", "cnn/bn1/moving_variance", "cnn/bn2/moving_mean", "cnn/bn2/moving_variance"]
    model.layers[1].trainable = False  # the first conv and its BN frozen: nothing of them changes
    model.layers[2].trainable = False
    assert [v.path for v in updated_state(model)] == names[2:]


def test_fingerprints_name_the_weights_that_differ():
    model = digits_cnn()
    mine = fingerprints(model)
    model.layers[2].moving_mean.assign(np.ones(16))
    theirs = fingerprints(model)
    assert differing(model, np.stack([mine, mine])) == []
    assert differing(model, np.stack([mine, theirs])) == ["cnn/bn1/moving_mean"]


@pytest.fixture
def digits_split(spark, digits):
    x, y = digits
    return digits_frame(spark, x, y).randomSplit([0.8, 0.2], seed=42)


def test_batch_normalization_trains_on_two_workers_as_on_one(digits_split):
    train, test = digits_split
    held_out = {}
    for workers, synchronized in ((1, False), (2, False), (2, True)):
        model = digits_cnn(synchronized, lr=0.003)
        start = [v.numpy().copy() for v in updated_state(model)]
        history = engine.fit(model, train, "features", "label", batch_size=64, epochs=12, num_workers=workers,
                             validation_df=test, verbose=0, seed=3)
        # the workers agreed at every epoch end; the moving statistics moved, on the driver's model too
        assert all(not np.allclose(a, v.numpy()) for a, v in zip(start, updated_state(model)))
        assert engine.evaluate(model, test, "features", "label")["accuracy"] == pytest.approx(
            history.history["val_accuracy"][-1], abs=1e-6)
        # the last epochs' mean: one epoch's held-out accuracy moves by ~0.01 with BN on 1,437 rows
        held_out[workers, synchronized] = np.mean(history.history["val_accuracy"][-3:])
    assert held_out[1, False] >= 0.9
    assert held_out[2, False] >= held_out[1, False] - 0.02
    assert held_out[2, True] >= held_out[1, False] - 0.02


@keras.saving.register_keras_serializable("zooapi_tests")
class RowCounter(keras.layers.Layer):
    """Counts the rows it sees in training, from call `start` on: a layer
    state that is neither a float (so not averaged) nor the same on workers
    with different local batch sizes."""

    def __init__(self, start: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False, name="calls")
        self.rows = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False, name="rows")

    def call(self, x, training=False):
        if training:
            self.calls.assign_add(1)
            n = keras.ops.cast(keras.ops.shape(x)[0], "int64")
            self.rows.assign_add(keras.ops.where(self.calls > self.start, n, 0))
        return x

    def get_config(self):
        return {**super().get_config(), "start": self.start}


def counting_mlp(start: int):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), RowCounter(start, name="counter"),
                              keras.layers.Dense(10, activation="softmax")], name="counting")
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


def test_workers_that_diverge_are_found_at_the_first_epoch_end_and_the_consistent_weights_kept(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:400], y[:400])
    # 400 rows, global batch 33 -> local batches of 17 and 16, 13 steps per epoch:
    # the counters agree during epoch 1 and differ from the second epoch on.
    reference = counting_mlp(start=13)
    engine.fit(reference, df, "features", "label", batch_size=33, epochs=1, num_workers=2, verbose=0, seed=5)
    model = counting_mlp(start=13)
    with pytest.raises(RuntimeError) as caught:
        engine.fit(model, df, "features", "label", batch_size=33, epochs=50, num_workers=2, verbose=0, seed=5)
    message = str(caught.value)
    assert "epoch 2 with different values of 1 weight(s): counter/rows" in message
    # the driver's model holds the chief's weights of epoch 1, where the workers agreed
    for kept, expected in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(kept, expected, rtol=1e-6)
    assert int(model.get_layer("counter").rows.numpy()) == 0
