"""Start-up cost: small fits, evaluations and predictions on scikit-learn's digits.

Trains the 64-64-10 MLP on the 1,437 training rows of digits (an 80/20
split), batch 32, on Spark `local[2]`, and reports in one run:

- `model.fit` on the same rows as NumPy, 1 and 15 epochs (the reference);
- the first `engine.fit` of the session, after the data is cached and the
  `model.fit` runs (the trainers' zygote started by `init_nncontext` imports
  TensorFlow meanwhile; with `--no-warm-up` the fit starts it), then warm 1-epoch fits with
  1 and 2 workers, and 15-epoch fits, each with where its seconds went, from
  zooapi's own log lines: planning on the driver, the barrier job's start
  and the spill until the workers have counted their rows, the trainer's
  start-up until the chief reports (with the trainer's own phases), the
  epochs, and the way back;
- what balancing costs: warm 2-worker 1-epoch fits of the same rows in 2
  partitions, one of them empty or holding 10% of the rows, which the first
  job counts and the engine deals again before training (the extra seconds
  over the balanced 2-worker fit, and the counting job's own phase);
- `engine.evaluate` and `engine.predict` (written to Spark's no-op sink),
  first and second call, on the held-out rows in 2 partitions (two tasks at
  once) and in 1;
- the first fit of a second, new session with 2 workers (the cold
  multi-worker fit: a new Spark context, its executor's daemon and zygote
  start again).

Run: `python bench/startup.py` (`--repeat N` warm fits of each kind, best
kept; `--no-warm-up`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import spark_session  # noqa: E402

BATCH = 32
MARKS = (  # (phase ending at the first record that contains the text, text)
    ("counting job", "Partitions hold"),  # only when the partitions are unequal
    ("plan, job start, spill", "Workers hold"),
    ("trainer up", "Training on "),
    ("epochs", "Throughput is"),
)


class Timeline(logging.Handler):
    """Times of zooapi's log records during one call, relative to its start."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.start = time.perf_counter()
        self.records: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((time.perf_counter() - self.start, record.getMessage()))

    def phases(self, total: float) -> str:
        found, last = [], 0.0
        for name, text in MARKS:
            times = [t for t, message in self.records if text in message]
            if not times:
                continue
            at = times[-1] if name == "epochs" else times[0]
            found.append(f"{name} {at - last:.2f}")
            last = at
        found.append(f"result back {total - last:.2f}")
        trainer = next((m.split(": ", 1)[1] for _, m in self.records if "Trainer start-up" in m), None)
        return ", ".join(found) + (f" (trainer: {trainer})" if trainer else "")


def timed(call):
    logger = logging.getLogger("zooapi")
    level, timeline = logger.level, Timeline()
    logger.setLevel(logging.DEBUG)
    logger.addHandler(timeline)
    try:
        start = time.perf_counter()
        result = call()
        return time.perf_counter() - start, timeline, result
    finally:
        logger.removeHandler(timeline)
        logger.setLevel(level)


def mlp(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def skewed(spark, rows: list, first: int):
    """`rows` (features, label) in 2 cached partitions that a barrier stage
    reads as they are: the first `first` rows in partition 0, the rest in 1."""
    from pyspark.sql import functions as F

    from zooapi.engine.balance import worker_keys

    zero, one = worker_keys(2)  # keys that Spark's hash partitioning sends to partitions 0 and 1
    indexed = [(i, *row) for i, row in enumerate(rows)]
    df = spark.createDataFrame(indexed, "id long, features array<float>, label long").repartition(
        2, F.when(F.col("id") < first, F.lit(zero)).otherwise(F.lit(one))).cache()
    df.count()
    return df


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="warm fits of each kind (best kept)")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="init_nncontext(warm_up=False): the first fit starts the trainer processes itself")
    args = parser.parse_args(argv)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x, x_test, y, y_test = train_test_split((digits.data / 16).astype(np.float32), digits.target,
                                            test_size=0.2, random_state=0)
    rows = [(r.tolist(), int(label)) for r, label in zip(x, y)]
    test_rows = [(r.tolist(), int(label)) for r, label in zip(x_test, y_test)]
    spark, session_seconds, df, test = session(rows, test_rows, warm_up=not args.no_warm_up)
    print(f"startup: digits {len(x)} training rows, 64-64-10 MLP, batch {BATCH}, Spark "
          f"{spark.sparkContext.master} (session start {session_seconds:.1f} s)")

    from zooapi import engine

    for epochs in (1, 15):
        model = mlp()
        begin = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
        print(f"{'model.fit':<24} {epochs:>2} epoch(s) {time.perf_counter() - begin:6.2f} s")

    def fit(epochs: int, workers: int, data=df):
        return timed(lambda: engine.fit(mlp(), data, "features", "label", batch_size=BATCH, epochs=epochs,
                                        num_workers=workers, verbose=0, seed=0))

    seconds, timeline, _ = fit(1, 1)
    print(f"{'engine.fit first':<24}  1 epoch(s) {seconds:6.2f} s: {timeline.phases(seconds)}")
    balanced = {}
    for epochs in (1, 15):
        for workers in (1, 2):
            best = balanced[epochs, workers] = min((fit(epochs, workers) for _ in range(args.repeat)),
                                                   key=lambda r: r[0])
            label = f"engine.fit {workers} worker{'s' if workers > 1 else ''}"
            print(f"{label:<24} {epochs:>2} epoch(s) {best[0]:6.2f} s: {best[1].phases(best[0])}")
    for label, first in (("engine.fit 1 of 2 empty", len(rows)), ("engine.fit 90/10 split", len(rows) * 9 // 10)):
        data = skewed(spark, rows, first)
        best = min((fit(1, 2, data) for _ in range(args.repeat)), key=lambda r: r[0])
        extra = best[0] - balanced[1, 2][0]
        print(f"{label:<24}  1 epoch(s) {best[0]:6.2f} s (balancing {extra:+.2f} s): {best[1].phases(best[0])}")
        data.unpersist()

    model = mlp()
    one_partition = test.coalesce(1).cache()
    one_partition.count()
    for name, data in (("", test), (", 1 partition", one_partition)):
        for kind, call in (
                ("engine.evaluate", lambda: engine.evaluate(model, data, "features", "label")),
                ("engine.predict", lambda: engine.predict(model, data, "features").write.format("noop")
                 .mode("overwrite").save())):
            first = timed(call)[0]
            second = timed(call)[0]
            print(f"{kind + name:<24} first {first:6.2f} s, second {second:6.2f} s")
    spark.stop()

    spark, session_seconds, df, test = session(rows, test_rows, warm_up=not args.no_warm_up)
    seconds, timeline, _ = fit(1, 2, df)
    print(f"{'engine.fit first, 2 w.':<24}  1 epoch(s) {seconds:6.2f} s: {timeline.phases(seconds)} "
          f"(a new session, started in {session_seconds:.1f} s)")
    spark.stop()
    return 0


def session(rows: list, test_rows: list, warm_up: bool):
    """A new `local[2]` session with the training and held-out rows cached:
    (session, seconds to start it, training rows, held-out rows)."""
    started = time.perf_counter()
    spark = spark_session("bench-startup", warm_up=warm_up)
    seconds = time.perf_counter() - started
    df = spark.createDataFrame(rows, "features array<float>, label long").cache()
    test = spark.createDataFrame(test_rows, "features array<float>, label long").cache()
    df.count(), test.count()
    return spark, seconds, df, test


if __name__ == "__main__":
    sys.exit(main())
