"""Prediction throughput: `zooapi.engine.predict` against its bounds and Spark's own way.

Measures rows/s of `engine.predict(model, df, "features")` on a cached
DataFrame (`features array<float>` of 64, `label int`; 200k rows by default)
with a 64-256-256-10 MLP on Spark `local[2]`, and in the same run:

- direct: the model in this process on the same NumPy array (a compiled
  `tf.function` over 1024-row slices), the compute bound;
- noop: a `mapInArrow` that yields each batch plus a constant `array<float>`
  column of width 10, the cost of moving the same columns through Spark;
- predict_batch_udf: `pyspark.ml.functions.predict_batch_udf` around the same
  model (loaded once per worker from a `.keras` file, batch 1024), calling
  `model.predict` as Spark's documentation shows (the target's baseline);
- predict_batch_udf_direct: the same UDF calling the model directly
  (`model(x).numpy()`), the best a hand-tuned UDF gets; informational.

Each Spark variant is forced with the `noop` sink, which materialises every
column. Each is run once untimed, then the best of 3 is kept. predict, noop
and direct also report their CPU time per row (Spark: the JVM and its Python
workers; direct: this process), and the bound that CPU time sets when the
cores are all busy: transfer and compute are both CPU work, so on a machine
with no more cores than tasks, no overlap beats cores / (noop + direct CPU
per row).

Run: `python bench/inference.py` (or `--quick` for a smoke run, `--rows N`;
`--connect` adds the same predict over Spark Connect, a local server in this
process reading the same rows from a Parquet copy, and its ratio to classic).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (N_CLASSES, N_FEATURES, best_run, best_seconds, cached_dataframe, connect_copy,  # noqa: E402
                 descendant_cpu, make_data, mlp, spark_session)

SLICE = 1024


def run_noop_sink(df) -> None:
    df.write.format("noop").mode("overwrite").save()


def direct_run(model, x: np.ndarray) -> tuple[float, dict[str, float]]:
    """Seconds and CPU seconds (this process, all threads) of the fastest direct pass."""
    import tensorflow as tf

    forward = tf.function(lambda t: model(t, training=False),
                          input_signature=[tf.TensorSpec((None, N_FEATURES), tf.float32)])

    def run():
        for start in range(0, len(x), SLICE):
            forward(x[start:start + SLICE]).numpy()

    return best_run(run, lambda: {"process": time.process_time()})


def with_constant_column(batches):
    import pyarrow as pa

    for batch in batches:
        n = batch.num_rows
        offsets = pa.array(np.arange(0, n * N_CLASSES + 1, N_CLASSES, dtype=np.int32))
        values = pa.array(np.zeros(n * N_CLASSES, np.float32))
        yield batch.append_column("prediction", pa.ListArray.from_arrays(offsets, values))


def batch_udf(path: str, direct: bool):
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType

    def make_predict_fn():
        import keras

        model = keras.models.load_model(path)

        def predict(x):
            if direct:
                return model(x, training=False).numpy()
            return model.predict(x, verbose=0)

        return predict

    return predict_batch_udf(make_predict_fn, return_type=ArrayType(FloatType()),
                             batch_size=SLICE, input_tensor_shapes=[[N_FEATURES]])


def connect_predict(spark, df, model, rows: int) -> float:
    """rows/s of the same predict over Spark Connect: the rows go through a
    Parquet copy (written by the classic session, read and cached by a local
    Connect server in as many partitions); best of 3 after a warm-up, as above."""
    from zooapi import engine

    # As many partitions as the classic run's: each partition is a task with its own cost.
    remote, data = connect_copy(spark, df, "bench-inference-connect", df.rdd.getNumPartitions())
    seconds = best_seconds(lambda: run_noop_sink(engine.predict(model, data, "features")))
    print(f"{'predict (Spark Connect)':>24}: {rows / seconds:>12,.0f} rows/s  ({seconds:.3f} s)")
    remote.stop()
    return rows / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="default 200000 (20000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--connect", action="store_true",
                        help="also predict over Spark Connect (a local server) on the same rows")
    args = parser.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 200_000)

    from pyspark.sql import types as T

    from zooapi import engine

    spark = spark_session("bench-inference")
    x, y = make_data(rows)
    df = cached_dataframe(spark, x, y)
    model = mlp()
    print(f"inference: {rows} rows, 64-256-256-10 MLP, Spark {spark.sparkContext.master}, "
          f"{df.rdd.getNumPartitions()} partitions, best of 3 after 1 warm-up")

    noop_schema = T.StructType(df.schema.fields + [
        T.StructField("prediction", T.ArrayType(T.FloatType(), containsNull=False), nullable=False)])
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as folder:
        path = os.path.join(folder, "mlp.keras")
        model.save(path)
        udf, udf_direct = batch_udf(path, direct=False), batch_udf(path, direct=True)
        # predict first: Spark reuses its Python workers, and zooapi can only set
        # TensorFlow's thread counts in a worker where TF has not started yet.
        runs = {
            # Built inside each run: driver-side planning is part of a predict call.
            "predict": best_run(lambda: run_noop_sink(engine.predict(model, df, "features")), descendant_cpu),
            "noop": best_run(lambda: run_noop_sink(df.mapInArrow(with_constant_column, noop_schema)), descendant_cpu),
            "direct": direct_run(model, x),
        }
        seconds = {name: s for name, (s, _) in runs.items()}
        seconds.update({
            "predict_batch_udf": best_seconds(lambda: run_noop_sink(df.withColumn("prediction", udf("features")))),
            "predict_batch_udf_direct": best_seconds(
                lambda: run_noop_sink(df.withColumn("prediction", udf_direct("features")))),
        })
    rate = {name: rows / s for name, s in seconds.items()}
    cpu = {name: sum(used.values()) / rows for name, (_, used) in runs.items() if used}
    for name in ("predict", "direct", "noop", "predict_batch_udf", "predict_batch_udf_direct"):
        used = f", CPU {cpu[name] * 1e6:.2f} us/row" if name in cpu else ""
        print(f"{name:>24}: {rate[name]:>12,.0f} rows/s  ({seconds[name]:.3f} s){used}")
    cores = min(spark.sparkContext.defaultParallelism, len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    connect_rate = connect_predict(spark, df, model, rows) if args.connect else None
    spark.stop()
    if {"noop", "direct"} <= cpu.keys():
        # Transfer and compute are both CPU work; on a machine with as many cores
        # as tasks, overlapping them cannot beat doing both on every core.
        bound = cores / (cpu["noop"] + cpu["direct"])
        print(f"CPU bound on {cores} cores = {bound:,.0f} rows/s (cores / (noop + direct CPU per row)); "
              f"predict / CPU bound = {rate['predict'] / bound:.2f} (informational)")
    print(f"ratio predict / min(direct, noop) = {rate['predict'] / min(rate['direct'], rate['noop']):.2f} (target >= 0.85)")
    print(f"ratio predict / predict_batch_udf_direct = {rate['predict'] / rate['predict_batch_udf_direct']:.2f} "
          "(informational: a hand-tuned UDF)")
    print(f"ratio predict / predict_batch_udf = {rate['predict'] / rate['predict_batch_udf']:.2f} (target >= 2)")
    if connect_rate is not None:
        print(f"ratio predict Spark Connect / classic = {connect_rate / rate['predict']:.2f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
