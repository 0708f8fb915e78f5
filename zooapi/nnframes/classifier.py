"""`NNClassifier` and `NNClassifierModel`: Keras classifiers as Spark ML ones."""

from __future__ import annotations

from zooapi.nnframes.estimator import NNEstimator, NNModel
from zooapi.nnframes.params import CLASSIFIER_PARAMS, ClassifierParams, set_defaults

_OUT = "__zooapi_scores"


class NNClassifier(NNEstimator, ClassifierParams):
    """Trains a Keras classifier; `fit(df)` returns an `NNClassifierModel`.

    The model should end in a softmax over the classes (labels are class
    indices 0..k-1, loss `sparse_categorical_crossentropy` by default), or in
    one sigmoid unit for two classes (pass `loss="binary_crossentropy"`).
    Defaults as `NNEstimator`.

    Example:
        >>> clf = NNClassifier(model, featuresCol="features", labelCol="label", maxEpoch=20)  # doctest: +SKIP
        >>> clf.fit(train_df).transform(test_df).select("prediction", "probability").show()  # doctest: +SKIP
    """

    def __init__(self, model=None, loss="sparse_categorical_crossentropy", feature_preprocessing=None,
                 label_preprocessing=None, **params):
        super().__init__(model, loss=loss, feature_preprocessing=feature_preprocessing,
                         label_preprocessing=label_preprocessing, **params)

    def _extra_defaults(self) -> None:
        set_defaults(self, CLASSIFIER_PARAMS)

    def _copy_to_model(self, fitted) -> None:
        super()._copy_to_model(fitted)
        fitted._set(probabilityCol=self.getProbabilityCol(), rawPredictionCol=self.getRawPredictionCol(),
                    threshold=self.getThreshold())


class NNClassifierModel(NNModel, ClassifierParams):
    """A fitted Keras classifier as a Spark ML classification model.

    `transform` writes, as every Spark ML probabilistic classifier does:
    `predictionCol`, the class index as `double`, **0-based** (BigDL's was
    1-based); `probabilityCol`, the class probabilities as a `Vector`; and
    `rawPredictionCol`, the model's scores as a `Vector` (the same numbers:
    the model ends in softmax or sigmoid). Set either of the last two to ""
    to leave it out. A model with one sigmoid unit predicts 1 when its output
    is above `threshold` (default 0.5). `MulticlassClassificationEvaluator`
    and `BinaryClassificationEvaluator` work on the output unchanged.

    Example:
        >>> NNClassifierModel(model).transform(df).select("prediction").show()  # doctest: +SKIP
    """

    def _extra_defaults(self) -> None:
        set_defaults(self, CLASSIFIER_PARAMS)

    def _transform(self, dataset):
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        out = self._predict(dataset, _OUT)
        scores = F.col(_OUT)
        if isinstance(out.schema[_OUT].dataType, T.ArrayType):
            vector = array_to_vector(scores)
            prediction = (F.array_position(scores, F.array_max(scores)) - 1).cast("double")
        else:
            vector = array_to_vector(F.array(F.lit(1.0) - scores, scores))
            prediction = (scores > F.lit(self.getThreshold())).cast("double")
        columns = {self.getPredictionCol(): prediction}
        for name in (self.getRawPredictionCol(), self.getProbabilityCol()):
            if name:
                columns[name] = vector
        return out.withColumns(columns).drop(_OUT)


NNClassifier._model_class = NNClassifierModel
