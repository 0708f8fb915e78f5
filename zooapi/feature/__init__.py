"""Preprocessing and augmentation that run on the workers (`feature_preprocessing`).

Deterministic image transforms (`zooapi.feature.image`), random augmentation
(`zooapi.feature.augment`), decoding of encoded image files
(`ImageBytesToMat`), time series windows and anomaly flags
(`zooapi.feature.timeseries`), a text vocabulary counted by Spark and GloVe
vectors (`zooapi.feature.text`), and the `Preprocessing` base with which your own
transforms chain with `*` and save as JSON (`register_preprocessing`).
Recommender pipelines get negative sampling, crossed hash buckets,
per-user splits and history sequences on DataFrames
(`zooapi.feature.recommendation`), and the ranking metrics HR@k and NDCG@k
(`zooapi.feature.ranking`). Every name here is importable from
`zooapi.feature`.

Example:
    >>> import numpy as np
    >>> from zooapi.feature import ImageCenterCrop, ImageChannelNormalize, ImageHFlip, ImageMatToTensor
    >>> chain = ImageCenterCrop(28, 28) * ImageHFlip(seed=1) * ImageChannelNormalize(
    ...     123.0, 117.0, 104.0) * ImageMatToTensor()
    >>> chain(np.zeros((2, 32, 32, 3), np.float32)).shape
    (2, 28, 28, 3)
"""

from __future__ import annotations

from zooapi.feature.augment import (
    ImageBrightness,
    ImageContrast,
    ImageExpand,
    ImageHFlip,
    ImageHue,
    ImageRandomCrop,
    ImageRandomRotation,
    ImageRandomTranslation,
    ImageRandomZoom,
    ImageSaturation,
)
from zooapi.feature.image import (
    ImageCenterCrop,
    ImageChannelNormalize,
    ImageChannelOrder,
    ImageMatToTensor,
    ImageResize,
)
from zooapi.feature.image_files import ImageBytesToMat
from zooapi.feature.preprocessing import ChainedPreprocessing, Preprocessing, register_preprocessing
from zooapi.feature.ranking import hit_ratio_at_k, ndcg_at_k, ranking_metrics
from zooapi.feature.recommendation import (
    add_history_sequence,
    add_negative_samples,
    cross_hash_bucket,
    leave_one_out_split,
    time_ordered_split,
)
from zooapi.feature.text import glove_embeddings, text_vocabulary
from zooapi.feature.timeseries import (
    detect_anomalies,
    series_stats,
    split_by_time,
    standard_scale,
    time_features,
    unroll,
)

__all__ = [
    "ChainedPreprocessing", "ImageBrightness", "ImageBytesToMat", "ImageCenterCrop", "ImageChannelNormalize",
    "ImageChannelOrder", "ImageContrast", "ImageExpand", "ImageHFlip", "ImageHue", "ImageMatToTensor",
    "ImageRandomCrop", "ImageRandomRotation", "ImageRandomTranslation", "ImageRandomZoom", "ImageResize",
    "ImageSaturation", "Preprocessing", "add_history_sequence", "add_negative_samples", "cross_hash_bucket",
    "detect_anomalies", "glove_embeddings", "hit_ratio_at_k", "leave_one_out_split", "ndcg_at_k",
    "ranking_metrics", "register_preprocessing", "series_stats", "split_by_time", "standard_scale",
    "text_vocabulary", "time_features", "time_ordered_split", "unroll",
]
