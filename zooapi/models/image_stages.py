"""The Spark ML stages for models with one image input: `ImageFeaturizer`
(image features as a column, MMLSpark's ImageFeaturizer) and
`ImageClassifierModel` (a fine-tuned classifier, single- or multi-label).

Both are nnframes stages (`NNModel`, `NNClassifierModel`) whose `featuresCol`
is an image column: Spark's image schema, resized on the workers to the
model's input (`zooapi.models.images.resize_images`), fed, and dropped, or
encoded image files (binary, `NNImageReader.readImages(..., decode=False)`),
decoded to the model's input size by `ImageBytesToMat` in the task that
feeds the model (the fastest route). Images of any size or channel count
work. They save and load as every nnframes stage, alone or inside a
`PipelineModel`.

Example:
    >>> from zooapi.models import ImageClassifierModel  # doctest: +SKIP
    >>> ImageClassifierModel(keras_model, multiLabel=True).transform(images).select("prediction").show(3)  # doctest: +SKIP
"""

from __future__ import annotations

from pyspark.ml.param import TypeConverters

from zooapi.models.images import image_input
from zooapi.nnframes.classifier import NNClassifierModel
from zooapi.nnframes.estimator import NNModel
from zooapi.nnframes.params import ParamSpec, params_mixin, set_defaults

__all__ = ["ImageClassifierModel", "ImageFeaturizer"]

_IMAGES = "__zooapi_images"  # the resized copy of the image column while predicting
_SCORES = "__zooapi_image_scores"
DEFAULT_IMAGE_BATCH = 64


def _image_shape(model) -> tuple[int, int, int]:
    """The (height, width, channels) of a model's one image input."""
    inputs = list(getattr(model, "inputs", None) or [])
    shape = tuple(inputs[0].shape[1:]) if len(inputs) == 1 else ()
    if len(shape) != 3 or None in shape or shape[2] not in (1, 3):
        raise ValueError(f"Expected a model with one image input of a known (height, width, 1 or 3 channels) "
                         f"shape. Received: model {model.name!r} with input shape(s) "
                         f"{[tuple(t.shape) for t in inputs]}.")
    return tuple(int(s) for s in shape)


class _ImageInput:
    """Prediction for a model with one image input: the stage's image column
    (Spark images, resized on the workers into a temporary column, or
    encoded files, decoded to the input's size where they are fed) feeds the
    model."""

    def _predict(self, dataset, prediction_col: str):
        from zooapi import engine
        from zooapi.feature.preprocessing import chain

        if self.model is None:
            raise ValueError(f"{type(self).__name__} has no model.")
        height, width, channels = _image_shape(self.model)
        frame, column, decode = image_input(dataset, self.getFeaturesCol(), "featuresCol", height, width, channels,
                                            output_col=_IMAGES)
        out = engine.predict(self.model, frame, column, prediction_col=prediction_col, batch_size=self.getBatchSize(),
                             feature_preprocessing=chain(decode, self.feature_preprocessing))
        return out.drop(_IMAGES)


class ImageFeaturizer(_ImageInput, NNModel):
    """A Spark ML Transformer that adds an image column's features (a Keras
    model's output, e.g. a backbone's pooled last feature map) as
    `array<float>`: MMLSpark's `ImageFeaturizer`. Made by
    `ImageClassifier.featurizer()`.

    Params as `NNModel`: `featuresCol` is the image column (default
    "image"), `predictionCol` the features column (default "features"),
    `batchSize` the images per forward pass (default 64). Images of any size
    or channel count are resized on the workers to the model's input.

    Args:
        model: the Keras model whose output is the features.
        feature_preprocessing: preprocessing applied on the workers to the
            images once resized to the model's input (e.g. a normalization).
        **params: the stage's Params by name (`featuresCol`,
            `predictionCol`, `batchSize`).

    Example:
        >>> featurizer = ImageClassifier("ResNet50").featurizer(output_col="embedding")  # doctest: +SKIP
        >>> featurizer.transform(images).select("embedding").show(3)  # doctest: +SKIP
    """

    def _extra_defaults(self) -> None:
        self._setDefault(featuresCol="image", predictionCol="features", batchSize=DEFAULT_IMAGE_BATCH)

    def _transform(self, dataset):
        return self._predict(dataset, self.getPredictionCol())


IMAGE_CLASSIFIER_PARAMS = [
    ParamSpec("multiLabel", "one sigmoid per class: prediction is a multi-hot array<double> (probability above "
              "threshold), probability the per-class probabilities", TypeConverters.toBoolean, False),
    ParamSpec("classNames", "the class names, in the order of the model's outputs (empty when unnamed)",
              TypeConverters.toListString, []),
]
ImageClassifierParams = params_mixin("ImageClassifierParams", IMAGE_CLASSIFIER_PARAMS)


class ImageClassifierModel(_ImageInput, NNClassifierModel, ImageClassifierParams):
    """A fine-tuned image classifier as a Spark ML model; what
    `ImageClassifier.fine_tune` returns.

    Like `NNClassifierModel`, with an image column as `featuresCol` (default
    "image", resized on the workers to the model's input) and `batchSize`
    64 images per forward pass. Single-label (softmax): `prediction` is the
    class index (`double`, 0-based), `probability` and `rawPrediction` the
    class probabilities (Vectors). Multi-label (`multiLabel`, one sigmoid per
    class): `prediction` is a multi-hot `array<double>` (1.0 where the
    probability is above `threshold`), `probability` and `rawPrediction` the
    per-class probabilities (Vectors); `zooapi.models.per_class_auc` scores
    them. `classNames` names the outputs. Saves and loads as every nnframes
    stage, alone or inside a `PipelineModel`.

    Args:
        model: the fine-tuned Keras model.
        feature_preprocessing: preprocessing applied on the workers to the
            images once resized to the model's input (e.g. a normalization).
        **params: the stage's Params by name (`featuresCol`, `batchSize`,
            `multiLabel`, `threshold`, `classNames`, ...).

    Example:
        >>> model = ImageClassifierModel(keras_model, featuresCol="image", multiLabel=True)  # doctest: +SKIP
        >>> model.transform(df).select("prediction", "probability").show(3)  # doctest: +SKIP
    """

    def _extra_defaults(self) -> None:
        super()._extra_defaults()
        set_defaults(self, IMAGE_CLASSIFIER_PARAMS)
        self._setDefault(featuresCol="image", batchSize=DEFAULT_IMAGE_BATCH)

    def _transform(self, dataset):
        if not self.getMultiLabel():
            return super()._transform(dataset)
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        out = self._predict(dataset, _SCORES)
        scores = F.col(_SCORES)
        if not isinstance(out.schema[_SCORES].dataType, T.ArrayType):
            scores = F.array(scores)
        threshold = float(self.getThreshold())
        columns = {self.getPredictionCol(): F.transform(scores, lambda s: (s > F.lit(threshold)).cast("double"))}
        for name in (self.getRawPredictionCol(), self.getProbabilityCol()):
            if name:
                columns[name] = array_to_vector(scores)
        return out.withColumns(columns).drop(_SCORES)
