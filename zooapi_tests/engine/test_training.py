"""Distributed training on `local[2]`: two barrier tasks, two TF processes."""

import logging
import time

import keras
import numpy as np
import pytest

from zooapi import engine
from zooapi.sessions import is_connect
from zooapi_tests.conftest import digits_frame, mlp, partition_count

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]


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
    coalesced = digits_frame(spark, x[:400], y[:400]).repartition(4).coalesce(2)
    assert partition_count(coalesced) == 2
    if not is_connect(spark):  # over Connect the engine cannot see the plan, and always deals the rows
        assert _barrier_ready(whole, 2)  # partitions used as they are: no extra shuffle
        # Spark refuses a coalesce in a barrier stage (SPARK-24820); the engine shuffles first.
        assert not _barrier_ready(coalesced, 2)
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
    with pytest.raises(ValueError, match=r"Column 'features' has a null at row \d+ of its partition") as raised:
        engine.fit(mlp(), df, "features", "label", batch_size=8, num_workers=2, verbose=0)
    # one Python exception: the worker's message, then its traceback; Spark's Java report is kept aside
    error = raised.value
    assert "--- worker " in str(error) and "Traceback (most recent call last)" in error.worker_traceback
    assert error.__cause__ is None and error.__suppress_context__
    assert "JVM stacktrace" not in str(error) and "\tat org.apache.spark" not in str(error)
    assert error.spark_error is not None


def test_a_failing_worker_fails_the_job_quickly_with_its_own_error(spark, digits):
    x, y = digits
    bad_labels = y[:200].copy()
    bad_labels[5] = 42  # outside the 10 classes
    df = digits_frame(spark, x[:200], bad_labels)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"(?s)Training failed on worker \d.*42") as raised:
        engine.fit(mlp(), df, "features", "label", batch_size=200, epochs=3, num_workers=2, verbose=0)
    assert time.monotonic() - started < 90
    assert raised.value.__cause__ is None and "\tat org.apache.spark" not in str(raised.value)
    assert "traceback ---" in str(raised.value)


def test_schema_errors_are_raised_before_any_job(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:10], y[:10])
    with pytest.raises(ValueError, match="Column 'pixels' .* Its columns are: features, label"):
        engine.fit(mlp(), df, "pixels", "label", verbose=0)
    with pytest.raises(ValueError, match=r"Column 'features' holds 64 value\(s\) in its first row; the model "
                                         r"input it feeds expects 32 \(shape \(32,\) per row\)"):
        engine.fit(mlp(inputs=32), df, "features", "label", batch_size=4, num_workers=2, verbose=0)
    images = spark.createDataFrame([(img.tolist(), int(t)) for img, t in zip(x[:10].reshape(-1, 8, 8), y[:10])],
                                   "pixels array<array<double>>, label long")
    with pytest.raises(ValueError, match=r"Column 'pixels' holds 64 value\(s\) in its first row; the model "
                                         r"input it feeds expects 32"):  # all levels of the nested arrays
        engine.fit(mlp(inputs=32), images, "pixels", "label", batch_size=4, verbose=0)
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


def test_driver_callbacks_see_the_workers_weights_at_every_epoch_end(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:200], y[:200])
    model = mlp()
    snapshots = []
    recorder = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    engine.fit(model, df, "features", "label", batch_size=32, epochs=2, num_workers=2, callbacks=[recorder],
               verbose=0)
    assert len(snapshots) == 2
    assert any(not np.array_equal(a, b) for a, b in zip(snapshots[0], snapshots[1]))
    for a, b in zip(snapshots[1], model.get_weights()):  # every weight, in order, from the epoch-end codec
        np.testing.assert_array_equal(a, b)


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


def shuffled(digits):
    """Digits in a fixed random order: the first 1,400 rows to train on, the
    last 397 held out. (The file's own tail is harder, other writers: plain
    `model.fit` of `mlp()` reaches only 0.89-0.91 on it.)"""
    x, y = digits
    order = np.random.default_rng(0).permutation(len(y))
    return x[order], y[order]


def _worker_rows(caplog) -> list[int]:
    """The training rows each worker reported holding (the chief's report)."""
    import ast
    import re

    found = re.findall(r"Workers hold (\[[\d, ]+\]) training rows", caplog.text)
    assert found, caplog.text
    return ast.literal_eval(found[-1])


def test_a_parquet_file_of_one_row_group_read_as_one_full_and_one_empty_split_trains_on_two_workers(
        spark, digits, tmp_path, caplog):
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from zooapi.engine.balance import count_partition_rows

    x, y = shuffled(digits)
    path = str(tmp_path / "digits.parquet")
    table = pa.table({"features": pa.array(list(x[:1400]), pa.list_(pa.float32())), "label": y[:1400]})
    pq.write_table(table, path, row_group_size=len(y))  # one row group, as pyarrow writes a small file
    # Spark splits a file into byte ranges of max(openCostInBytes, size / cores), at most maxPartitionBytes:
    # small settings make this small file split as a large one does, each row group going to one split.
    split = str(os.path.getsize(path) // 3)
    confs = {"spark.sql.files.maxPartitionBytes": split, "spark.sql.files.openCostInBytes": split}
    previous = {key: spark.conf.get(key) for key in confs}
    for key, value in confs.items():
        spark.conf.set(key, value)
    try:
        df = spark.read.parquet(path)
        counts = count_partition_rows(df)
        assert partition_count(df) >= 2 and list(counts.train.values()) == [1400]  # one split holds all
        model = mlp()
        with caplog.at_level(logging.INFO, logger="zooapi"):
            engine.fit(model, df, "features", "label", batch_size=64, epochs=10, num_workers=2, verbose=0, seed=1)
        assert _worker_rows(caplog) == [700, 700]
        # plain `model.fit` of the same model, rows and epochs: 0.975-0.982 over three seeds
        held_out = digits_frame(spark, x[1400:], y[1400:])
        assert engine.evaluate(model, held_out, "features", "label")["accuracy"] >= 0.95
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)


def test_a_filter_that_nearly_empties_one_partition_gives_both_workers_equal_shares(spark, digits, caplog):
    from pyspark.sql import functions as F

    from zooapi.engine.balance import count_partition_rows, worker_keys

    x, y = shuffled(digits)
    rows = [(i, r.tolist(), int(t)) for i, (r, t) in enumerate(zip(x[:1400], y[:1400]))]
    first, second = worker_keys(2)  # keys that Spark's hash partitioning sends to partitions 0 and 1
    halves = spark.createDataFrame(rows, "id long, features array<float>, label long").repartition(
        2, F.when(F.col("id") < 700, F.lit(first)).otherwise(F.lit(second)))
    filtered = halves.where(F.col("id") >= 680)
    counts = count_partition_rows(filtered).train
    assert counts == {0: 20, 1: 700}
    model = mlp()
    with caplog.at_level(logging.INFO, logger="zooapi"):
        engine.fit(model, filtered, "features", "label", batch_size=64, epochs=12, num_workers=2, verbose=0, seed=1)
    assert _worker_rows(caplog) == [360, 360]
    # plain `model.fit` on the same 720 rows and epochs: 0.957-0.967 over three seeds
    held_out = digits_frame(spark, x[1400:], y[1400:])
    assert engine.evaluate(model, held_out, "features", "label")["accuracy"] >= 0.92


def test_an_empty_dataframe_is_refused_saying_it_is_empty(spark, digits):
    x, y = digits
    empty = digits_frame(spark, x[:50], y[:50]).where("label < 0")
    with pytest.raises(ValueError, match=r"The training DataFrame `df` is empty: it has no rows to train on"):
        engine.fit(mlp(), empty, "features", "label", batch_size=8, num_workers=1, verbose=0)


def test_more_workers_than_task_slots_is_refused_within_seconds(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:100], y[:100])
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"Received num_workers=3, expected at most the 2 task slot\(s\) the "
                                         r"cluster has \(master local\[2\], spark.task.cpus=1\).* Use "
                                         r"num_workers <= 2, or give the cluster more slots: a larger `local\[N\]`"):
        engine.fit(mlp(), df, "features", "label", batch_size=8, num_workers=3, verbose=0)
    assert time.monotonic() - started < 10


def test_a_negative_max_retries_is_refused(spark, digits):
    x, y = digits
    df = digits_frame(spark, x[:20], y[:20])
    with pytest.raises(ValueError, match=r"Received an invalid value for `max_retries`, expected a non-negative integer\. Received: max_retries=-1"):
        engine.fit(mlp(), df, "features", "label", batch_size=8, num_workers=1, max_retries=-1, verbose=0)
