"""Built-in models on Spark DataFrames.

`ImageClassifier` wraps a `keras.applications` backbone (ResNet50,
MobileNetV2, EfficientNetB0, DenseNet121, InceptionV3) or your own Keras
model with the right preprocessing: `featurize` adds image features to a
DataFrame (MMLSpark's ImageFeaturizer), `fine_tune` trains a single- or
multi-label classifier and returns a Spark ML model. `multi_hot_labels`,
`distinct_labels` and `per_class_auc` cover multi-label data such as the
NIH chest X-rays ('Cardiomegaly|Effusion'); `resize_images` brings an image
column to one size on the workers. `ImageSimilarity` indexes images by their
embeddings and finds each query's nearest neighbours (exact, or Spark ML's
LSH). `ObjectDetector` trains a single-stage detector on images with a boxes
column (read from CSV, Pascal VOC or COCO annotations; `shapes_frame`
generates such data) and detects, evaluates (COCO mAP) and draws.
`AnomalyDetector` (stacked LSTMs that
predict a series' next value, with `zooapi.feature.timeseries`) and
`TextClassifier` (raw text in, with `zooapi.feature.text`) are the time
series and text models; `zooapi.models.datasets` loads their data sets.

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
    "AnomalyDetector", "ColumnFeatureInfo", "ImageClassifier", "ImageClassifierModel", "ImageFeaturizer",
    "ImageSimilarity", "NeuralCF", "ObjectDetector", "Recommender", "SessionRecommender", "TextClassifier",
    "WideAndDeep", "distinct_labels", "multi_hot_labels", "per_class_auc", "read_box_csv",
    "read_coco_annotations", "read_coco_label_map", "read_pascal_label_map", "read_voc_annotations",
    "resize_images", "shapes_frame",
]

_WHERE = {
    "AnomalyDetector": "zooapi.models.anomaly_detector",
    "ImageClassifier": "zooapi.models.image_classifier",
    "ImageClassifierModel": "zooapi.models.image_stages",
    "ImageFeaturizer": "zooapi.models.image_stages",
    "ImageSimilarity": "zooapi.models.image_similarity",
    "ObjectDetector": "zooapi.models.object_detector",
    "distinct_labels": "zooapi.models.multilabel",
    "multi_hot_labels": "zooapi.models.multilabel",
    "NeuralCF": "zooapi.models.neural_cf",
    "Recommender": "zooapi.models.recommender",
    "ColumnFeatureInfo": "zooapi.models.wide_and_deep",
    "WideAndDeep": "zooapi.models.wide_and_deep",
    "SessionRecommender": "zooapi.models.session_recommender",
    "per_class_auc": "zooapi.models.multilabel",
    "read_box_csv": "zooapi.models.boxes",
    "read_coco_annotations": "zooapi.models.boxes",
    "read_coco_label_map": "zooapi.models.label_maps",
    "read_pascal_label_map": "zooapi.models.label_maps",
    "read_voc_annotations": "zooapi.models.boxes",
    "resize_images": "zooapi.models.images",
    "shapes_frame": "zooapi.models.shapes",
    "TextClassifier": "zooapi.models.text_classifier",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'zooapi.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
