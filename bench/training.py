"""Training throughput: `zooapi.engine.fit` against Keras `model.fit` and the compute limit.

Trains a 64-256-256-10 MLP (Adam, sparse categorical cross-entropy, batch
256) for 5 epochs on 1M rows (`features array<float>` of 64, labels the argmax
of a fixed random linear map) on Spark `local[2]`, with 1 and 2 workers,
`model.fit` on the same data as in-memory NumPy, and the compute limit: the
same model, optimizer and metrics trained in this process by a bare
`tf.function` loop over in-memory tensors (the same number of full batches per epoch, rows drawn
in a new random order each epoch, 64 steps per call, as the engine runs
them), all in the same run. Reports:

- end to end: samples/s over the wall time of the whole call, DataFrame in,
  trained model out (for 1 worker this includes repartitioning the cached
  2-partition DataFrame to 1);
- steady state: the best epoch among epochs 2.. (zooapi's per-epoch log
  lines on `zooapi.engine.training`; a timing callback for `model.fit`);
- the peak resident memory of each `zooapi.worker.trainer` process, found by
  polling /proc, beside the size of its partition's features: VmHWM (all
  resident pages, including the touched pages of the memory-mapped spill
  files, which the kernel can drop under memory pressure) and the largest
  RssAnon seen (private memory, which it cannot): a partition larger than
  free memory trains as long as the private part fits.

Run: `python bench/training.py` (or `--quick` for a smoke run, `--rows N`,
`--epochs N`; `--connect` adds the same fits over Spark Connect, a local
server in this process, reading the same rows from a Parquet copy, and their
ratio to the classic session's). Ratios are printed last, against `model.fit` and against the
compute limit.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import N_FEATURES, cached_dataframe, connect_copy, make_data, mlp, spark_session  # noqa: E402

BATCH = 256
EPOCH_LINE = re.compile(r"\[Epoch (\d+) \d+/\d+\]\[Iteration \d+\]\[Wall Clock [\d.]+s\] "
                        r"Trained (\d+) records in ([\d.]+) seconds")


class EpochLog(logging.Handler):
    """Collects (epoch, samples, seconds) from engine.fit's per-epoch INFO lines."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.epochs: list[tuple[int, int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = EPOCH_LINE.match(record.getMessage())
        if match:
            self.epochs.append((int(match[1]), int(match[2]), float(match[3])))


class TrainerMemory:
    """Polls /proc for this process's trainer processes (the zygote's forks) at work and
    keeps the largest VmHWM (peak RSS, kB) and RssAnon (private resident
    memory, kB) seen for each."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak_kb, self.anon_kb = interval, {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for pid in self._trainers():
                try:
                    status = open(f"/proc/{pid}/status").read()
                except OSError:
                    continue
                for name, peaks in (("VmHWM", self.peak_kb), ("RssAnon", self.anon_kb)):
                    match = re.search(rf"{name}:\s+(\d+) kB", status)
                    if match:
                        peaks[pid] = max(peaks.get(pid, 0), int(match[1]))

    @staticmethod
    def _trainers() -> list[int]:
        parents, trainers = {}, []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = open(f"/proc/{entry}/stat").read()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                # A trainer at work writes to its job's folder; the zygote that forks them (started
                # as `zooapi.worker.zygote` or forked from the executor's daemon) does not.
                if "zooapi-train-" in os.readlink(f"/proc/{entry}/fd/1"):
                    trainers.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
        me = os.getpid()

        def mine(pid: int) -> bool:
            while pid > 1:
                pid = parents.get(pid, 0)
                if pid == me:
                    return True
            return False

        return [pid for pid in trainers if mine(pid)]


def keras_fit(x, y, epochs: int) -> tuple[float, list[float], float]:
    """Wall seconds, per-epoch seconds and final accuracy of `model.fit`."""
    import keras

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    model, timer = mlp(compiled=True), EpochTimes()
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[timer])
    return time.perf_counter() - start, timer.seconds, history.history["accuracy"][-1]


def compute_limit(x, y, epochs: int, steps_per_call: int = 64) -> tuple[float, list[float]]:
    """Wall seconds and per-epoch seconds of the bare loop: what this
    machine can do for this model, with no data path at all."""
    import keras
    import tensorflow as tf

    model = mlp(compiled=True)
    features, labels = tf.constant(x), tf.constant(y)
    steps = -(-len(x) // BATCH)  # full batches, as many as the engine runs

    @tf.function
    def train_steps(indices):
        for i in tf.range(tf.shape(indices)[0]):
            xb, yb = tf.gather(features, indices[i]), tf.gather(labels, indices[i])
            with tf.GradientTape() as tape:
                pred = model(xb, training=True)
                loss = model.compute_loss(x=xb, y=yb, y_pred=pred, training=True)
            model.optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
            model.compute_metrics(xb, yb, pred)  # the compiled accuracy, as every trainer updates it

    sample, truth = features[:BATCH], labels[:BATCH]  # builds the loss and metric variables before tracing
    model.compute_metrics(sample, truth, model(sample))
    model.compute_loss(x=sample, y=truth, y_pred=model(sample))
    model.optimizer.build(model.trainable_variables)
    rng, seconds = np.random.default_rng(0), []
    start = time.perf_counter()
    for _ in range(epochs):
        began = time.perf_counter()
        order = np.resize(rng.permutation(len(x)), steps * BATCH).reshape(steps, BATCH).astype(np.int32)
        for first in range(0, steps, steps_per_call):
            train_steps(tf.constant(order[first:first + steps_per_call]))
        seconds.append(time.perf_counter() - began)
    keras.backend.clear_session()
    return time.perf_counter() - start, seconds


def zooapi_fit(df, epochs: int, workers: int):
    """Wall seconds, per-epoch (samples, seconds), final accuracy, trainer
    peak RSS and peak private RSS (MiB)."""
    from zooapi import engine

    model, log = mlp(compiled=True), EpochLog()
    logger = logging.getLogger("zooapi.engine.training")
    logger.setLevel(logging.INFO)
    logger.addHandler(log)
    try:
        with TrainerMemory() as memory:
            start = time.perf_counter()
            history = engine.fit(model, df, "features", "label", batch_size=BATCH, epochs=epochs,
                                 num_workers=workers, verbose=0, seed=0)
            seconds = time.perf_counter() - start
    finally:
        logger.removeHandler(log)
    peaks = sorted(kb / 1024 for kb in memory.peak_kb.values())
    private = sorted(kb / 1024 for kb in memory.anon_kb.values())
    return seconds, [(s, t) for _, s, t in sorted(log.epochs)], history.history["accuracy"][-1], peaks, private


def connect_fits(spark, df, rows: int, epochs: int) -> dict[int, float]:
    """The same fits over Spark Connect: the rows go through a Parquet copy
    (written by the classic session, read and cached by a local Connect
    server), then `engine.fit` with 1 and 2 workers; samples/s end to end."""
    remote, data = connect_copy(spark, df, "bench-training-connect")
    start_python_workers(data)
    speeds = {}
    for workers in (1, 2):
        wall, _, accuracy, _, _ = zooapi_fit(data, epochs, workers)
        speeds[workers] = rows * epochs / wall
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        print(f"{label:<9} Spark Connect end to end {speeds[workers]:>10,.0f} samples/s ({wall:.2f} s), "
              f"accuracy {accuracy:.3f}")
    remote.stop()
    return speeds


def start_python_workers(df) -> None:
    """One untimed pass through Spark's Python workers, so that no fit pays their start."""
    df.mapInArrow(lambda batches: batches, df.schema).write.format("noop").mode("overwrite").save()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="default 1000000 (20000 with --quick)")
    parser.add_argument("--epochs", type=int, default=None, help="default 5 (2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small sizes (and 2 epochs), for a smoke run")
    parser.add_argument("--connect", action="store_true",
                        help="also train over Spark Connect (a local server) on the same rows, after the classic runs")
    args = parser.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    epochs = args.epochs or (2 if args.quick else 5)

    spark = spark_session("bench-training")
    x, y = make_data(rows)
    df = cached_dataframe(spark, x, y)
    start_python_workers(df)
    print(f"training: {rows} rows x {epochs} epochs, 64-256-256-10 MLP, batch {BATCH}, "
          f"Spark {spark.sparkContext.master}, {df.rdd.getNumPartitions()} partitions")

    wall, epoch_seconds, accuracy = keras_fit(x, y, epochs)
    ref_e2e = rows * epochs / wall
    ref_steady = rows / min(epoch_seconds[1:] or epoch_seconds)
    print(f"{'model.fit':<9} end to end {ref_e2e:>10,.0f} samples/s ({wall:.2f} s), "
          f"steady {ref_steady:>10,.0f} samples/s, accuracy {accuracy:.3f}")

    wall, epoch_seconds = compute_limit(x, y, epochs)
    limit_e2e = rows * epochs / wall
    limit_steady = rows / min(epoch_seconds[1:] or epoch_seconds)
    print(f"{'limit':<9} end to end {limit_e2e:>10,.0f} samples/s ({wall:.2f} s), "
          f"steady {limit_steady:>10,.0f} samples/s (bare tf.function loop, in-memory tensors)")

    ratios, classic_e2e = [], {}
    for workers in (1, 2):
        wall, logged, accuracy, peaks, private = zooapi_fit(df, epochs, workers)
        if workers == 1:
            peaks_1, private_1 = peaks, private
        e2e = rows * epochs / wall
        if not logged:
            raise RuntimeError("engine.fit logged no '[Epoch i ...] Trained N records in S seconds' lines on zooapi.engine.training")
        steady = max(s / t for s, t in (logged[1:] or logged))
        partition_mib = rows * N_FEATURES * 4 / workers / 2**20
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        print(f"{label:<9} end to end {e2e:>10,.0f} samples/s ({wall:.2f} s), "
              f"steady {steady:>10,.0f} samples/s, accuracy {accuracy:.3f}")
        print(f"{label:<9} trainer peak RSS (VmHWM) "
              f"{', '.join(f'{p:.0f}' for p in peaks) or 'not seen'} MiB, of it private (RssAnon) "
              f"{', '.join(f'{p:.0f}' for p in private) or 'not seen'} MiB; "
              f"features per partition {partition_mib:.0f} MiB")
        ratios.append((workers, e2e / ref_e2e, steady / ref_steady, e2e / limit_e2e, steady / limit_steady))
        classic_e2e[workers] = e2e
    # Memory must not grow with epochs: the same 1-worker fit for 1 epoch.
    one_epoch_peaks, one_epoch_private = zooapi_fit(df, 1, 1)[3:]
    print(f"1 worker  trainer peak RSS after 1 epoch {max(one_epoch_peaks or [0]):.0f} MiB "
          f"(private {max(one_epoch_private or [0]):.0f}), after {epochs} epochs "
          f"{max(peaks_1 or [0]):.0f} MiB (private {max(private_1 or [0]):.0f})")
    connect = connect_fits(spark, df, rows, epochs) if args.connect else {}
    spark.stop()

    for workers, e2e, steady, e2e_limit, steady_limit in ratios:
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        one = workers == 1
        print(f"ratio {label} / model.fit end-to-end = {e2e:.2f}{' (target >= 1.0)' if one else ''}")
        print(f"ratio {label} steady-state step throughput / model.fit = {steady:.2f}")
        print(f"ratio {label} / compute limit end-to-end = {e2e_limit:.2f}{' (target >= 0.8)' if one else ''}")
        print(f"ratio {label} steady-state / compute limit = {steady_limit:.2f}{' (target >= 0.95)' if one else ''}")
        if workers in connect:
            print(f"ratio {label} Spark Connect / classic end-to-end = {connect[workers] / classic_e2e[workers]:.2f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
