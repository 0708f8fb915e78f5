"""Distributed training on `local[2]`: two barrier tasks, two TF processes."""

import logging
import time

import keras
import numpy as np
import pytest

from zooapi import engine
from zooapi_tests.conftest import digits_frame, mlp

pytestmark = pytest.mark.slow


@pytest.fixture
def digits_split(spark, digits):
    x, y = digits
    df = digits_frame(spark, x, y)
    return df.randomSplit([0.8, 0.2], seed=7)


def test_two_workers_reach_95_percent_on_held_out_digits_with_identical_weights(digits_split, caplog):
    train, test = digits_split
    model = mlp()
    before = [w.copy() for w in model.get_weights()]
    with caplog.at_level(logging.INFO, logger="zooapi"):
        history = engine.fit(model, train, "features", "label", batch_size=64, epochs=12,
                             num_workers=2, validation_df=test, verbose=0, seed=1)
    assert isinstance(history, keras.callbacks.History)
    assert len(history.history["loss"]) == 12
    assert history.history["loss"][-1] < history.history["loss"][0] / 4
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    assert "All 2 worker(s) ended with identical weights" in caplog.text
    scores = engine.evaluate(model, test, "features", "label")
    assert scores["accuracy"] >= 0.95
    # validation logs are exact over the whole validation set, as Keras computes them
    test_pd = test.toPandas()
    x_test = np.stack(test_pd.features.values).astype(np.float32)
    keras_scores = model.evaluate(x_test, test_pd.label.values, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(keras_scores["accuracy"], abs=1e-6)
    assert scores["loss"] == pytest.approx(keras_scores["loss"], rel=1e-4)


def test_training_twice_in_a_row_continues_from_the_trained_weights(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:600], y[:600])
    model = mlp()
    first = engine.fit(model, df, "features", "label", batch_size=32, epochs=2, num_workers=2, verbose=0)
    second = engine.fit(model, df, "features", "label", batch_size=32, epochs=2, num_workers=2, verbose=0)
    assert second.history["loss"][0] < first.history["loss"][0]
    assert int(model.optimizer.iterations.numpy()) == 2 * 2 * int(np.ceil(600 / 32))


def test_a_coalesced_frame_with_the_worker_count_trains(spark, digits):
    from zooapi.engine.training import _barrier_ready

    x, y = digits
    whole = digits_frame(spark, x[:400], y[:400]).repartition(2)
    assert _barrier_ready(whole, 2)  # partitions used as they are: no extra shuffle
    coalesced = digits_frame(spark, x[:400], y[:400]).repartition(4).coalesce(2)
    # Spark refuses a coalesce in a barrier stage (SPARK-24820); the engine shuffles first.
    assert coalesced.rdd.getNumPartitions() == 2 and not _barrier_ready(coalesced, 2)
    model = mlp()
    before = model.get_weights()[0].copy()
    engine.fit(model, coalesced, "features", "label", batch_size=64, epochs=1, num_workers=2, verbose=0)
    assert not np.allclose(before, model.get_weights()[0])


def test_a_partition_smaller_than_one_batch_still_trains(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:7], y[:7]).repartition(3)  # more partitions than workers
    model = mlp()
    before = model.get_weights()[0].copy()
    history = engine.fit(model, df, "features", "label", batch_size=64, epochs=1, num_workers=2, verbose=0)
    assert history.params["steps"] == 1
    assert not np.allclose(before, model.get_weights()[0])


def test_more_workers_than_rows_is_a_clear_error(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:1], y[:1])
    with pytest.raises(ValueError, match=r"num_workers=2 is more than the number of training rows \(1\)"):
        engine.fit(mlp(), df, "features", "label", batch_size=8, num_workers=2, verbose=0)


def test_a_null_in_the_data_fails_fast_naming_the_column(spark):
    rows = [([0.1] * 64, 1)] * 50 + [(None, 2)] + [([0.1] * 64, 1)] * 50
    df = spark.createDataFrame(rows, "features array<float>, label long").repartition(2)
    with pytest.raises(ValueError, match=r"Column 'features' has a null at row \d+ of its partition"):
        engine.fit(mlp(), df, "features", "label", batch_size=8, num_workers=2, verbose=0)


def test_a_failing_worker_fails_the_job_quickly_with_its_own_error(spark, digits):
    x, y = digits
    bad_labels = y[:200].copy()
    bad_labels[5] = 42  # outside the 10 classes
    df = digits_frame(spark, x[:200], bad_labels)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"(?s)Training failed on worker \d.*42"):
        engine.fit(mlp(), df, "features", "label", batch_size=200, epochs=3, num_workers=2, verbose=0)
    assert time.monotonic() - started < 90


def test_schema_errors_are_raised_before_any_job(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:10], y[:10])
    with pytest.raises(ValueError, match="Column 'pixels' .* Its columns are: features, label"):
        engine.fit(mlp(), df, "pixels", "label", verbose=0)
    with pytest.raises(ValueError, match=r"Column 'features' gives 64 value\(s\) per row .* expects shape \(32,\)"):
        engine.fit(mlp(inputs=32), df, "features", "label", batch_size=4, num_workers=2, verbose=0)
    with pytest.raises(ValueError, match="Received an invalid value for `batch_size`"):
        engine.fit(mlp(), df, "features", "label", batch_size=0, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size=1 for num_workers=2"):
        engine.fit(mlp(), df, "features", "label", batch_size=1, num_workers=2, verbose=0)
    uncompiled = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="The model is not compiled"):
        engine.fit(uncompiled, df, "features", "label", verbose=0)


def test_early_stopping_callback_stops_all_workers(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:400], y[:400])
    seen = []
    stopper = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=0)
    recorder = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])))
    history = engine.fit(mlp(), df, "features", "label", batch_size=32, epochs=10, num_workers=2,
                         callbacks=[stopper, recorder], verbose=0)
    assert len(history.history["loss"]) == 2
    assert [e for e, _ in seen] == [0, 1]


def test_ml_vectors_and_several_scalar_columns_feed_one_input(spark):
    from pyspark.ml.feature import VectorAssembler
    from sklearn.datasets import load_iris

    data = load_iris()
    rows = [tuple(float(v) for v in xs) + (int(t),) for xs, t in zip(data.data, data.target)]
    df = spark.createDataFrame(rows, "a double, b double, c double, d double, label long")
    assembled = VectorAssembler(inputCols=["a", "b", "c", "d"], outputCol="vec").transform(df)
    for cols, frame in ((["a", "b", "c", "d"], df), ("vec", assembled)):
        model = mlp(inputs=4, classes=3, lr=0.05, hidden=16)
        engine.fit(model, frame, cols, "label", batch_size=16, epochs=30, num_workers=2, verbose=0, seed=3)
        assert engine.evaluate(model, frame, cols, "label")["accuracy"] > 0.85


def test_preprocessing_runs_on_the_workers_for_fit_evaluate_and_predict(spark, digits):
    x, y = digits
    raw = np.round(x * 16)  # the original 0..16 pixel counts
    rows = [(i, r.tolist(), int(t)) for i, (r, t) in enumerate(zip(raw[:800], y[:800]))]
    df = spark.createDataFrame(rows, "id long, features array<float>, label long")
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    scale = keras.layers.Rescaling(1 / 16)
    one_hot = lambda labels: np.eye(10, dtype=np.float32)[labels.astype(int)]  # noqa: E731
    engine.fit(model, df, "features", "label", batch_size=32, epochs=8, num_workers=2, verbose=0, seed=5,
               feature_preprocessing=scale, label_preprocessing=one_hot)
    scores = engine.evaluate(model, df, "features", "label", feature_preprocessing=scale,
                             label_preprocessing=one_hot)
    assert scores["accuracy"] > 0.9
    out = engine.predict(model, df, "features", feature_preprocessing=scale).toPandas().sort_values("id")
    np.testing.assert_allclose(np.stack(out.prediction.values), model.predict(raw[:800] / 16, verbose=0), atol=1e-5)


def test_callbacks_find_the_direction_of_compiled_metrics_on_the_driver(spark, digits):
    # Keras' EarlyStopping looks the monitored metric up on the model to know
    # whether it should rise; the driver's model never ran its metrics itself.
    x, y = digits
    df = digits_frame(spark, x[:400], y[:400])
    stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=10)
    history = engine.fit(mlp(), df, "features", "label", batch_size=32, epochs=3, num_workers=2,
                         validation_df=df, callbacks=[stopper], verbose=0)
    assert stopper.best == max(history.history["val_accuracy"])  # "max" mode, inferred
    assert min(history.history["val_accuracy"]) < stopper.best
