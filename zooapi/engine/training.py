"""`fit`: synchronous data-parallel training of a compiled Keras model on a
Spark DataFrame (driver side; the tasks run `zooapi.worker.supervisor`)."""

from __future__ import annotations

import io
import logging
import random
from typing import Sequence

import numpy as np

from zooapi.engine.jobs import driver_host, run_barrier_job
from zooapi.engine.plan import feed_columns, plan_features, plan_labels
from zooapi.engine.server import Event, JobServer
from zooapi.feed.columns import ColumnSpec
from zooapi.worker.serialization import load_model_bytes, model_to_blob
from zooapi.worker.supervisor import SPLIT_COLUMN, TrainJob, train_partition

logger = logging.getLogger(__name__)


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Received an invalid value for `{name}`, expected a positive integer. Received: {name}={value!r}")
    return int(value)


def check_compiled(model) -> None:
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("The model is not compiled; call `model.compile(optimizer=..., loss=...)` first.")


def default_parallelism(spark) -> int:
    return max(1, spark.sparkContext.defaultParallelism)


def _training_data(df, columns: list[str], validation_df, num_workers: int):
    from pyspark.sql import functions as F

    data = df.select(*columns)
    if validation_df is None:
        partitions = data.rdd.getNumPartitions()
        if partitions == num_workers:
            return data
        # Merging partitions needs no shuffle; splitting them does.
        return data.coalesce(num_workers) if partitions > num_workers else data.repartition(num_workers)
    types = {f.name: f.dataType for f in data.schema.fields}
    val = validation_df.select(*[F.col(c).cast(types[c]).alias(c) for c in columns])
    both = data.withColumn(SPLIT_COLUMN, F.lit(0).cast("byte")).unionByName(
        val.withColumn(SPLIT_COLUMN, F.lit(1).cast("byte")))
    return both.repartition(num_workers)


def _apply_result(model, data: bytes, custom_objects) -> None:
    """Loads the chief's trained weights and optimizer state into `model`."""
    trained = load_model_bytes(data, custom_objects, compile=True)
    model.set_weights(trained.get_weights())
    if getattr(trained, "optimizer", None) is not None and trained.optimizer.built:
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        ours, theirs = model.optimizer.variables, trained.optimizer.variables
        if len(ours) == len(theirs):
            for mine, new in zip(ours, theirs):
                mine.assign(new)
        else:
            logger.warning("optimizer state not restored: %d variables here, %d trained", len(ours), len(theirs))


class _Progress:
    """Turns worker events into Keras callback calls on the driver."""

    def __init__(self, model, callbacks, verbose: int, epochs: int, initial_epoch: int):
        import keras

        self.model = model
        self.epochs = epochs
        self.callbacks = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=model,
            verbose=verbose, epochs=epochs, steps=None)
        self.epoch = initial_epoch - 1
        self.digests: dict[int, str] = {}

    def __call__(self, event: Event) -> None:
        msg = event.message
        kind = msg["type"]
        if kind == "train_begin":
            self.callbacks.set_params({"verbose": self.callbacks.params.get("verbose", 1),
                                       "epochs": self.epochs, "steps": msg["steps"]})
            logger.info("Training on %d worker(s): %d rows, %d steps per epoch", msg["workers"], msg["rows"], msg["steps"])
            logger.debug("Trainer start-up (seconds per phase): %s", msg.get("startup_seconds"))
            self.callbacks.on_train_begin()
        elif kind == "step":
            self._begin_epoch(msg["epoch"])
            self.callbacks.on_train_batch_end(msg["step"], msg["logs"])
        elif kind == "epoch_end":
            self._begin_epoch(msg["epoch"])
            if event.payload is not None:
                with np.load(io.BytesIO(event.payload)) as weights:
                    self.model.set_weights([weights[f"arr_{i}"] for i in range(len(weights.files))])
            logs = msg["logs"]
            self.callbacks.on_epoch_end(msg["epoch"], logs)
            logger.info(
                "Epoch %d/%d: %d samples in %.2fs (%.0f samples/s) %s", msg["epoch"] + 1, self.epochs,
                msg["samples"], msg["seconds"], msg["samples"] / max(msg["seconds"], 1e-9),
                " ".join(f"{k}={v:.4f}" for k, v in logs.items()))
            event.reply({"stop": bool(self.model.stop_training)})

        elif kind == "train_end":
            self.digests[msg["worker"]] = msg["weights_sha256"]
            event.reply({})

    def check_in_sync(self, num_workers: int) -> None:
        """Every worker must end with the same weights; say so, or fail."""
        if len(set(self.digests.values())) > 1:
            raise RuntimeError(f"The workers ended with different weights: {self.digests}")
        if len(self.digests) == num_workers:
            logger.info("All %d worker(s) ended with identical weights (sha256 %s)",
                        num_workers, next(iter(self.digests.values()))[:16])

    def _begin_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self.callbacks.on_epoch_begin(epoch)

    @property
    def history(self):
        import keras

        return next(c for c in self.callbacks.callbacks if isinstance(c, keras.callbacks.History))


def fit(
    model,
    df,
    feature_cols: ColumnSpec,
    label_cols: ColumnSpec,
    batch_size: int = 32,
    epochs: int = 1,
    num_workers: int | None = None,
    validation_df=None,
    callbacks: Sequence | None = None,
    verbose: int = 1,
    shuffle: bool = True,
    seed: int | None = None,
    initial_epoch: int = 0,
    feature_preprocessing=None,
    label_preprocessing=None,
):
    """Trains a compiled Keras model on a Spark DataFrame, synchronously, on
    `num_workers` Spark barrier tasks.

    Each step, every worker computes gradients on its share of the global
    `batch_size` (split as evenly as it goes) and the gradients are summed
    across workers before the optimizer applies them, so the result matches
    one model trained on the whole batch. Every worker runs the same number
    of steps per epoch, `ceil(rows / batch_size)`, cycling through its
    partition in a new order each pass (seeded by `seed`).

    Args:
        model: a compiled Keras 3 model; it holds the trained weights (and
            optimizer state) afterwards.
        df: the training DataFrame.
        feature_cols: the column(s) feeding the model's input(s): a name, a
            list of names (concatenated for a one-input model), or one name or
            list per input.
        label_cols: the column(s) feeding the model's output(s), the same way.
        batch_size: the global batch size, at least `num_workers`.
        epochs: the number of epochs.
        num_workers: barrier tasks to train on; default the session's default
            parallelism. Each needs a free task slot at once.
        validation_df: a DataFrame evaluated after every epoch (`val_` logs).
        callbacks: Keras callbacks; they run on the driver at each epoch end
            with the model holding the epoch's weights.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        shuffle: draw rows in a new random order every pass.
        seed: seeds shuffling and initialisation; random when None.
        initial_epoch: the epoch to start from (as in Keras).
        feature_preprocessing: a function of a NumPy batch (the array, or a
            list for several inputs), or a Keras preprocessing layer, applied
            on the workers to every training and validation batch, afresh
            each epoch (so random augmentation differs between epochs).
        label_preprocessing: the same for labels.

    Returns:
        A `keras.callbacks.History`.

    Example:
        >>> history = fit(model, df, "features", "label", batch_size=64, epochs=5)  # doctest: +SKIP
        >>> history.history["loss"]  # doctest: +SKIP
    """
    spark = df.sparkSession
    check_compiled(model)
    batch_size = check_positive_int("batch_size", batch_size)
    epochs = check_positive_int("epochs", epochs)
    num_workers = check_positive_int("num_workers", num_workers if num_workers is not None else default_parallelism(spark))
    if batch_size < num_workers:
        raise ValueError(
            f"Received batch_size={batch_size} for num_workers={num_workers}; every worker needs "
            f"at least one row per step, so use batch_size >= {num_workers} or fewer workers.")
    raw_x, raw_y = feature_preprocessing is not None, label_preprocessing is not None
    features = plan_features(model, df.schema, feature_cols, raw=raw_x)
    labels = plan_labels(model, df.schema, label_cols, raw=raw_y)
    columns = feed_columns(features, labels)
    if validation_df is not None:
        plan_features(model, validation_df.schema, feature_cols, raw=raw_x)
        plan_labels(model, validation_df.schema, label_cols, raw=raw_y)
    data = _training_data(df, columns, validation_df, num_workers)

    blob = model_to_blob(model)
    broadcast = spark.sparkContext.broadcast(blob)
    user_callbacks = list(callbacks or [])
    model.stop_training = False
    progress = _Progress(model, user_callbacks, verbose, epochs, initial_epoch)
    try:
        with JobServer(driver_host(spark)) as server:
            job = TrainJob(
                features=features, labels=labels, num_workers=num_workers, batch_size=batch_size,
                epochs=epochs, driver=server.address, model=broadcast, initial_epoch=initial_epoch,
                shuffle=bool(shuffle), seed=random.randrange(2**31) if seed is None else int(seed),
                has_validation=validation_df is not None, sync_weights=bool(user_callbacks),
                feature_preprocessing=feature_preprocessing, label_preprocessing=label_preprocessing,
            )
            result = data.mapInArrow(
                lambda batches: train_partition(job, batches), "worker int, chunk binary", barrier=True)
            rows = run_barrier_job(spark, server, result.collect, progress)
    finally:
        broadcast.destroy(blocking=False)
    chunks = sorted(((r["worker"], i, r["chunk"]) for i, r in enumerate(rows)), key=lambda t: t[:2])
    progress.check_in_sync(num_workers)
    _apply_result(model, b"".join(c for _, _, c in chunks), blob.load_custom_objects())
    progress.callbacks.on_train_end()
    return progress.history
