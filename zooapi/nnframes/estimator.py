"""`NNEstimator` and `NNModel`: a Keras model as a Spark ML Estimator and Model.

They adapt, as SciKeras does for scikit-learn: Params and data are routed to
`zooapi.engine`, and the Keras model stays a Keras model.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml import Estimator, Model

from zooapi.nnframes.params import (
    ESTIMATOR_PARAMS, MODEL_PARAMS, EstimatorParams, ModelParams, check_param_names, set_defaults,
)
from zooapi.feature.preprocessing import preprocessing_from_json, preprocessing_to_json
from zooapi.nnframes.persistence import PersistentStage


_OUTPUTS = "__zooapi_output"  # the per-output columns of a several-output model while transforming


def _require_dataframe(dataset, name: str = "dataset"):
    from zooapi.engine.frames import require_spark_dataframe

    return require_spark_dataframe(dataset, name)


def optimizer_to_json(method) -> Any:
    """`optimMethod` as JSON: a name as it is, an instance as Keras serializes it."""
    import keras

    return method if isinstance(method, str) else keras.optimizers.serialize(method)


def optimizer_from_json(value) -> Any:
    import keras

    return keras.optimizers.deserialize(value) if isinstance(value, dict) else value


def _check_model(model) -> None:
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a Keras model (keras.Model). Received: model={model!r}")


class NNEstimator(Estimator, EstimatorParams, PersistentStage):
    """Trains a Keras model on a DataFrame: `fit(df)` returns an `NNModel`.

    Every `fit` trains a copy of the model that starts from the weights the
    model had when the estimator was made: neither the estimator nor the
    Keras model changes, so `CrossValidator` can fit it many times.

    Defaults a user would pick (not Analytics Zoo's global batch 1 and 50
    epochs): `batchSize=32`, `maxEpoch=10`, `optimMethod="adam"` with
    `learningRate=1e-3`, all workers of the session (`numWorkers=0`), and
    `verbose=0`: silent on the console as every Spark ML estimator is (inside
    `CrossValidator` the bars of concurrent fits would interleave); set 1 for
    a progress bar or 2 for a line per epoch. The per-epoch lines also go to
    the `zooapi.engine.training` logger at INFO.

    A model with a `check_training_frame(df, feature_cols, label_cols)`
    method (the recommenders of `zooapi.models`: `NeuralCF`, `WideAndDeep`)
    checks the training DataFrame with it before training starts, as its own
    `fit` does: an out-of-range id is a `ValueError` naming the column and
    the value, not an error inside a training task.

    The fitted model carries the Params it was fitted with (`labelCol`,
    `batchSize`, `maxEpoch`, `learningRate`, `optimMethod`, `numWorkers`,
    `shuffle`, `seed`, `clipNorm`, `clipValue`, `verbose`), as Spark ML
    models do: `cv_model.bestModel.stages[-1].getLearningRate()` is the grid
    value that won.

    Args:
        model: a Keras model, compiled or not.
        loss: a Keras loss (name or instance); default the model's compiled loss.
        feature_preprocessing: a function of a NumPy batch, a Keras
            preprocessing layer, or a converter from `zooapi.nnframes`
            (`SeqToTensor`, ...), applied on the workers.
        label_preprocessing: the same for labels.
        **params: any Param, e.g. `featuresCol="features", maxEpoch=5`.

    Example:
        >>> est = NNEstimator(model, "mse", featuresCol="x", labelCol="y", maxEpoch=5)  # doctest: +SKIP
        >>> nn_model = est.fit(train_df)  # doctest: +SKIP
        >>> nn_model.transform(test_df).select("prediction").show()  # doctest: +SKIP
    """

    _model_class: type = None  # set below: the Model class `fit` returns

    def __init__(self, model=None, loss=None, feature_preprocessing=None, label_preprocessing=None, **params):
        super().__init__()
        set_defaults(self, ESTIMATOR_PARAMS)
        self._extra_defaults()
        self.model = model
        self.loss = loss
        self.feature_preprocessing = feature_preprocessing
        self.label_preprocessing = label_preprocessing
        self._initial = None
        if model is not None:
            from zooapi.worker.serialization import model_to_blob

            _check_model(model)
            self._initial = model_to_blob(model)  # every fit starts from these weights
        self.setParams(**params)

    def _extra_defaults(self) -> None:
        """Subclasses with more Params set their defaults here."""

    def setParams(self, **params):
        """Sets any Params by name, e.g. `setParams(maxEpoch=5, batchSize=64)`."""
        check_param_names(self, params)
        return self._set(**params)

    def setValidation(self, trigger=None, val_df=None, val_method=None, batch_size: int | None = None):
        """Evaluates `val_df` when `trigger` fires (a `zooapi.optim` trigger;
        default every epoch) with the metrics `val_method` (Keras metric names
        or instances, or `Top1Accuracy`, `Top5Accuracy`, `MAE`, `AUC`,
        `Loss`). Epoch-end results appear in the fitted model's `history` as
        `val_...`; all of them in the log and the validation summary."""
        if batch_size is not None and batch_size != self.getBatchSize():
            raise ValueError(f"Received an invalid value for `batch_size`, expected None: validation runs with the "
                             f"training `batchSize` ({self.getBatchSize()}; set it with setBatchSize). "
                             f"Received: batch_size={batch_size!r}")
        self._set(validationDf=val_df, validationTrigger=trigger)
        if val_method is not None:
            self._set(validationMetrics=[val_method] if isinstance(val_method, str) else list(val_method))
        return self

    def setCheckpoint(self, path: str, trigger=None, over_write: bool = True):
        """Writes checkpoints to `path` when `trigger` fires (default every
        epoch); `setResume(True)` continues from the newest, as do retries
        after a worker failure."""
        return self._set(checkpointPath=path, checkpointTrigger=trigger, checkpointOverwrite=over_write)

    def setGradientClippingByL2Norm(self, clip_norm: float):
        """Clips each gradient to an L2 norm of `clip_norm` (Keras' `clipnorm`)."""
        return self._set(clipNorm=clip_norm, clipValue=0.0)

    def setConstantGradientClipping(self, min_value: float, max_value: float):
        """Clips gradient values to [min_value, max_value]; Keras' `clipvalue`
        needs a symmetric range."""
        if max_value <= 0 or min_value != -max_value:
            raise ValueError("Keras clips gradient values to a symmetric range [-v, v]; expected "
                             f"min_value == -max_value > 0. Received: min_value={min_value}, max_value={max_value}")
        return self._set(clipValue=max_value, clipNorm=0.0)

    def clearGradientClipping(self):
        return self._set(clipNorm=0.0, clipValue=0.0)

    # -- training --------------------------------------------------------

    def _optimizer(self):
        import keras

        method = self.getOptimMethod()
        if isinstance(method, str):
            optimizer = keras.optimizers.get(method)
            optimizer.learning_rate = self.getLearningRate()
        else:
            optimizer = type(method).from_config(method.get_config())
            if self.isSet(self.learningRate):
                optimizer.learning_rate = self.getLearningRate()
        if self.getClipNorm() > 0:
            optimizer.clipvalue, optimizer.clipnorm = None, self.getClipNorm()
        elif self.getClipValue() > 0:
            optimizer.clipnorm, optimizer.clipvalue = None, self.getClipValue()
        return optimizer

    def _compiled_copy(self):
        if self._initial is None:
            raise ValueError(f"{type(self).__name__} has no model; pass one: {type(self).__name__}(model, ...).")
        # Uncompiled: it is compiled below. Loading the compile state of a model
        # that never trained makes Keras warn that it skips the optimizer's variables.
        model = self._initial.load(compile=False)
        config = self.model.get_compile_config() if getattr(self.model, "compiled", False) else None
        loss = self.loss if self.loss is not None else getattr(self.model, "loss", None)
        if loss is None:
            raise ValueError(f"{type(self).__name__} needs a loss: pass `loss=` or compile the model with one.")
        from zooapi.optim.metrics import resolve_metrics

        metrics = resolve_metrics(self.getValidationMetrics()) or (config or {}).get("metrics")
        model.compile(optimizer=self._optimizer(), loss=loss, metrics=metrics)
        return model

    def _training_labels(self, dataset, validation):
        """The frames and label column(s) training reads (a subclass may index
        labels here), and more Params to set on the fitted model."""
        return dataset, validation, self.getLabelCol(), {}

    def _fit(self, dataset):
        from zooapi import engine

        _require_dataframe(dataset)
        validation = self.getValidationDf()
        if validation is not None:
            _require_dataframe(validation, "validationDf")
        dataset, validation, label_col, learned = self._training_labels(dataset, validation)
        model = self._compiled_copy()
        check = getattr(model, "check_training_frame", None)
        if check is not None:
            check(dataset, self.getFeaturesCol(), label_col)
        epochs = self.getMaxEpoch()
        if self.getEndWhen() is not None and not self.isSet(self.maxEpoch):
            epochs = 10**9  # the end trigger decides
        if self.getCachingSample():
            dataset = dataset.persist()
        try:
            history = engine.fit(
                model, dataset, self.getFeaturesCol(), label_col,
                batch_size=self.getBatchSize(), epochs=epochs,
                num_workers=self.getNumWorkers() or None, validation_df=validation,
                verbose=self.getVerbose(), shuffle=self.getShuffle(), seed=self.getSeed(),
                feature_preprocessing=self.feature_preprocessing, label_preprocessing=self.label_preprocessing,
                validation_trigger=self.getValidationTrigger() if validation is not None else None,
                end_trigger=self.getEndWhen(), checkpoint_path=self.getCheckpointPath() or None,
                checkpoint_trigger=self.getCheckpointTrigger(), checkpoint_overwrite=self.getCheckpointOverwrite(),
                resume=self.getResume(), train_summary=self.getTrainSummary(),
                validation_summary=self.getValidationSummary(), class_weight=self.getClassWeight(),
                sample_weight_col=self.getWeightCol() or None)
        finally:
            if self.getCachingSample():
                dataset.unpersist()
        fitted = self._model_class(model, feature_preprocessing=self.feature_preprocessing)
        fitted.history = history
        self._copyValues(fitted)  # the Params it was fitted with, as Spark ML's copyValues
        fitted._set(**learned)
        return fitted

    # -- persistence -----------------------------------------------------

    def _model_bytes(self) -> bytes:
        if self._initial is None:
            raise ValueError(f"{type(self).__name__} has no model to save.")
        return self._initial.data

    def _extra_metadata(self) -> dict[str, Any]:
        import keras

        method = self.getOptimMethod()
        return {
            "loss": None if self.loss is None else keras.losses.serialize(keras.losses.get(self.loss))
            if not isinstance(self.loss, str) else self.loss,
            "optimMethod": optimizer_to_json(method),
            "feature_preprocessing": preprocessing_to_json(self.feature_preprocessing),
            "label_preprocessing": preprocessing_to_json(self.label_preprocessing),
        }

    @classmethod
    def _from_saved(cls, model, extra: dict[str, Any]):
        import keras

        loss = extra.get("loss")
        stage = cls(model, loss=keras.losses.deserialize(loss) if isinstance(loss, dict) else loss,
                    feature_preprocessing=preprocessing_from_json(extra.get("feature_preprocessing")),
                    label_preprocessing=preprocessing_from_json(extra.get("label_preprocessing")))
        method = extra.get("optimMethod")
        if method is not None:
            stage._set(optimMethod=optimizer_from_json(method))
        return stage


class NNModel(Model, ModelParams, PersistentStage):
    """A Keras model as a Spark ML Model: `transform(df)` adds `predictionCol`.

    The prediction is `double` when the model has one output unit, else
    `array<double>`; every input column is kept. A model with several
    outputs gets one struct column `predictionCol` with one field per output,
    in output order, named after the output (Keras' `output_names`), each
    `double` or `array<double>` as above: `prediction.<name>` selects one.
    The model is loaded once per Python worker and runs on batches of
    `batchSize` rows (default 1024; a fitted model's is the batch size it
    was trained with, as Keras' `predict` uses 32 unless told; set it to
    change it). Works on streaming DataFrames.

    A model returned by `NNEstimator.fit` carries the Params it was fitted
    with (`getLearningRate()`, `getMaxEpoch()`, ...), saved and loaded with it.

    Args:
        model: a Keras model.
        feature_preprocessing: as for `NNEstimator`.
        **params: any Param, e.g. `featuresCol="features"`.

    Example:
        >>> NNModel(model, featuresCol="x").transform(df).show()  # doctest: +SKIP
    """

    def __init__(self, model=None, feature_preprocessing=None, **params):
        super().__init__()
        set_defaults(self, MODEL_PARAMS)
        self._extra_defaults()
        if model is not None:
            _check_model(model)
        self.model = model
        self.feature_preprocessing = feature_preprocessing
        self.history = None
        check_param_names(self, params)
        self._set(**params)

    def _extra_defaults(self) -> None:
        """Subclasses with more Params set their defaults here."""

    def output_names(self) -> list[str]:
        """The model's output names, in output order (one per output; unique)."""
        from zooapi.engine.plan import output_shapes

        count = len(output_shapes(self.model))
        names = list(getattr(self.model, "output_names", None) or [])
        if len(names) != count or len(set(names)) != count:
            names = [f"output_{i}" for i in range(count)]
        return names

    def _predict(self, dataset, prediction_col):
        from zooapi import engine

        if self.model is None:
            raise ValueError(f"{type(self).__name__} has no model.")
        return engine.predict(self.model, dataset, self.getFeaturesCol(), prediction_col=prediction_col,
                              batch_size=self.getBatchSize(), feature_preprocessing=self.feature_preprocessing)

    def _predict_outputs(self, dataset, prefix: str):
        """`dataset` with one column per model output, and their names: `prefix`
        itself for one output, else `prefix_0`, `prefix_1`... in output order."""
        count = len(self.output_names())
        names = [prefix] if count == 1 else [f"{prefix}_{i}" for i in range(count)]
        return self._predict(dataset, names[0] if count == 1 else names), names

    def _transform(self, dataset):
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        _require_dataframe(dataset)
        name = self.getPredictionCol()
        out, columns = self._predict_outputs(dataset, name if len(self.output_names()) == 1 else _OUTPUTS)
        values = [F.col(c).cast("array<double>") if isinstance(out.schema[c].dataType, T.ArrayType) else F.col(c)
                  for c in columns]
        if len(columns) == 1:
            return out.withColumn(name, values[0])
        fields = [value.alias(output) for value, output in zip(values, self.output_names())]
        return out.withColumn(name, F.struct(*fields)).drop(*columns)

    def _model_bytes(self) -> bytes:
        from zooapi.worker.serialization import model_to_blob

        return model_to_blob(self.model).data

    def _extra_metadata(self) -> dict[str, Any]:
        extra = {"feature_preprocessing": preprocessing_to_json(self.feature_preprocessing)}
        if self.isSet(self.optimMethod):
            extra["optimMethod"] = optimizer_to_json(self.getOptimMethod())
        return extra

    @classmethod
    def _from_saved(cls, model, extra: dict[str, Any]):
        stage = cls(model, feature_preprocessing=preprocessing_from_json(extra.get("feature_preprocessing")))
        if extra.get("optimMethod") is not None:
            stage._set(optimMethod=optimizer_from_json(extra["optimMethod"]))
        return stage


NNEstimator._model_class = NNModel
