"""The engine across real executor processes: `local-cluster[2,1,1024]`."""

import logging

import keras
import numpy as np
import pytest

from zooapi import engine
from zooapi_tests.conftest import busy_trainers, digits_frame, mlp
from zooapi_tests.engine.test_training import _worker_rows, shuffled

pytestmark = pytest.mark.slow


def test_digits_train_on_two_executors_and_predict_there(spark_cluster, digits):
    x, y = digits
    train, test = digits_frame(spark_cluster, x, y).randomSplit([0.8, 0.2], seed=42)
    # The demo's CNN (the engine reshapes the 64 floats to 8x8x1). Plain `model.fit` on
    # this split lands at 0.97-0.99 over six seeds; 0.95 leaves room for the order in
    # which the shuffle delivers rows, which changes what a seeded run sees.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dropout(0.3),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = engine.fit(model, train, "features", "label", batch_size=64, epochs=15,
                         num_workers=2, validation_df=test, verbose=0, seed=2)
    assert history.history["val_accuracy"][-1] >= 0.95
    assert engine.evaluate(model, test, "features", "label")["accuracy"] >= 0.95
    scored = engine.predict(model, test, "features").toPandas()
    predicted = np.argmax(np.stack(scored.prediction.values), axis=1)
    assert (predicted == scored.label.values).mean() >= 0.95


def test_a_failed_job_on_executors_fails_fast_and_leaves_no_trainer_process(spark_cluster, digits):
    x, y = digits
    bad = y[:300].copy()
    bad[3] = 99
    df = digits_frame(spark_cluster, x[:300], bad)
    with pytest.raises(RuntimeError, match=r"(?s)Training failed on worker \d.*99"):
        engine.fit(mlp(), df, "features", "label", batch_size=300, epochs=5, num_workers=2, verbose=0)
    import time

    deadline = time.monotonic() + 30
    while busy_trainers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert busy_trainers() == []


def test_a_union_of_unequal_frames_trains_on_two_executors_with_equal_shares(spark_cluster, digits, caplog):
    x, y = shuffled(digits)
    # createDataFrame gives each frame 2 partitions: 4 of 500, 500, 200, 200 rows, not a barrier layout
    union = digits_frame(spark_cluster, x[:1000], y[:1000]).union(digits_frame(spark_cluster, x[1000:1400],
                                                                                y[1000:1400]))
    model = mlp()
    with caplog.at_level(logging.INFO, logger="zooapi"):
        engine.fit(model, union, "features", "label", batch_size=64, epochs=10, num_workers=2, verbose=0, seed=1)
    assert _worker_rows(caplog) == [700, 700]
    # plain `model.fit` of the same model, rows and epochs: 0.975-0.982 over three seeds
    held_out = digits_frame(spark_cluster, x[1400:], y[1400:])
    assert engine.evaluate(model, held_out, "features", "label")["accuracy"] >= 0.95


def _two_partitions(spark, x, y, first: int):
    """Rows of digits in exactly 2 partitions that a barrier stage reads as
    they are (a shuffle's output): rows `[0, first)` in partition 0, the
    rest in partition 1."""
    from pyspark.sql import functions as F

    from zooapi.engine.balance import worker_keys

    rows = [(i, r.tolist(), int(t)) for i, (r, t) in enumerate(zip(x, y))]
    zero, one = worker_keys(2)  # keys that Spark's hash partitioning sends to partitions 0 and 1
    return spark.createDataFrame(rows, "id long, features array<float>, label long").repartition(
        2, F.when(F.col("id") < first, F.lit(zero)).otherwise(F.lit(one)))


@pytest.mark.parametrize("first", [800, 720], ids=["one-partition-empty", "90-10"])
def test_an_empty_or_skewed_partition_is_dealt_evenly_to_two_executors_shipping_the_model_once(
        spark_cluster, digits, caplog, monkeypatch, first):
    from pyspark.broadcast import Broadcast

    from zooapi.engine import training
    from zooapi.engine.balance import count_partition_rows

    x, y = shuffled(digits)
    df = _two_partitions(spark_cluster, x[:800], y[:800], first)
    assert df.rdd.getNumPartitions() == 2
    assert [count_partition_rows(df).train.get(p, 0) for p in (0, 1)] == [first, 800 - first]
    events = []
    ship_model, destroy = training.ship_model, Broadcast.destroy
    monkeypatch.setattr(training, "ship_model", lambda *args: events.append("ship") or ship_model(*args))
    monkeypatch.setattr(Broadcast, "destroy", lambda self, **kw: events.append("destroy") or destroy(self, **kw))
    model = mlp()
    with caplog.at_level(logging.INFO, logger="zooapi"):
        engine.fit(model, df, "features", "label", batch_size=64, epochs=8, num_workers=2, verbose=0, seed=1)
    # the first job counted the partitions as they are and the rows were dealt again, by those counts
    assert (f"Partitions hold [{first}, {800 - first}] training rows: dealing them evenly to the 2 workers"
            in caplog.text)
    assert _worker_rows(caplog) == [400, 400]
    # both jobs read one broadcast (the second job's tasks fail on a destroyed one), released once
    assert events == ["ship", "destroy"]
    # plain `model.fit` of the same model on these 800 rows, 8 epochs: 0.96-0.975 over four seeds
    held_out = digits_frame(spark_cluster, x[1400:], y[1400:])
    assert engine.evaluate(model, held_out, "features", "label")["accuracy"] >= 0.93


def test_an_empty_dataframe_on_two_executors_is_refused_saying_it_is_empty(spark_cluster, digits):
    x, y = digits
    empty = digits_frame(spark_cluster, x[:50], y[:50]).where("label < 0")
    with pytest.raises(ValueError, match=r"The training DataFrame `df` is empty: it has no rows to train on"):
        engine.fit(mlp(), empty, "features", "label", batch_size=8, num_workers=2, verbose=0)


def test_more_workers_than_the_executors_slots_is_refused_within_seconds(spark_cluster, digits):
    import time

    x, y = digits
    df = digits_frame(spark_cluster, x[:100], y[:100])
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"Received num_workers=3, expected at most the 2 task slot\(s\) the cluster "
                                         r"has \(master local-cluster\[2,1,1024\], spark.task.cpus=1\)"):
        engine.fit(mlp(), df, "features", "label", batch_size=8, num_workers=3, verbose=0)
    assert time.monotonic() - started < 10
