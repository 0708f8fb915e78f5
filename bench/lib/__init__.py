"""Shared pieces of the benchmarks: the Spark session, the data, the model, timing.

A subpackage (not a bench/*.py module) so that `./dev bench`, which runs every
bench/*.py, does not run it.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

N_FEATURES = 64
N_CLASSES = 10
SEED = 0


def spark_session(app: str, cores: int = 2, warm_up: bool = True):
    """`local[cores]` through zooapi, with a driver heap large enough to cache 1M rows
    (`warm_up`: as `init_nncontext`'s).

    `spark.driver.memory` must reach the JVM's launch; `init_nncontext` starts
    the JVM before applying its `conf`, so the heap is set on the command line.
    """
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--driver-memory 4g pyspark-shell")
    import zooapi

    return zooapi.init_nncontext(app, master=f"local[{cores}]", warm_up=warm_up)


def make_data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Features in [-1, 1) and labels from a known function: the argmax of a
    fixed random linear map, so a model can learn them."""
    rng = np.random.default_rng(SEED)
    x = rng.uniform(-1, 1, size=(rows, N_FEATURES)).astype(np.float32)
    w = rng.normal(size=(N_FEATURES, N_CLASSES)).astype(np.float32)
    y = np.argmax(x @ w, axis=1).astype(np.int32)
    return x, y


def cached_dataframe(spark, x: np.ndarray, y: np.ndarray):
    """`features array<float>, label int` from NumPy through one Arrow table,
    cached and counted, so that building it is never part of a timing."""
    import pyarrow as pa

    n, d = x.shape
    offsets = pa.array(np.arange(0, n * d + 1, d, dtype=np.int32))
    features = pa.ListArray.from_arrays(offsets, pa.array(x.reshape(-1)))
    table = pa.table({"features": features, "label": pa.array(y, pa.int32())})
    df = spark.createDataFrame(table, "features array<float>, label int").cache()
    assert df.count() == n
    return df


def connect_copy(spark, df, app: str, partitions: int = 2):
    """`df`'s rows in a Spark Connect session on a local server started in
    this process: written to Parquet by the classic `spark` (which is then
    stopped: one SparkContext per process), read back in `partitions`
    partitions, cached and counted. Returns the Connect session and the
    cached DataFrame."""
    import tempfile

    import zooapi

    rows = df.count()
    folder = tempfile.mkdtemp(prefix="zooapi-bench-")
    df.write.mode("overwrite").parquet(folder)
    spark.stop()
    remote = zooapi.init_nncontext(app, remote="local[2]")
    data = remote.read.parquet(folder).repartition(partitions).cache()
    assert data.count() == rows
    return remote, data


def mlp(compiled: bool = False):
    """The benchmark model: a 64-256-256-10 MLP (relu, softmax), same initial weights every call."""
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([
        keras.Input((N_FEATURES,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(N_CLASSES, activation="softmax"),
    ])
    if compiled:
        model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def best_seconds(run: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """The fastest of `repeats` timed calls of `run`, after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def descendant_cpu() -> dict[str, float] | None:
    """CPU seconds (user + system) used so far by the live descendants of this
    process, as {"JVM": ..., "Python workers": ...}: Spark's JVM and its Python
    workers (which Spark reuses between tasks, so differences between two calls
    are the job's). None where there is no /proc."""
    if not os.path.isdir("/proc"):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    parents, ticks, names = {}, {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        pid = int(entry)
        parents[pid], names[pid], ticks[pid] = int(fields[1]), name, int(fields[11]) + int(fields[12])
    me, total = os.getpid(), {"JVM": 0.0, "Python workers": 0.0}
    for pid in ticks:
        parent = parents[pid]
        while parent > 1 and parent != me:
            parent = parents.get(parent, 0)
        if parent == me:
            total["JVM" if names[pid] == "java" else "Python workers"] += ticks[pid] / hz
    return total


def best_run(run: Callable[[], object], cpu: Callable[[], dict[str, float] | None],
             repeats: int = 3, warmup: int = 1) -> tuple[float, dict[str, float] | None]:
    """Wall seconds of the fastest of `repeats` calls of `run` after `warmup`
    untimed ones, with the CPU seconds that call used (by `cpu`'s differences)."""
    for _ in range(warmup):
        run()
    best, best_cpu = float("inf"), None
    for _ in range(repeats):
        before, start = cpu(), time.perf_counter()
        run()
        seconds, after = time.perf_counter() - start, cpu()
        if seconds < best:
            best = seconds
            best_cpu = None if before is None else {k: after[k] - before[k] for k in before}
    return best, best_cpu
