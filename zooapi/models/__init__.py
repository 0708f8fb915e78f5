"""Built-in models on Spark DataFrames.

`ImageClassifier` wraps a `keras.applications` backbone (ResNet50,
MobileNetV2, EfficientNetB0, DenseNet121, InceptionV3) or your own Keras
model with the right preprocessing: `featurize` adds image features to a
DataFrame (MMLSpark's ImageFeaturizer), `fine_tune` trains a single- or
multi-label classifier and returns a Spark ML model. `multi_hot_labels`,
`distinct_labels` and `per_class_auc` cover multi-label data such as the
NIH chest X-rays ('Cardiomegaly|Effusion'); `resize_images` brings an image
column to one size on the workers.

Recommendation: `NeuralCF` (neural collaborative filtering) and
`WideAndDeep` (with its `ColumnFeatureInfo`) are `zooapi.keras.Model`s with
the `Recommender` API (`predict_user_item_pair`, `recommend_for_user`,
`recommend_for_all_users` in Spark ALS's shape...); `SessionRecommender`
predicts a session's next item (`recommend_for_session`).

Importing this package is cheap: Keras and Spark ML load on first use of a name.

Example:
    >>> from zooapi.models import ImageClassifier  # doctest: +SKIP
    >>> clf = ImageClassifier("ResNet50", weights="imagenet")  # doctest: +SKIP
    >>> features = clf.featurize(NNImageReader.readImages(path, spark))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ColumnFeatureInfo", "ImageClassifier", "ImageClassifierModel", "ImageFeaturizer", "NeuralCF", "Recommender",
    "SessionRecommender", "WideAndDeep", "distinct_labels", "multi_hot_labels", "per_class_auc", "resize_images",
]

_WHERE = {
    "ImageClassifier": "zooapi.models.image_classifier",
    "ImageClassifierModel": "zooapi.models.image_stages",
    "ImageFeaturizer": "zooapi.models.image_stages",
    "distinct_labels": "zooapi.models.multilabel",
    "multi_hot_labels": "zooapi.models.multilabel",
    "NeuralCF": "zooapi.models.neural_cf",
    "Recommender": "zooapi.models.recommender",
    "ColumnFeatureInfo": "zooapi.models.wide_and_deep",
    "WideAndDeep": "zooapi.models.wide_and_deep",
    "SessionRecommender": "zooapi.models.session_recommender",
    "per_class_auc": "zooapi.models.multilabel",
    "resize_images": "zooapi.models.images",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'zooapi.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
