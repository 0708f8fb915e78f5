"""`NNClassifier` and `NNClassifierModel`: Keras classifiers as Spark ML ones."""

from __future__ import annotations

from zooapi.nnframes.estimator import NNEstimator, NNModel
from zooapi.nnframes.params import (
    CLASSIFIER_MODEL_PARAMS, CLASSIFIER_PARAMS, ClassifierModelParams, ClassifierParams, set_defaults,
)

_OUT = "__zooapi_scores"
_LABEL_INDEX = "__zooapi_label_index"  # the indexed string labels while training


class NNClassifier(NNEstimator, ClassifierParams):
    """Trains a Keras classifier; `fit(df)` returns an `NNClassifierModel`.

    The model should end in a softmax over the classes (labels are class
    indices 0..k-1, loss `sparse_categorical_crossentropy` by default), or in
    one sigmoid unit for two classes (pass `loss="binary_crossentropy"`).
    Defaults as `NNEstimator`.

    The label column may hold strings: they are indexed as Spark's
    `StringIndexer` indexes them (most frequent first, ties in alphabetical
    order; a Spark job counts them and only the distinct labels reach the
    driver), the fitted model keeps them (`getLabels()`, saved with it) and
    its `transform` adds `predictedLabelCol` (default "predictedLabel"), the
    predicted label's string, as `IndexToString` would. A label in
    `validationDf` that the training data lacks is an error.

    Args:
        model: a Keras model, compiled or not.
        loss: a Keras loss (default `sparse_categorical_crossentropy`).
        feature_preprocessing: as for `NNEstimator`.
        label_preprocessing: as for `NNEstimator`.
        **params: any Param, e.g. `featuresCol="features", maxEpoch=5`.

    Example:
        >>> clf = NNClassifier(model, featuresCol="features", labelCol="species", maxEpoch=20)  # doctest: +SKIP
        >>> clf.fit(train_df).transform(test_df).select("prediction", "predictedLabel").show()  # doctest: +SKIP
    """

    def __init__(self, model=None, loss="sparse_categorical_crossentropy", feature_preprocessing=None,
                 label_preprocessing=None, **params):
        super().__init__(model, loss=loss, feature_preprocessing=feature_preprocessing,
                         label_preprocessing=label_preprocessing, **params)

    def _extra_defaults(self) -> None:
        set_defaults(self, CLASSIFIER_PARAMS)

    def _training_labels(self, dataset, validation):
        from pyspark.ml.feature import StringIndexer
        from pyspark.sql import types as T

        label_col = self.getLabelCol()
        if not isinstance(label_col, str) or label_col not in dataset.columns:
            return super()._training_labels(dataset, validation)  # the engine names what is wrong
        if not isinstance(dataset.schema[label_col].dataType, T.StringType):
            return super()._training_labels(dataset, validation)
        indexer = StringIndexer(inputCol=label_col, outputCol=_LABEL_INDEX, stringOrderType="frequencyDesc",
                                handleInvalid="error").fit(dataset)
        if validation is not None:
            validation = indexer.transform(validation)
        return indexer.transform(dataset), validation, _LABEL_INDEX, {"labels": list(indexer.labels)}


class NNClassifierModel(NNModel, ClassifierParams, ClassifierModelParams):
    """A fitted Keras classifier as a Spark ML classification model.

    `transform` writes, as every Spark ML probabilistic classifier does:
    `predictionCol`, the class index as `double`, **0-based** (BigDL's was
    1-based); `probabilityCol`, the class probabilities as a `Vector`; and
    `rawPredictionCol`, the model's scores as a `Vector` (the same numbers:
    the model ends in softmax or sigmoid). Set either of the last two to ""
    to leave it out. A model with one sigmoid unit predicts 1 when its output
    is above `threshold` (default 0.5). `MulticlassClassificationEvaluator`
    and `BinaryClassificationEvaluator` work on the output unchanged.

    When it was fitted on string labels, `labels` holds them by class index
    and `predictedLabelCol` (default "predictedLabel"; "" to leave it out)
    the predicted label's string, as `IndexToString` gives it.

    A model with several outputs (several classification heads) writes each
    of those columns as a struct with one field per output, named after the
    output, in output order (see `NNModel`).

    Args:
        model: a Keras classifier (softmax or one sigmoid unit per output).
        feature_preprocessing: as for `NNEstimator`.
        **params: any Param, e.g. `featuresCol="features"`.

    Example:
        >>> NNClassifierModel(model).transform(df).select("prediction").show()  # doctest: +SKIP
    """

    def _extra_defaults(self) -> None:
        set_defaults(self, CLASSIFIER_PARAMS, CLASSIFIER_MODEL_PARAMS)

    def _class_columns(self, out, column: str):
        """(class index, scores as a Vector) for one output column."""
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        from zooapi.nnframes.functions import predicted_class

        scores = F.col(column)
        if isinstance(out.schema[column].dataType, T.ArrayType):
            return predicted_class(scores).cast("double"), array_to_vector(scores)
        threshold = float(self.getThreshold())
        return (predicted_class(scores, threshold).cast("double"),
                array_to_vector(F.array(F.lit(1.0) - scores, scores)))

    def _transform(self, dataset):
        from pyspark.sql import functions as F

        from zooapi.nnframes.estimator import _require_dataframe

        _require_dataframe(dataset)
        out, columns = self._predict_outputs(dataset, _OUT)
        pairs = [self._class_columns(out, c) for c in columns]
        if len(pairs) == 1:
            prediction, vector = pairs[0]
        else:
            names = self.output_names()
            prediction = F.struct(*[p.alias(n) for (p, _), n in zip(pairs, names)])
            vector = F.struct(*[v.alias(n) for (_, v), n in zip(pairs, names)])
        result = {self.getPredictionCol(): prediction}
        for name in (self.getRawPredictionCol(), self.getProbabilityCol()):
            if name:
                result[name] = vector
        out = out.withColumns(result).drop(*columns)
        labels, label_col = self.getLabels(), self.getPredictedLabelCol()
        if labels and label_col and len(pairs) == 1:
            from pyspark.ml.feature import IndexToString

            out = IndexToString(inputCol=self.getPredictionCol(), outputCol=label_col, labels=labels).transform(out)
        return out


NNClassifier._model_class = NNClassifierModel
