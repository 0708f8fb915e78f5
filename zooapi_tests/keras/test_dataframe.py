"""fit / evaluate / predict with a Spark DataFrame as `x` (local[2], 2 workers)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zooapi.keras import Input, Model, Sequential, layers
from zooapi.keras.dataframe import is_spark_dataframe
from zooapi_tests.conftest import digits_frame

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]

EPOCHS, BATCH = 15, 64


@pytest.fixture(scope="module")
def split(digits):
    """The same 80/20 split as NumPy arrays, so that plain Keras sees the same rows."""
    x, y = digits
    order = np.random.default_rng(7).permutation(len(x))
    cut = int(0.8 * len(x))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def sequential(cls=Sequential):
    keras.utils.set_random_seed(0)
    model = cls([Input((64,)), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def functional(cls=Model):
    """Two branches merged: a wide ReLU one and a narrow tanh one."""
    keras.utils.set_random_seed(0)
    inp = Input((64,), name="pixels")
    merged = layers.Concatenate()([layers.Dense(64, activation="relu")(inp), layers.Dense(16, activation="tanh")(inp)])
    model = cls(inp, layers.Dense(10, activation="softmax")(merged), name="branches")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_test_begin(self, logs=None):
        self.events.append("begin")

    def on_test_end(self, logs=None):
        self.events.append(dict(logs))


@pytest.mark.parametrize("build", [sequential, functional])
def test_a_dataframe_fit_on_two_workers_matches_plain_keras_on_the_same_data(spark, split, build):
    (x_train, y_train), (x_test, y_test) = split
    train, test = digits_frame(spark, x_train, y_train), digits_frame(spark, x_test, y_test)

    model = build()
    assert is_spark_dataframe(train) and not is_spark_dataframe(x_train)
    # Sequential validates on the test frame, functional on a random tenth of its training rows.
    validation = {"validation_data": test} if build is sequential else {"validation_split": 0.1}
    history = model.fit(train, feature_cols="features", label_cols="label", batch_size=BATCH, epochs=EPOCHS,
                        num_workers=2, verbose=0, seed=1, **validation)
    assert isinstance(history, keras.callbacks.History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == EPOCHS

    reference = build(keras.Sequential if build is sequential else keras.Model)
    reference.fit(x_train, y_train, batch_size=BATCH, epochs=EPOCHS, verbose=0)
    ours = model.evaluate(test, feature_cols="features", label_cols="label")
    theirs = reference.evaluate(x_test, y_test, verbose=0)
    # Same band: both well trained (plain Keras, seeds 0-3: 0.95-0.96 on this
    # split), and within 0.04 (about 14 of the 360 test rows) of each other.
    assert ours[1] >= 0.93 and theirs[1] >= 0.93, (ours, theirs)
    assert abs(ours[1] - theirs[1]) <= 0.04, (ours, theirs)

    # As Keras: [loss, accuracy], or a dict in that order; exact over all rows.
    assert ours == pytest.approx(model.evaluate(x_test, y_test, verbose=0), rel=1e-5)
    recorder = Recorder()
    as_dict = model.evaluate(test, feature_cols="features", label_cols="label", return_dict=True, num_workers=1,
                             callbacks=[recorder])
    assert recorder.events == ["begin", as_dict]
    assert list(as_dict) == ["loss", "accuracy"] and as_dict["accuracy"] == pytest.approx(ours[1], abs=1e-6)
    assert as_dict["loss"] == pytest.approx(ours[0], rel=1e-5)

    scored = model.predict(test, feature_cols="features", prediction_col="probs")
    assert is_spark_dataframe(scored) and scored.columns == ["features", "label", "probs"]
    rows = scored.select("label", "probs").collect()
    predicted = np.array([np.argmax(r["probs"]) for r in rows])
    assert np.mean(predicted == np.array([r["label"] for r in rows])) == pytest.approx(ours[1], abs=1e-6)


def test_dataframe_arguments_are_checked_with_messages_naming_them(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:20], y[:20])
    model = sequential()
    columns = r"The DataFrame's columns: features \(array<float>\), label \(bigint\)\."
    with pytest.raises(ValueError, match=r"`x` is a Spark DataFrame, so `fit` needs `feature_cols`: the "
                                         r"column\(s\) that feed the model's input\(s\)\. "
                                         rf"Received: feature_cols=None\. {columns}"):
        model.fit(df, label_cols="label")
    with pytest.raises(ValueError, match=rf"so `fit` needs `label_cols`.*{columns}"):
        model.fit(df, feature_cols="features")
    with pytest.raises(ValueError, match=rf"so `evaluate` needs `feature_cols`.*{columns}"):
        model.evaluate(df)
    with pytest.raises(ValueError, match=rf"so `evaluate` needs `label_cols`.*{columns}"):
        model.evaluate(df, feature_cols="features")
    with pytest.raises(ValueError, match=rf"so `predict` needs `feature_cols`.*{columns}"):
        model.predict(df)
    with pytest.raises(ValueError, match=r"pass their column\(s\) as `label_cols`, not as `y`\. "
                                         r"Received: y of type ndarray"):
        model.fit(df, y, feature_cols="features", label_cols="label")
    with pytest.raises(TypeError, match=r"`validation_data` must be a DataFrame with the same columns\. "
                                        r"Received: validation_data of type tuple"):
        model.fit(df, feature_cols="features", label_cols="label", validation_data=(x, y))
    with pytest.raises(TypeError, match=r"`validation_data` is a Spark DataFrame but `x` is not; "
                                        r"received x of type ndarray"):
        model.fit(x, y, validation_data=df)
    with pytest.raises(ValueError, match=r"`validation_steps` is not supported when `x` is a Spark DataFrame "
                                         r"\(in `fit`\)\. Received: validation_steps=3"):
        model.fit(df, feature_cols="features", label_cols="label", validation_steps=3)
    with pytest.raises(ValueError, match=r"`sample_weight` is not supported when `x` is a Spark DataFrame "
                                         r"\(in `evaluate`\)\. Received: sample_weight=ndarray of shape \(20,\)"):
        model.evaluate(df, feature_cols="features", label_cols="label", sample_weight=np.ones(20))
    with pytest.raises(ValueError, match=r"`steps` is not supported when `x` is a Spark DataFrame \(in `predict`\)"):
        model.predict(df, feature_cols="features", steps=3)
    with pytest.raises(ValueError, match=r"Received an invalid value for `validation_split`, expected a number "
                                         r"between 0 and 1\. Received: validation_split=1.5"):
        model.fit(df, feature_cols="features", label_cols="label", validation_split=1.5)
    with pytest.raises(ValueError, match=r"Received an invalid value for `num_workers`, expected a positive integer\. "
                                         r"Received: num_workers=0"):
        model.predict(df, feature_cols="features", num_workers=0)
    uncompiled = Sequential([Input((64,)), layers.Dense(10)])
    with pytest.raises(ValueError, match=r"The model is not compiled"):
        uncompiled.fit(df, feature_cols="features", label_cols="label")


def image_frame(spark, x, y, size: int = 16):
    """Digits as Spark image structs: `size`x`size` BGR color, label column."""
    from pyspark.ml.image import ImageSchema

    scale = size // 8
    rows = []
    for i, (pixels, label) in enumerate(zip(x, y)):
        gray = np.kron(pixels.reshape(8, 8) * 255.0, np.ones((scale, scale)))
        bgr = np.stack([255.0 - gray, gray * 0.5, gray], axis=-1).round().astype(np.uint8)
        rows.append(((f"digit-{i}", size, size, 3, 16, bytearray(bgr.tobytes())), int(label)))
    schema = f"image {ImageSchema.imageSchema['image'].dataType.simpleString()}, label long"
    return spark.createDataFrame(rows, schema).repartition(2)


def test_fit_with_seeded_augmentation_on_two_workers_is_reproducible_and_learns(spark, split):
    from zooapi.feature import ImageChannelNormalize, ImageMatToTensor, ImageRandomTranslation

    (x_train, y_train), (x_test, y_test) = split
    train = image_frame(spark, x_train, y_train).cache()
    test = image_frame(spark, x_test, y_test)
    normalize = ImageChannelNormalize(127.5, 127.5, 127.5, 127.5, 127.5, 127.5) * ImageMatToTensor()
    augment = ImageRandomTranslation(0.1, 0.1) * normalize

    def trained(preprocessing):
        keras.utils.set_random_seed(0)
        model = Sequential([Input((16, 16, 3)), layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
                            layers.Flatten(), layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.Adam(0.005), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(train, feature_cols="image", label_cols="label", batch_size=64, epochs=8, num_workers=2,
                  seed=5, verbose=0, feature_preprocessing=preprocessing)
        return model

    augmented, again, plain = trained(augment), trained(augment), trained(normalize)
    for a, b in zip(augmented.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)  # the engine's seed fixes the augmentation's draws
    assert any(not np.allclose(a, b) for a, b in zip(augmented.get_weights(), plain.get_weights()))
    # Translations of up to 10% keep digits recognisable: measured here, 0.975
    # held-out accuracy with augmentation, 0.956 without.
    scores = augmented.evaluate(test, feature_cols="image", label_cols="label", return_dict=True,
                                feature_preprocessing=normalize)
    assert scores["accuracy"] >= 0.9
    predicted = augmented.predict(test, feature_cols="image", feature_preprocessing=normalize).toPandas()
    assert (np.argmax(np.stack(predicted.prediction.values), 1) == predicted.label.values).mean() >= 0.9
    with pytest.raises(TypeError, match="`feature_preprocessing` applies only when `x` is a Spark DataFrame"):
        augmented.fit(x_train, y_train, feature_preprocessing=normalize)
