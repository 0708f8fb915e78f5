"""Preprocessing and augmentation that run on the workers (`feature_preprocessing`).

Example:
    >>> from zooapi.feature.image import ImageChannelNormalize, ImageMatToTensor
    >>> chain = ImageChannelNormalize(123.0, 117.0, 104.0) * ImageMatToTensor()
"""

from __future__ import annotations

from zooapi.feature import augment, image, image_files, preprocessing
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

__all__ = ["augment", "image", "image_files", "preprocessing", "ChainedPreprocessing", "ImageBytesToMat",
           "Preprocessing", "register_preprocessing",
           *augment.__all__, *[n for n in image.__all__ if n not in augment.__all__]]
