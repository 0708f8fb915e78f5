"""The Params of the nnframes stages, declared once, in one table each.

As `pyspark.ml.param.shared` does with its generated mixins, every Param is
one line of (name, doc, converter, default); `params_mixin` turns a table into
a `Params` mixin with the Param as a class attribute and its `getX`/`setX`.
Names follow `pyspark.ml.param.shared` wherever a shared Param exists.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from pyspark.ml.param import Param, Params, TypeConverters

from zooapi.checks import check_int


class ParamSpec(NamedTuple):
    name: str
    doc: str
    converter: Callable[[Any], Any]
    default: Any


def _to_column_spec(value: Any) -> Any:
    """A column name, or a list of names (or of lists, for several inputs)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(
        isinstance(v, str) or (isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v)) for v in value
    ):
        return [v if isinstance(v, str) else list(v) for v in value]
    raise TypeError(f"Expected a column name or a list of column names. Received: {value!r}")


def _to_optimizer(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if hasattr(value, "get_config") and hasattr(value, "apply"):
        return value
    raise TypeError(f"Expected a Keras optimizer name (e.g. 'adam') or instance. Received: {value!r}")


def _to_any(value: Any) -> Any:
    return value


def _to_metric_list(value: Any) -> list:
    values = [value] if isinstance(value, str) or not isinstance(value, (list, tuple)) else list(value)
    for v in values:
        if not (isinstance(v, str) or callable(v)):
            raise TypeError(f"Expected metric names or Keras metrics. Received: {v!r}")
    return values


def _to_trigger(value: Any) -> Any:
    from zooapi.optim.triggers import Trigger

    if value is not None and not isinstance(value, Trigger):
        raise TypeError(f"Expected a zooapi.optim trigger (EveryEpoch(), SeveralIteration(n), ...). Received: {value!r}")
    return value


def _to_summary(value: Any) -> Any:
    from zooapi.optim.summary import Summary

    if value is not None and not isinstance(value, Summary):
        raise TypeError(f"Expected a zooapi.optim TrainSummary or ValidationSummary. Received: {value!r}")
    return value


class _ToInt:
    """A Param's converter to an int >= `minimum` whose error names the Param
    (PySpark passes a converter only the value, so each Param gets its own)."""

    def __init__(self, name: str, minimum: int):
        self.name, self.minimum = name, minimum

    def __call__(self, value: Any) -> int:
        return check_int(self.name, TypeConverters.toInt(value), minimum=self.minimum)


def positive_int(name: str) -> _ToInt:
    return _ToInt(name, 1)


def non_negative_int(name: str) -> _ToInt:
    return _ToInt(name, 0)


def _to_verbose(value: Any) -> int:
    value = TypeConverters.toInt(value)
    if value not in (0, 1, 2):
        raise ValueError(f"Received an invalid value for `verbose`, expected 0 (silent), 1 (progress bar) or 2 "
                         f"(one line per epoch). Received: verbose={value!r}")
    return value


def _to_class_weight(value: Any) -> dict[int, float] | None:
    """{class index: weight}; keys saved as JSON strings come back as ints."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError("Received an invalid value for `classWeight`, expected a dict of class index to weight. "
                        f"Received: classWeight of type {type(value).__name__}")
    try:
        return {int(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise ValueError("Received an invalid value for `classWeight`, expected integer class indices and "
                         f"numeric weights. Received: classWeight={value!r}") from None


ESTIMATOR_PARAMS = [
    ParamSpec("featuresCol", "features column name, or a list of names (several numeric columns, or one entry per model input)", _to_column_spec, "features"),
    ParamSpec("labelCol", "label column name, or a list of names (one entry per model output)", _to_column_spec, "label"),
    ParamSpec("predictionCol", "prediction column name", TypeConverters.toString, "prediction"),
    ParamSpec("batchSize", "global batch size, split across the workers (>= numWorkers)", positive_int("batchSize"), 32),
    ParamSpec("maxEpoch", "number of epochs to train", positive_int("maxEpoch"), 10),
    ParamSpec("learningRate", "learning rate of the optimizer; when not set, an optimizer instance keeps its own", TypeConverters.toFloat, 1e-3),
    ParamSpec("optimMethod", "Keras optimizer: a name such as 'adam' or 'sgd', or an instance", _to_optimizer, "adam"),
    ParamSpec("numWorkers", "number of Spark barrier tasks to train on; 0 means the session's default parallelism", non_negative_int("numWorkers"), 0),
    ParamSpec("shuffle", "draw training rows in a new random order every pass", TypeConverters.toBoolean, True),
    ParamSpec("seed", "random seed for shuffling and initialisation", TypeConverters.toInt, 42),
    ParamSpec("validationDf", "DataFrame evaluated after every epoch (not saved with the stage); see setValidation", _to_any, None),
    ParamSpec("validationMetrics", "metrics reported on validationDf: Keras metric names or instances, or Top1Accuracy, Top5Accuracy, MAE, AUC, Loss", _to_metric_list, []),
    ParamSpec("validationTrigger", "when to validate on validationDf: a zooapi.optim trigger (default every epoch; not saved)", _to_trigger, None),
    ParamSpec("endWhen", "a zooapi.optim trigger that ends training (then maxEpoch, unless set, does not; not saved)", _to_trigger, None),
    ParamSpec("checkpointPath", "folder (local or pyarrow.fs URL) for checkpoints: weights, optimizer state, position; empty for none", TypeConverters.toString, ""),
    ParamSpec("checkpointTrigger", "when to write a checkpoint: a zooapi.optim trigger (default every epoch; not saved)", _to_trigger, None),
    ParamSpec("checkpointOverwrite", "keep only the newest checkpoint", TypeConverters.toBoolean, True),
    ParamSpec("resume", "continue training from the newest checkpoint in checkpointPath", TypeConverters.toBoolean, False),
    ParamSpec("trainSummary", "a zooapi.optim.TrainSummary recording Loss, LearningRate, Throughput per iteration (not saved)", _to_summary, None),
    ParamSpec("validationSummary", "a zooapi.optim.ValidationSummary recording validation metrics (not saved)", _to_summary, None),
    ParamSpec("clipNorm", "clip each gradient to this L2 norm (the optimizer's clipnorm); 0 for none", TypeConverters.toFloat, 0.0),
    ParamSpec("clipValue", "clip gradient values to [-clipValue, clipValue] (the optimizer's clipvalue); 0 for none", TypeConverters.toFloat, 0.0),
    ParamSpec("weightCol", "column of per-row loss weights (Keras' sample_weight); empty for none", TypeConverters.toString, ""),
    ParamSpec("classWeight", "{class index: weight} multiplying each training row's loss (Keras' class_weight); None for none", _to_class_weight, None),
    ParamSpec("cachingSample", "persist the selected training columns while training (helps when the input is costly to recompute)", TypeConverters.toBoolean, False),
    # 0, as every Spark ML estimator is silent: inside CrossValidator (parallelism > 1) progress
    # bars of concurrent fits would interleave. zooapi's per-epoch lines still go to `logging`.
    ParamSpec("verbose", "training output on the console: 0 silent (per-epoch lines still go to logging), 1 progress bar, 2 one line per epoch", _to_verbose, 0),
]

# The training Params a fitted model carries, as Spark ML models carry their
# estimator's: `CrossValidatorModel.bestModel.getLearningRate()` is the value that won.
# (`batchSize` is in MODEL_PARAMS: a fitted model also predicts in batches of it.)
FITTED_WITH = ("labelCol", "maxEpoch", "learningRate", "optimMethod", "numWorkers", "shuffle", "seed",
               "clipNorm", "clipValue", "verbose", "weightCol", "classWeight")

MODEL_PARAMS = [
    ParamSpec("featuresCol", ESTIMATOR_PARAMS[0].doc, _to_column_spec, "features"),
    ParamSpec("predictionCol", "prediction column name (a struct with one field per output for a model with several outputs)", TypeConverters.toString, "prediction"),
    ParamSpec("batchSize", "rows per forward pass when predicting; a fitted model's is the global batch size it was trained with", positive_int("batchSize"), 1024),
] + [ParamSpec(s.name, f"as fitted (no effect on transform): {s.doc}", s.converter, s.default)
     for s in ESTIMATOR_PARAMS if s.name in FITTED_WITH]

CLASSIFIER_PARAMS = [
    ParamSpec("probabilityCol", "column of class probabilities (a Vector); empty to leave it out", TypeConverters.toString, "probability"),
    ParamSpec("rawPredictionCol", "column of raw scores (a Vector); empty to leave it out", TypeConverters.toString, "rawPrediction"),
    ParamSpec("threshold", "for a model with one sigmoid output: predict 1 when the probability is above it", TypeConverters.toFloat, 0.5),
    ParamSpec("predictedLabelCol", "column of the predicted label's string (as IndexToString), added when the labels were strings; empty to leave it out", TypeConverters.toString, "predictedLabel"),
]

CLASSIFIER_MODEL_PARAMS = [
    ParamSpec("labels", "the string labels, by class index (StringIndexer's order: most frequent first, ties alphabetical); empty when the labels were numbers", TypeConverters.toListString, []),
]


def _accessors(spec: ParamSpec) -> dict[str, Callable]:
    cap = spec.name[0].upper() + spec.name[1:]

    def getter(self):
        return self.getOrDefault(getattr(self, spec.name))

    def setter(self, value):
        return self._set(**{spec.name: value})

    getter.__doc__ = f"Gets the value of `{spec.name}` or its default value ({spec.default!r})."
    setter.__doc__ = f"Sets `{spec.name}`: {spec.doc}."
    getter.__name__, setter.__name__ = f"get{cap}", f"set{cap}"
    return {f"get{cap}": getter, f"set{cap}": setter}


def params_mixin(name: str, table: list[ParamSpec]) -> type:
    """A `Params` mixin class with one Param, getter and setter per row."""
    attrs: dict[str, Any] = {"__doc__": f"Params: {', '.join(s.name for s in table)}.", "_param_table": table}
    for spec in table:
        attrs[spec.name] = Param(Params._dummy(), spec.name, spec.doc, typeConverter=spec.converter)
        attrs.update(_accessors(spec))
    return type(name, (Params,), attrs)


def check_param_names(stage: Params, names) -> None:
    for name in names:
        if not stage.hasParam(name):
            raise ValueError(f"{type(stage).__name__} has no Param '{name}'. Its Params are: "
                             f"{', '.join(p.name for p in stage.params)}.")


def set_defaults(params: Params, *tables: list[ParamSpec]) -> None:
    params._setDefault(**{s.name: s.default for table in tables for s in table})


EstimatorParams = params_mixin("EstimatorParams", ESTIMATOR_PARAMS)
ModelParams = params_mixin("ModelParams", MODEL_PARAMS)
ClassifierParams = params_mixin("ClassifierParams", CLASSIFIER_PARAMS)
ClassifierModelParams = params_mixin("ClassifierModelParams", CLASSIFIER_MODEL_PARAMS)

# Params that hold objects Spark ML cannot write as JSON; saved otherwise or not at all.
UNSAVED_PARAMS = {"validationDf", "optimMethod", "validationTrigger", "endWhen", "checkpointTrigger",
                  "trainSummary", "validationSummary"}
