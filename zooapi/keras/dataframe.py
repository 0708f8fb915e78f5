"""Keras' `fit` / `evaluate` / `predict` on a Spark DataFrame: maps Keras'
arguments onto `zooapi.engine`, which does the work on the cluster.

Nothing here imports PySpark or the engine at module import: a DataFrame is
recognised by its type's module, and the engine loads on first use.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

from zooapi.checks import check_int
from zooapi.sessions import is_connect

logger = logging.getLogger(__name__)

DEFAULT_FIT_BATCH = 32  # Keras' own default for `fit`

# Keras arguments that have no meaning for a DataFrame, with their no-op values.
_UNSUPPORTED = {
    "fit": {"steps_per_epoch": None,
            "validation_steps": None, "validation_batch_size": None, "validation_freq": 1},
    "evaluate": {"sample_weight": None, "steps": None},
    "predict": {"steps": None, "callbacks": None},
}


def is_spark_dataframe(x: Any) -> bool:
    """Whether `x` is a PySpark DataFrame (classic or Connect), checked
    without importing PySpark."""
    module = getattr(type(x), "__module__", "") or ""
    return module.startswith("pyspark.sql") and hasattr(x, "schema") and hasattr(x, "columns")


def keras_arguments(method: Callable, model, *args, **kwargs) -> dict[str, Any]:
    """The arguments of a call to Keras' `method`, by name, defaults filled in."""
    bound = inspect.signature(method).bind(model, *args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop(next(iter(inspect.signature(method).parameters)))  # self
    return arguments


def _is_pandas(x: Any) -> bool:
    module = getattr(type(x), "__module__", "") or ""
    return module.startswith(("pandas", "pyspark.pandas"))


def check_not_dataframe_only(x: Any, **values: Any) -> None:
    """Refuses DataFrame-only keywords when `x` is not a DataFrame; a pandas
    DataFrame with them gets the engine's message showing how to make a
    Spark one (`spark.createDataFrame(pdf)`)."""
    given = [name for name, value in values.items() if value is not None]
    if given and _is_pandas(x):
        from zooapi.engine.frames import require_spark_dataframe

        require_spark_dataframe(x, "x")
    if given:
        raise TypeError(
            f"`{given[0]}` applies only when `x` is a Spark DataFrame; received x of type "
            f"{type(x).__name__}. With NumPy arrays or a tf.data.Dataset, pass the data as in Keras.")


def _columns_text(df) -> str:
    return ", ".join(f"{name} ({kind})" for name, kind in df.dtypes)


def _require(df, method: str, name: str, value: Any, role: str) -> None:
    if value is None:
        raise ValueError(
            f"`x` is a Spark DataFrame, so `{method}` needs `{name}`: the column(s) that feed the "
            f"model's {role}. Received: {name}=None. The DataFrame's columns: {_columns_text(df)}.")


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else repr(value)


def _reject_unsupported(method: str, arguments: dict[str, Any]) -> None:
    for name, default in _UNSUPPORTED[method].items():
        value = arguments.get(name, default)
        if value is not default and (default is None or value != default):
            raise ValueError(
                f"`{name}` is not supported when `x` is a Spark DataFrame (in `{method}`). "
                f"Received: {name}={_describe(value)}")
    extra = arguments.get("kwargs")
    if extra:
        raise ValueError(f"Unexpected keyword argument(s) for `{method}` on a DataFrame: {sorted(extra)}")


def _label_names(label_cols: Any) -> list[str]:
    if isinstance(label_cols, str):
        return [label_cols]
    return [name for entry in label_cols for name in _label_names(entry)]


def _reject_string_labels(df, method: str, label_cols: Any) -> None:
    """Keras losses take numbers: a string label column needs indexing first."""
    from pyspark.sql import types as T

    fields = {f.name: f.dataType for f in df.schema.fields}
    for name in _label_names(label_cols):
        if isinstance(fields.get(name), T.StringType):
            raise TypeError(
                f"Label column '{name}' (`label_cols` in `{method}`) holds strings; expected numeric labels "
                f"(class indices 0..k-1). Index them first with `pyspark.ml.feature.StringIndexer("
                f"inputCol='{name}', outputCol='{name}_index')`, or train with "
                "`zooapi.nnframes.NNClassifier`, which indexes string labels itself. "
                f"Received: {name} of type string")


def _reject_y(method: str, y: Any) -> None:
    if y is not None:
        raise ValueError(
            f"`x` is a Spark DataFrame, so `{method}` reads the labels from the DataFrame: pass "
            f"their column(s) as `label_cols`, not as `y`. Received: y of type {type(y).__name__}")


def _verbose(verbose: Any) -> int:
    return 1 if verbose == "auto" else int(verbose)


def _with_partitions(df, num_workers: int | None):
    """`df` split into `num_workers` partitions (order kept when merging;
    over Spark Connect, which cannot tell the current count without a job,
    always a round-robin repartition)."""
    if num_workers is None:
        return df
    num_workers = check_int("num_workers", num_workers)
    if is_connect(df.sparkSession):
        return df.repartition(num_workers)
    current = df.rdd.getNumPartitions()
    if current == num_workers:
        return df
    return df.coalesce(num_workers) if num_workers < current else df.repartition(num_workers)


def _weight_column(sample_weight: Any) -> str | None:
    if sample_weight is not None and not isinstance(sample_weight, str):
        raise TypeError(
            "`x` is a Spark DataFrame, so `sample_weight` names the column of per-row weights. "
            f"Received: sample_weight={_describe(sample_weight)}")
    return sample_weight


def fit(model, df, arguments: dict[str, Any], feature_cols, label_cols, num_workers: int | None,
        seed: int | None, control: dict[str, Any] | None = None):
    """Keras' `fit(x=df, ...)` through `zooapi.engine.fit`; returns its History."""
    from zooapi import engine

    _require(df, "fit", "feature_cols", feature_cols, "input(s)")
    _require(df, "fit", "label_cols", label_cols, "output(s) as labels")
    _reject_y("fit", arguments["y"])
    _reject_unsupported("fit", arguments)
    _reject_string_labels(df, "fit", label_cols)
    validation = arguments["validation_data"]
    if validation is not None and not is_spark_dataframe(validation):
        raise TypeError(
            "`x` is a Spark DataFrame, so `validation_data` must be a DataFrame with the same "
            f"columns. Received: validation_data of type {type(validation).__name__}")
    split = arguments["validation_split"]
    if validation is None and split:
        if not 0 < split < 1:
            raise ValueError(f"Received an invalid value for `validation_split`, expected a number "
                             f"between 0 and 1. Received: validation_split={split!r}")
        # A DataFrame has no "last rows": hold out a random (seeded) fraction instead.
        df, validation = df.randomSplit([1.0 - split, split], seed=seed)
    return engine.fit(
        model, df, feature_cols, label_cols,
        batch_size=arguments["batch_size"] or DEFAULT_FIT_BATCH,
        epochs=arguments["epochs"],
        num_workers=num_workers,
        validation_df=validation,
        callbacks=arguments["callbacks"],
        verbose=_verbose(arguments["verbose"]),
        shuffle=bool(arguments["shuffle"]),
        seed=seed,
        initial_epoch=arguments["initial_epoch"],
        class_weight=arguments["class_weight"],
        sample_weight_col=_weight_column(arguments["sample_weight"]),
        **(control or {}),
    )


def evaluate(model, df, arguments: dict[str, Any], feature_cols, label_cols, num_workers: int | None,
             feature_preprocessing=None, label_preprocessing=None):
    """Keras' `evaluate(x=df, ...)` through `zooapi.engine.evaluate`: a dict
    with `return_dict=True`, else the loss then the metrics (a scalar when
    there is only the loss), as Keras returns them."""
    from zooapi import engine

    _require(df, "evaluate", "feature_cols", feature_cols, "input(s)")
    _require(df, "evaluate", "label_cols", label_cols, "output(s) as labels")
    _reject_y("evaluate", arguments["y"])
    _reject_unsupported("evaluate", arguments)
    _reject_string_labels(df, "evaluate", label_cols)
    options = {} if arguments["batch_size"] is None else {"batch_size": arguments["batch_size"]}
    callbacks = None
    if arguments["callbacks"]:
        import keras

        callbacks = keras.callbacks.CallbackList(
            arguments["callbacks"], model=model, verbose=_verbose(arguments["verbose"]), epochs=1, steps=None)
        callbacks.on_test_begin()
    logs = engine.evaluate(model, _with_partitions(df, num_workers), feature_cols, label_cols,
                           feature_preprocessing=feature_preprocessing, label_preprocessing=label_preprocessing,
                           **options)
    if callbacks is not None:
        callbacks.on_test_end(logs)
    logger.info("Evaluated on a DataFrame: %s", " ".join(f"{k}={v:.4f}" for k, v in logs.items()))
    if arguments["return_dict"]:
        return dict(logs)
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def predict(model, df, arguments: dict[str, Any], feature_cols, prediction_col, num_workers: int | None,
            feature_preprocessing=None):
    """Keras' `predict(x=df, ...)` through `zooapi.engine.predict`: the
    DataFrame with the prediction column(s) added (lazy). For a classifier,
    `zooapi.keras.predicted_class(prediction_col)` is the class index."""
    from zooapi import engine

    _require(df, "predict", "feature_cols", feature_cols, "input(s)")
    _reject_unsupported("predict", arguments)
    options = {} if arguments["batch_size"] is None else {"batch_size": arguments["batch_size"]}
    return engine.predict(model, _with_partitions(df, num_workers), feature_cols,
                          prediction_col=prediction_col or "prediction",
                          feature_preprocessing=feature_preprocessing, **options)
