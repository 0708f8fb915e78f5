"""`fit`: synchronous data-parallel training of a compiled Keras model on a
Spark DataFrame (driver side; the tasks run `zooapi.worker.supervisor`)."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import replace
from typing import Sequence

from pyspark import cloudpickle

from zooapi.checks import check_compiled, check_int
from zooapi.context import check_worker_python
from zooapi.engine.balance import PartitionRows, rebalance
from zooapi.engine.frames import require_spark_dataframe
from zooapi.engine.jobs import check_task_slots, run_barrier_job, worker_errors
from zooapi.engine.plan import check_first_row, feed_columns, plan_features, plan_labels, plan_sample_weights
from zooapi.engine.progress import Progress
from zooapi.engine.server import Event, JobServer
from zooapi.feed.columns import ColumnSpec
from zooapi.sessions import default_parallelism, listen_address, ship_model
from zooapi.worker.protocol import parse_messages
from zooapi.worker.sample_weights import check_class_weight
from zooapi.worker.serialization import load_model_state, model_to_blob
from zooapi.worker.supervisor import (OFFLINE_MESSAGES, SPLIT_COLUMN, UNBALANCED_WORKER, WORKER_ROWS, check_rows,
                                      train_partition)
from zooapi.worker.train_job import TrainJob

logger = logging.getLogger(__name__)


def _barrier_ready(data, num_workers: int) -> bool:
    """Whether `data` can feed a barrier stage of `num_workers` tasks as it is.

    Spark refuses a barrier stage in which an RDD has another partition count
    than the stage's last one (SPARK-24820: a `coalesce`, a `union`...), so
    walk the RDDs of the last stage (narrow dependencies, up to the shuffles)."""
    try:
        pending = [data._jdf.queryExecution().toRdd()]
    except Exception:  # no JVM DataFrame (Spark Connect): cannot tell
        return False
    while pending:
        rdd = pending.pop()
        if rdd.getNumPartitions() != num_workers:
            return False
        dependencies = rdd.dependencies()
        for i in range(dependencies.size()):
            dependency = dependencies.apply(i)
            if dependency.getClass().getSimpleName() != "ShuffleDependency":
                pending.append(dependency.rdd())
    return True


def _training_data(df, columns: list[str], validation_df, num_workers: int):
    """The DataFrame the barrier job reads: the training columns (and the
    validation rows, marked), in `num_workers` partitions. A DataFrame that a
    barrier stage can read as it is keeps its partitions; any other is dealt
    round-robin (`repartition(num_workers)`: shares differ by at most its
    number of partitions). The job checks the shares before it trains
    (`TrainJob.check_balance`)."""
    from pyspark.sql import functions as F

    data = df.select(*columns)
    if validation_df is not None:
        types = {f.name: f.dataType for f in data.schema.fields}
        val = validation_df.select(*[F.col(c).cast(types[c]).alias(c) for c in columns])
        data = data.withColumn(SPLIT_COLUMN, F.lit(0).cast("byte")).unionByName(
            val.withColumn(SPLIT_COLUMN, F.lit(1).cast("byte")))
    if _barrier_ready(data, num_workers):
        return data
    return data.repartition(num_workers)


def _log_worker_rows(msg) -> None:
    """Logs the rows each worker holds (the chief sends them once all
    workers have spilled their partitions)."""
    logger.info("Workers hold %s training rows (%s validation rows)", list(msg["rows"]), list(msg.get("val_rows", [])))


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
    validation_trigger=None,
    end_trigger=None,
    checkpoint_path: str | None = None,
    checkpoint_trigger=None,
    checkpoint_overwrite: bool = True,
    resume: bool = False,
    max_retries: int | None = None,
    train_summary=None,
    validation_summary=None,
    class_weight=None,
    sample_weight_col: str | None = None,
):
    """Trains a compiled Keras model on a Spark DataFrame, synchronously, on
    `num_workers` Spark barrier tasks.

    Each step, every worker computes gradients on its share of the global
    `batch_size` (split as evenly as it goes) and the gradients are summed
    across workers before the optimizer applies them, so the result matches
    one model trained on the whole batch. Every worker runs the same number
    of steps per epoch, `ceil(rows / batch_size)`, cycling through its
    partition in a new order each pass (seeded by `seed`).

    How rows are assigned to workers: when `df` has exactly `num_workers`
    partitions that a barrier stage can read as they are, worker i takes
    partition i; any other DataFrame (another partition count, a `coalesce`,
    a `union`, Spark Connect, where the engine cannot see the plan) is dealt
    round-robin to the workers by one shuffle (`repartition(num_workers)`).
    The workers count their rows before they train: when the largest share
    exceeds the smallest by more than 2% of the mean (an empty or skewed
    partition: a Parquet file read as one full and one empty split, a
    filter), the job ends without training and the rows are dealt again,
    exactly, from those counts (one more shuffle, in partition order): every
    worker then gets the same number of rows, give or take one. Validation
    rows travel with the training rows and are dealt the same way. The
    shares are logged ("Workers hold [...] training rows"). A DataFrame that
    is expensive to compute or gives other rows each time (a random source)
    is computed again for that second deal: `cache()` it.

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
            parallelism. Each needs a free task slot at once: more workers
            than the cluster's task slots is refused before the job starts.
        validation_df: a DataFrame evaluated after every epoch (`val_` logs).
        callbacks: Keras callbacks; they run on the driver at each epoch end
            with the model holding the epoch's weights. When the workers
            cannot reach this process (a Spark Connect client the cluster
            cannot connect to), they train without live progress and the
            callbacks run after training, epoch by epoch, on the logs the
            chief recorded (a warning says so).
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        shuffle: draw rows in a new random order every pass.
        seed: seeds shuffling and initialisation; random when None.
        initial_epoch: the epoch to start from (as in Keras).
        feature_preprocessing: a function of a NumPy batch (the array, or a
            list for several inputs), or a Keras preprocessing layer, applied
            on the workers to every training and validation batch, afresh
            each epoch (so random augmentation differs between epochs).
        label_preprocessing: the same for labels.
        validation_trigger: when to evaluate `validation_df` (a
            `zooapi.optim` trigger; default `EveryEpoch()`). Mid-epoch
            results go to the log and `validation_summary`; epoch-end results
            also to the History as `val_...`.
        end_trigger: stops training early when it fires (e.g.
            `MaxIteration(500)`, `MinLoss(0.05)`); `epochs` stays the limit.
        checkpoint_path: a folder (local or `pyarrow.fs` URL) where the chief
            writes the model, optimizer state and position, atomically.
        checkpoint_trigger: when to write a checkpoint (default `EveryEpoch()`).
        checkpoint_overwrite: keep only the newest checkpoint.
        resume: continue from the newest checkpoint in `checkpoint_path`.
        max_retries: attempts after a worker failure (a killed process, an
            exception other than bad data), each resuming from the newest
            checkpoint (or the start without one). Default 2 with a
            `checkpoint_path`, else 0.
        train_summary: a `zooapi.optim.TrainSummary` to record Loss,
            LearningRate and Throughput per iteration.
        validation_summary: a `zooapi.optim.ValidationSummary`.
        class_weight: {class index: weight}, as Keras' `fit` takes it: each
            training row's loss is multiplied by its class's weight (classes
            not listed weigh 1); for a model with one output.
        sample_weight_col: a numeric column of per-row loss weights (Keras'
            `sample_weight`). Neither weighs the validation rows, as in Keras.

    Returns:
        A `keras.callbacks.History`.

    Raises:
        TypeError: `df` is not a Spark DataFrame (a pandas one, say).
        ValueError: a bad argument, a column that does not fit the model, an
            empty DataFrame, fewer rows than workers, more workers than task
            slots, or bad data found by a worker (its traceback follows the
            message; Spark's own report is the exception's `spark_error`).

    Example:
        >>> history = fit(model, df, "features", "label", batch_size=64, epochs=5)  # doctest: +SKIP
        >>> history.history["loss"]  # doctest: +SKIP
    """
    require_spark_dataframe(df, "df")
    if validation_df is not None:
        require_spark_dataframe(validation_df, "validation_df")
    spark = df.sparkSession
    check_compiled(model)
    batch_size = check_int("batch_size", batch_size)
    epochs = check_int("epochs", epochs)
    num_workers = check_int("num_workers", num_workers if num_workers is not None else default_parallelism(spark))
    if batch_size < num_workers:
        raise ValueError(
            f"Received batch_size={batch_size} for num_workers={num_workers}; every worker needs "
            f"at least one row per step, so use batch_size >= {num_workers} or fewer workers.")
    raw_x, raw_y = feature_preprocessing is not None, label_preprocessing is not None
    features = plan_features(model, df.schema, feature_cols, raw=raw_x)
    labels = plan_labels(model, df.schema, label_cols, raw=raw_y)
    weights = plan_sample_weights(df.schema, sample_weight_col)
    if class_weight is not None and weights:
        raise ValueError("Received both `class_weight` and `sample_weight`; as in Keras, pass one of them "
                         "(fold the class weights into the sample weight column).")
    class_weight = check_class_weight(class_weight, len(labels))
    columns = feed_columns(features, labels, weights)
    if validation_df is not None:
        plan_features(model, validation_df.schema, feature_cols, raw=raw_x)
        plan_labels(model, validation_df.schema, label_cols, raw=raw_y)
        if weights and sample_weight_col not in validation_df.columns:
            from pyspark.sql import functions as F

            validation_df = validation_df.withColumn(sample_weight_col, F.lit(1.0))  # validation is unweighted
    check_worker_python(spark)
    with worker_errors():
        check_first_row(df, features)
    control = _control(validation_df, validation_trigger, end_trigger, checkpoint_path, checkpoint_trigger,
                       checkpoint_overwrite)
    if resume and not checkpoint_path:
        raise ValueError("Received resume=True without a `checkpoint_path` to resume from.")
    if max_retries is None:
        retries = 2 if checkpoint_path else 0
    else:
        retries = check_int("max_retries", max_retries, minimum=0)
    check_task_slots(spark, num_workers)
    data = _training_data(df, columns, validation_df, num_workers)

    blob = model_to_blob(model)
    user_callbacks = list(callbacks or [])
    model.stop_training = False
    progress = Progress(model, user_callbacks, verbose, epochs, initial_epoch, train_summary, validation_summary)
    job = TrainJob(
        features=features, labels=labels, num_workers=num_workers, batch_size=batch_size, epochs=epochs,
        initial_epoch=initial_epoch, shuffle=bool(shuffle),
        seed=random.randrange(2**31) if seed is None else int(seed), has_validation=validation_df is not None,
        sync_weights=bool(user_callbacks), weights=weights, class_weight=class_weight,
        trainer_part=cloudpickle.dumps((feature_preprocessing, label_preprocessing, control)),
    )
    start_blob, job = _start_point(job, blob, checkpoint_path, initial_epoch)[:2] if resume else (blob, job)
    for attempt in range(retries + 1):
        try:
            rows = _run_balanced(spark, data, job, start_blob, progress)
            break
        except (ValueError, TypeError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if attempt == retries:
                raise
            start_blob, job, where = _start_point(job, blob, checkpoint_path, initial_epoch)
            progress.restart_at(job.initial_epoch)
            logger.warning("Training failed (%s); retrying from %s (attempt %d of %d)",
                           str(exc).splitlines()[0][:200], where, attempt + 2, retries + 1)
    offline = [r["chunk"] for r in rows if r["worker"] == OFFLINE_MESSAGES]
    chunks = sorted(((r["worker"], i, r["chunk"]) for i, r in enumerate(rows) if r["worker"] >= 0),
                    key=lambda t: t[:2])
    progress.check_in_sync(num_workers)  # the live digests; a worker offline sends its digest nowhere
    load_model_state(model, b"".join(c for _, _, c in chunks))
    for recorded in offline:
        _replay_offline(recorded, progress)
    diverged = progress.divergence_error()
    if diverged is not None:
        raise diverged
    progress.callbacks.on_train_end()
    return progress.history


def _control(validation_df, validation_trigger, end_trigger, checkpoint_path, checkpoint_trigger, overwrite):
    from zooapi.optim.triggers import EveryEpoch, check_trigger
    from zooapi.worker.loop import Control

    if validation_trigger is not None and validation_df is None:
        raise ValueError("Received a `validation_trigger` without a `validation_df` to validate on.")
    return Control(
        validation=check_trigger("validation_trigger", validation_trigger or EveryEpoch()) if validation_df is not None else None,
        checkpoint=check_trigger("checkpoint_trigger", checkpoint_trigger or EveryEpoch()) if checkpoint_path else None,
        end=check_trigger("end_trigger", end_trigger) if end_trigger is not None else None,
        checkpoint_path=checkpoint_path or "", checkpoint_overwrite=bool(overwrite),
    )


def _start_point(job: TrainJob, blob, checkpoint_path: str | None,
                 first_epoch: int) -> tuple[object, TrainJob, str]:
    """Where to start `job` again: the newest checkpoint under
    `checkpoint_path` (or the start of training without one). Returns the
    model to start from, the job pointed there, and where that is, in words."""
    from zooapi.worker.checkpoints import latest_checkpoint
    from zooapi.worker.serialization import ModelBlob

    found = latest_checkpoint(checkpoint_path) if checkpoint_path else None
    if found is None:
        return blob, replace(job, initial_epoch=first_epoch, initial_epoch_step=0), "the start"
    data, position = found
    # The trainer loads this with safe_mode=False, as it loads the user's own
    # in-memory model: a checkpoint is the chief's `model.save` of that model,
    # written by zooapi under the user's checkpoint_path, with its position file
    # (latest_checkpoint reads only what zooapi writes). Files a user hands in
    # (Net.load, a saved nnframes stage) load in safe mode unless they opt out.
    job = replace(job, initial_epoch=position["epoch"], initial_epoch_step=position["epoch_step"])
    where = f"the checkpoint at epoch {position['epoch']}, iteration {position['iteration']}"
    logger.info("Resuming from %s", where)
    return ModelBlob(data, blob.custom_objects, blob.key), job, where


def _run_balanced(spark, data, job: TrainJob, blob, progress: Progress):
    """One attempt: trains on `data`; when its partitions hold unequal rows
    (the job's first answer, before any training), deals the rows evenly by
    the counts the workers reported and trains on that. The model is
    shipped once for both jobs (the first one's tasks do not read it when
    they only count). A retry calls this again, with the model to resume
    from, and the rows are counted again. Returns the chief's rows."""
    shipped = ship_model(spark, blob)
    try:
        job = replace(job, model=shipped)
        rows = _run_training(spark, data, replace(job, check_balance=True), progress)
        if not rows:  # no task ran: the data has no partitions (an empty DataFrame can, over Spark Connect)
            check_rows(job, [])
        if len(rows) == 1 and rows[0]["worker"] == UNBALANCED_WORKER:
            found = json.loads(rows[0]["chunk"])
            counts = PartitionRows(train=dict(enumerate(found["rows"])),
                                   validation=dict(enumerate(found["val_rows"])))
            logger.info("Partitions hold %s training rows: dealing them evenly to the %d workers", found["rows"],
                        job.num_workers)
            rows = _run_training(spark, rebalance(data, counts, job.num_workers), job, progress)
        return rows
    finally:
        shipped.destroy(blocking=False)


def _run_training(spark, data, job: TrainJob, progress: Progress):
    """One barrier job over `data` with `job` (its model shipped); returns
    the chief's rows."""
    def on_event(event) -> None:
        if event.message.get("type") == WORKER_ROWS:
            _log_worker_rows(event.message)
        else:
            progress(event)

    with JobServer(*listen_address(spark), workers=job.num_workers) as server:
        located = replace(job, driver=server.address)
        result = data.mapInArrow(
            lambda batches: train_partition(located, batches), "worker int, chunk binary", barrier=True)
        return run_barrier_job(spark, server, result.collect, on_event)


def _replay_offline(recorded: bytes, progress: Progress) -> None:
    """Hands the chief's recorded messages (it could not reach this process:
    `zooapi.worker.protocol.OfflineClient`) to `progress` after the job, as
    if they had come live: the History gets every epoch, callbacks run
    epoch by epoch on the logs (the model holds the final weights; a
    callback's request to stop comes too late to act)."""
    messages = parse_messages(recorded)
    address = next((m["address"] for m in messages if m["type"] == "offline"), "?")
    logger.warning("The workers could not report while training (they cannot reach this process's job server "
                   "at %s; ZOOAPI_CLIENT_HOST sets the address they are given): trained without live progress; "
                   "the callbacks run now, on the epoch logs the chief recorded, and could not stop training "
                   "(use `end_trigger`, which the workers evaluate).", address)
    for message in messages:
        if message["type"] == WORKER_ROWS:
            _log_worker_rows(message)
        else:
            progress(Event(message, None, lambda answer: None))
