"""`predict` and `evaluate` over Spark DataFrames (driver side).

Both ship the model once (`zooapi.sessions.ship_model`) and run `mapInArrow` tasks that keep
it loaded per Python worker (`zooapi.worker.inference`).
"""

from __future__ import annotations

import ast
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from zooapi.checks import check_int
from zooapi.context import check_worker_python
from zooapi.engine.frames import require_spark_dataframe
from zooapi.engine.jobs import worker_errors
from zooapi.engine.plan import feed_columns, output_shapes, plan_features, plan_labels
from zooapi.feed import output_spark_type
from zooapi.feed.columns import ColumnSpec
from zooapi.sessions import is_connect, session_key, ship_model
from zooapi.worker import metrics as M
from zooapi.worker.inference import InferenceJob, evaluate_partition, predict_partition
from zooapi.worker.serialization import arrays_from_bytes, model_to_blob

DEFAULT_PREDICT_BATCH = 1024
# For image, binary and string inputs, whose decoded rows are large (a 224x224
# image is 600 kB of float32): 1,024 of them would be a 600 MB forward batch.
DEFAULT_LARGE_ROW_BATCH = 64
_BROADCAST_CACHE: "OrderedDict[tuple[str, str], Any]" = OrderedDict()
_BROADCAST_CACHE_SIZE = 8


def clear_broadcast_cache() -> None:
    """Unpersists the model broadcasts kept for repeated predictions."""
    while _BROADCAST_CACHE:
        _BROADCAST_CACHE.popitem()[1].unpersist(blocking=False)


def model_broadcast(spark, blob, streaming: bool = False):
    """One broadcast (a session artifact over Spark Connect) per model content
    and Spark application, reused by every `predict` and `evaluate` of the
    same model (the oldest are unpersisted). A streaming query over Connect
    carries the model in its closure (`zooapi.sessions.InlineModel`)."""
    if streaming and is_connect(spark):
        return ship_model(spark, blob, streaming=True)
    key = (session_key(spark), blob.key)
    if key in _BROADCAST_CACHE:
        _BROADCAST_CACHE.move_to_end(key)
        return _BROADCAST_CACHE[key]
    broadcast = _BROADCAST_CACHE[key] = ship_model(spark, blob)
    while len(_BROADCAST_CACHE) > _BROADCAST_CACHE_SIZE:
        _BROADCAST_CACHE.popitem(last=False)[1].unpersist(blocking=False)
    return broadcast


def _inference_job(model, df, feature_cols: ColumnSpec, batch_size: int, labels: ColumnSpec | None = None,
                   feature_preprocessing=None, label_preprocessing=None):
    spark = df.sparkSession
    check_worker_python(spark)
    features = plan_features(model, df.schema, feature_cols, raw=feature_preprocessing is not None)
    if batch_size is None:
        batch_size = DEFAULT_PREDICT_BATCH if all(f.group.numeric for f in features) else DEFAULT_LARGE_ROW_BATCH
    batch_size = check_int("batch_size", batch_size)
    label_feeds = None if labels is None else plan_labels(
        model, df.schema, labels, raw=label_preprocessing is not None)
    blob = model_to_blob(model)
    threads = int(spark.conf.get("spark.task.cpus", "1") or 1)
    job = InferenceJob(blob.key, model_broadcast(spark, blob, df.isStreaming), features, batch_size, threads=threads,
                       labels=label_feeds, feature_preprocessing=feature_preprocessing,
                       label_preprocessing=label_preprocessing)
    return job, blob


def prediction_columns(prediction_col: str | Sequence[str], n_outputs: int) -> list[str]:
    if isinstance(prediction_col, str):
        return [prediction_col] if n_outputs == 1 else [f"{prediction_col}_{i}" for i in range(n_outputs)]
    names = list(prediction_col)
    if len(names) != n_outputs:
        raise ValueError(
            f"The model has {n_outputs} output(s) but `prediction_col` names {len(names)} column(s). "
            f"Received: prediction_col={prediction_col!r}")
    return names


def predict(model, df, feature_cols: ColumnSpec, prediction_col: str | Sequence[str] = "prediction",
            batch_size: int | None = None, feature_preprocessing=None):
    """The DataFrame with the model's predictions added, computed on the executors.

    Every input column is kept. A prediction column is `double` when the
    output has one value per row, else `array<float>` (the row's output
    flattened). A model with several outputs gets one column per output:
    `prediction_col` is then a list of names, or a prefix (`prediction_0`...).
    Works on streaming DataFrames too.

    Args:
        model: a Keras model.
        df: the DataFrame (batch or streaming).
        feature_cols: the column(s) feeding the model's input(s), as in `fit`.
        prediction_col: the name(s) of the new column(s).
        batch_size: rows per forward pass; default 1,024, or 64 when an
            input is an image, binary or string column (large rows once
            decoded).
        feature_preprocessing: a function (or Keras preprocessing layer)
            applied on the workers to each decoded batch of features.

    Returns:
        A DataFrame (lazy: nothing runs until an action).

    Example:
        >>> predict(model, df, "features").select("prediction").show(5)  # doctest: +SKIP
    """
    from pyspark.sql import types as T

    require_spark_dataframe(df, "df")
    shapes = output_shapes(model)
    names = prediction_columns(prediction_col, len(shapes))
    clash = [n for n in names if n in df.columns]
    if clash:
        raise ValueError(f"Column '{clash[0]}' already exists in the DataFrame; choose another `prediction_col`.")
    job, _ = _inference_job(model, df, feature_cols, batch_size, feature_preprocessing=feature_preprocessing)
    job.prediction_cols = names
    schema = T.StructType(df.schema.fields + [
        T.StructField(name, output_spark_type(shape or (None,)), nullable=False) for name, shape in zip(names, shapes)])
    return df.mapInArrow(lambda batches: predict_partition(job, batches), schema)


def evaluate(model, df, feature_cols: ColumnSpec, label_cols: ColumnSpec,
             batch_size: int | None = None, feature_preprocessing=None,
             label_preprocessing=None) -> dict[str, float]:
    """The loss and compiled metrics of `model` over all of `df`, exactly:
    every partition sums its metric states and the driver adds them up.

    `batch_size` as for `predict`.

    Returns:
        `{"loss": ..., "<metric>": ...}` as Keras' `evaluate(return_dict=True)`.

    Example:
        >>> evaluate(model, test_df, "features", "label")["accuracy"]  # doctest: +SKIP
    """
    from zooapi.checks import check_compiled

    require_spark_dataframe(df, "df")
    check_compiled(model)
    job, blob = _inference_job(model, df, feature_cols, batch_size, labels=label_cols,
                               feature_preprocessing=feature_preprocessing,
                               label_preprocessing=label_preprocessing)
    data = df.select(*feed_columns(job.features, job.labels))
    schema = "rows long, states binary, label_shapes string"
    with worker_errors():
        parts = data.mapInArrow(lambda batches: evaluate_partition(job, batches), schema).collect()
    if not parts:
        raise ValueError("Cannot evaluate on an empty DataFrame: it has no rows.")
    total = None
    for part in parts:
        total = M.add_states(total, arrays_from_bytes(part["states"]))
    return _metric_results(blob, shapes=ast.literal_eval(parts[0]["label_shapes"]), states=total)


def _metric_results(blob, shapes, states) -> dict[str, float]:
    """Adds summed states into a fresh copy of the model's metrics and reads them."""
    from zooapi.worker.inference import LoadedModel

    loaded = LoadedModel(blob.load(compile=True))
    metrics = loaded.evaluation_metrics()
    out_shapes = output_shapes(loaded.model)
    ys = [np.zeros((1, *s), np.float32) for s in shapes]
    preds = [np.full((1, *[d or 1 for d in (s or (1,))]), 0.5, np.float32) for s in out_shapes]
    loaded.model.compute_metrics(None, M.as_structure(ys), M.as_structure(preds), sample_weight=None)
    M.assign_states(metrics, states)
    return M.results(metrics)
