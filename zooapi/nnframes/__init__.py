"""Keras models as Spark ML stages: Estimators, Models and converters.

Example:
    >>> from zooapi.nnframes import NNClassifier  # doctest: +SKIP
    >>> pipeline = Pipeline(stages=[VectorAssembler(...), NNClassifier(model, featuresCol="vec")])  # doctest: +SKIP
"""

from zooapi.nnframes.classifier import NNClassifier, NNClassifierModel
from zooapi.nnframes.estimator import NNEstimator, NNModel
from zooapi.nnframes.functions import predicted_class
from zooapi.nnframes.image_reader import NNImageReader
from zooapi.feature.preprocessing import (
    ArrayToTensor,
    ChainedPreprocessing,
    MLlibVectorToTensor,
    ScalarToTensor,
    SeqToTensor,
)

__all__ = [
    "ArrayToTensor", "ChainedPreprocessing", "MLlibVectorToTensor", "NNClassifier", "NNClassifierModel",
    "NNEstimator", "NNImageReader", "NNModel", "ScalarToTensor", "SeqToTensor", "predicted_class",
]
