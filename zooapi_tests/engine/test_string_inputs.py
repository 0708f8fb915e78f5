"""String columns feeding `keras.Input((1,), dtype="string")` models, and
columns refused on the driver when they cannot feed their input (`local[2]`)."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from zooapi import engine
from zooapi.keras import Input, Model, layers
from zooapi.nnframes import NNModel
from zooapi.sessions import classic_context

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]

COLOURS = ["red", "green", "blue"]


def colour_frame(spark, rows: int = 300):
    """A colour name per row; its label is the colour's position in COLOURS."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, rows)
    return spark.createDataFrame([(i, COLOURS[k], int(k)) for i, k in enumerate(labels)],
                                 "id long, colour string, label long").repartition(2)


def colour_model() -> Model:
    keras.utils.set_random_seed(0)
    inp = Input((1,), dtype="string", name="colour")
    one_hot = layers.StringLookup(vocabulary=COLOURS, output_mode="one_hot")(inp)
    model = Model(inp, layers.Dense(3, activation="softmax")(one_hot))
    model.compile(keras.optimizers.Adam(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_string_column_trains_evaluates_and_predicts_through_string_lookup(spark):
    df = colour_frame(spark)
    model = colour_model()
    engine.fit(model, df, "colour", "label", batch_size=32, epochs=8, num_workers=2, verbose=0)
    # The colour decides the label, so a trained lookup + softmax is always right.
    assert engine.evaluate(model, df, "colour", "label")["accuracy"] == 1.0

    out = engine.predict(model, df, "colour").toPandas().sort_values("id")
    probabilities = np.stack(out.prediction.values)
    assert probabilities.shape == (300, 3)
    np.testing.assert_array_equal(probabilities.argmax(1), out.label.values)
    np.testing.assert_allclose(probabilities, np.asarray(model(tf.constant(out.colour.tolist())[:, None])), atol=1e-5)

    scored = NNModel(model, featuresCol="colour").transform(df).toPandas().sort_values("id")
    np.testing.assert_allclose(np.stack(scored.prediction.values), probabilities, atol=1e-6)


def test_keras_style_methods_take_a_string_column_in_front_of_text_vectorization(spark):
    rng = np.random.default_rng(1)
    animals, moods = ["cat", "dog", "fish", "bird"], ["happy", "sleepy", "hungry"]
    rows = []
    for i in range(240):
        animal, mood = animals[rng.integers(4)], moods[rng.integers(3)]
        rows.append((i, f"the {mood} {animal} sat here", 1 if animal in ("cat", "dog") else 0))
    df = spark.createDataFrame(rows, "id long, text string, label long").repartition(2)
    keras.utils.set_random_seed(0)
    inp = Input((1,), dtype="string")
    words = layers.TextVectorization(output_mode="multi_hot", vocabulary=animals + moods + ["the", "sat", "here"])(inp)
    model = Model(inp, layers.Dense(2, activation="softmax")(words))
    model.compile(keras.optimizers.Adam(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])

    history = model.fit(df, feature_cols="text", label_cols="label", batch_size=24, epochs=8, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert model.evaluate(df, feature_cols="text", label_cols="label", return_dict=True)["accuracy"] == 1.0
    out = model.predict(df, feature_cols="text").toPandas().sort_values("id")
    np.testing.assert_array_equal(np.stack(out.prediction.values).argmax(1), out.label.values)


# ---- refused on the driver ----------------------------------------------------------------------

def failing_frame(spark):
    """Columns whose values cannot be computed: any Spark job over them fails."""
    from pyspark.sql import functions as F

    @F.udf("string")
    def broken(i):
        raise RuntimeError("this DataFrame was evaluated")

    return (spark.range(10).withColumn("colour", broken("id"))
            .withColumn("amount", F.col("id").cast("double")).withColumn("label", F.col("id")))


def test_a_column_that_cannot_feed_its_input_is_refused_before_any_spark_job(spark):
    df = failing_frame(spark)
    keras.utils.set_random_seed(0)
    dense = keras.Sequential([keras.Input((1,), name="amount_in"), keras.layers.Dense(1)])
    dense.compile("sgd", "mse")
    lookup = colour_model()
    string_for_float = (r"^Column 'colour' of Spark type string cannot feed model input 'amount_in' "
                        r"\(dtype=float32, shape=\(None, 1\)\); expected a numeric column")
    number_for_string = (r"^Column 'amount' of Spark type double cannot feed model input 'colour' "
                         r"\(dtype=string, shape=\(None, 1\)\); expected a string or binary column")
    calls = [
        (string_for_float, lambda: engine.predict(dense, df, "colour")),
        (string_for_float, lambda: engine.evaluate(dense, df, "colour", "label")),
        (string_for_float, lambda: engine.fit(dense, df, "colour", "label", batch_size=4, num_workers=1)),
        (string_for_float, lambda: NNModel(dense, featuresCol="colour").transform(df)),
        (number_for_string, lambda: engine.predict(lookup, df, "amount")),
        (number_for_string, lambda: lookup.fit(df, feature_cols="amount", label_cols="label", epochs=1)),
        (number_for_string, lambda: lookup.evaluate(df, feature_cols="amount", label_cols="label")),
        (number_for_string, lambda: lookup.predict(df, feature_cols="amount")),
    ]
    # Any job that evaluated `df` would fail in `broken`; a classic session
    # can also show that no job ran at all.
    sc = classic_context(spark)
    if sc is not None:
        sc.setJobGroup("zooapi-refused-bindings", "must stay empty")
    try:
        for message, call in calls:
            started = time.monotonic()
            with pytest.raises(TypeError, match=message):
                call()
            assert time.monotonic() - started < 5
    finally:
        if sc is not None:
            sc.setLocalProperty("spark.jobGroup.id", None)
    assert sc is None or sc.statusTracker().getJobIdsForGroup("zooapi-refused-bindings") == []


def test_an_image_column_for_a_flat_input_is_refused_on_the_driver(spark):
    from pyspark.sql import types as T

    from zooapi.feed.columns import IMAGE_FIELDS

    image = T.StructType([T.StructField(name, T.StringType() if name == "origin" else
                                        T.BinaryType() if name == "data" else T.IntegerType()) for name in IMAGE_FIELDS])
    df = spark.createDataFrame([], T.StructType([T.StructField("image", image)]))
    flat = keras.Sequential([keras.Input((64,), name="pixels"), keras.layers.Dense(10)])
    with pytest.raises(TypeError, match=r"Column 'image' of Spark type struct<origin:string,.*data:binary> cannot feed "
                                        r"model input 'pixels' \(dtype=float32, shape=\(None, 64\)\); expected an input "
                                        r"of shape \(None, height, width, channels\)"):
        engine.predict(flat, df, "image")
