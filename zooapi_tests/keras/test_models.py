"""zooapi.keras.Model / Sequential are Keras models: construction,
subclassing, serialization, and Keras' own fit/evaluate/predict on NumPy
and tf.data (no Spark)."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

import zooapi.keras as zk
from zooapi.keras import Input, Model, Sequential, layers
from zooapi.keras.models import Functional, as_zooapi_model


def data(rows: int = 64):
    rng = np.random.default_rng(0)
    x = rng.random((rows, 6), dtype=np.float32)
    return x, (x.sum(axis=1) > 3).astype(np.int64)


def seq(cls=Sequential):
    keras.utils.set_random_seed(0)
    model = cls([Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_public_names():
    assert zk.__all__ == ["Input", "LivePlot", "Model", "Net", "Sequential", "layers", "predicted_class"]
    assert zk.Input is keras.Input and zk.layers is keras.layers
    from zooapi.nnframes import predicted_class

    assert zk.predicted_class is predicted_class


def test_importing_zooapi_keras_loads_neither_keras_nor_spark():
    code = ("import sys, zooapi.keras; print('keras' in sys.modules, 'pyspark' in sys.modules); "
            "from zooapi.keras import Model; print('pyspark' in sys.modules, 'zooapi.engine' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False", "False"]


def test_model_is_a_keras_model_built_functionally_or_subclassed():
    inp = Input((6,))
    functional = Model(inp, layers.Dense(2)(inp), name="f")
    assert isinstance(functional, (Model, keras.Model, Functional)) and type(functional) is Functional
    assert isinstance(Sequential([layers.Dense(2)]), (Model, keras.Sequential))

    # Keras rewrites the bases of a Model subclass built functionally; ours must
    # not turn zooapi's Model itself functional-only for later subclasses.
    class Custom(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    custom = Custom()
    assert custom(np.ones((2, 6), np.float32)).shape == (2, 3)
    from zooapi.keras.control import TrainingControlMethods

    assert Model.__bases__ == (keras.Model, TrainingControlMethods)  # a subclass never rewires Model itself

    class WithInit(Model):  # a subclass that builds itself from inputs/outputs
        def __init__(self):
            i = Input((6,))
            super().__init__(i, layers.Dense(2)(i))

    assert WithInit().output_shape == (None, 2)
    from zooapi.keras.control import TrainingControlMethods

    assert Model.__bases__ == (keras.Model, TrainingControlMethods)  # a subclass never rewires Model itself


def test_summary_and_weights_are_keras_own():
    ours, theirs = seq(), seq(keras.Sequential)
    lines = []
    ours.summary(print_fn=lambda line, **_: lines.append(line))
    assert "Total params: 74" in "".join(lines)  # 6*8+8 + 8*2+2
    theirs.set_weights(ours.get_weights())
    ours.set_weights([w * 0 for w in ours.get_weights()])
    assert all(not w.any() for w in ours.get_weights())


def test_save_and_load_with_keras_gives_back_zooapi_models(tmp_path):
    x, y = data()
    for model in (seq(), as_zooapi_model(seq(keras.Sequential))):
        model.fit(x, y, epochs=1, verbose=0)
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert type(loaded) is type(model)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
        assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    inp = Input((6,))
    functional = Model(inp, layers.Dense(2)(inp))
    functional.save(tmp_path / "f.keras")
    assert type(keras.models.load_model(tmp_path / "f.keras")) is Functional


def test_numpy_and_tf_data_train_exactly_like_keras():
    import tensorflow as tf

    x, y = data()
    ours, theirs = seq(), seq(keras.Sequential)
    np.testing.assert_array_equal(ours.get_weights()[0], theirs.get_weights()[0])
    h1 = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_data=(x[:8], y[:8]))
    h2 = theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_data=(x[:8], y[:8]))
    assert "val_accuracy" in h1.history
    assert h1.history == h2.history
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert ours.evaluate(x, y, verbose=0) == theirs.evaluate(x, y, verbose=0)
    assert ours.evaluate(x, y, verbose=0, return_dict=True) == theirs.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_array_equal(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = ours.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert set(history.history) == {"loss", "accuracy"}
    assert ours.predict(dataset, verbose=0).shape == (64, 2)


def test_dataframe_only_arguments_are_refused_for_numpy_input():
    x, y = data()
    model = seq()
    with pytest.raises(TypeError, match=r"`feature_cols` applies only when `x` is a Spark DataFrame; "
                                        r"received x of type ndarray"):
        model.fit(x, y, feature_cols="features")
    with pytest.raises(TypeError, match=r"`num_workers` applies only when `x` is a Spark DataFrame"):
        model.evaluate(x, y, num_workers=2)
    with pytest.raises(TypeError, match=r"`prediction_col` applies only when `x` is a Spark DataFrame"):
        model.predict(x, prediction_col="p")


def test_as_zooapi_model_shares_layers_and_keeps_the_compile_state():
    x, y = data()
    keras.utils.set_random_seed(0)
    inp = Input((6,))
    plain = keras.Model(inp, layers.Dense(2, activation="softmax", name="out")(layers.Dense(4, name="h")(inp)),
                        name="plain")
    plain.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    plain.fit(x, y, epochs=1, verbose=0)
    converted = as_zooapi_model(plain)
    assert type(converted) is Functional and converted.name == "plain"
    assert converted.get_layer("h") is plain.get_layer("h")
    assert converted.optimizer is plain.optimizer and converted.loss == "sparse_categorical_crossentropy"
    assert converted.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0))

    plain_seq = seq(keras.Sequential)
    converted_seq = as_zooapi_model(plain_seq)
    assert type(converted_seq) is Sequential and converted_seq.layers == plain_seq.layers
    assert converted_seq.input_shape == (None, 6)


def test_a_built_subclassed_keras_model_is_wrapped_and_an_unbuilt_one_refused():
    class Doubler(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2, name="inner")

        def call(self, x):
            return 2.0 * self.dense(x)

    with pytest.raises(TypeError, match=r"Expected a functional or Sequential Keras model, or a built subclassed "
                                        r"model with one input; received a Doubler \('d'\) with input shape None"):
        as_zooapi_model(Doubler(name="d"))
    doubler = Doubler(name="d")
    doubler(np.zeros((3, 6), np.float32))
    wrapped = as_zooapi_model(doubler)
    assert wrapped.input_shape == (None, 6)
    assert type(wrapped) is Functional and wrapped.get_layer("d") is doubler
    x, _ = data(4)
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), doubler.predict(x, verbose=0))
    wrapped.freeze("inner")
    assert doubler.trainable_weights == []
