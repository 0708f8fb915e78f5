"""Image preprocessing and augmentation on NumPy batches, run on the workers.

Every transform takes a float32 batch `(n, height, width, channels)` and
returns a NumPy array. That is what zooapi's feed decodes from a Spark image
column, already in **RGB** order (Spark stores BGR; the feed swaps it):
`ImageChannelOrder` is only for batches you decoded yourself in BGR. Pixel
values are those of the image, 0 to 255, until you normalize them.

The random transforms (augmentation) live in `zooapi.feature.augment`; all
of them are importable from `zooapi.feature`.

They are `zooapi.feature.preprocessing.Preprocessing` objects: chain them
with `*` (or `ChainedPreprocessing`), pass the chain as
`feature_preprocessing` to `engine.fit/predict`, `NNEstimator` or the
Keras-style `fit`, and it saves as JSON with the stage.

Keras' own preprocessing layers do the work wherever one exists (resize,
crops, flips, rotation, brightness, contrast, hue, saturation, zoom,
translation); channel normalization, channel order, expansion and tensor
layout are written here.

Random transforms draw new values on every call, so every epoch sees new
variants. With `seed`, the sequence of outputs over successive calls is
reproducible: the Keras layer is created once per object and process with
that seed, and its generator advances with each call. The generator state is
not pickled: each Spark worker process starts the sequence from `seed` (so
two partitions augmented in the same order get the same random draws; leave
`seed=None` for independent draws, which the engine's seed then fixes per
training run).

Example:
    >>> import numpy as np
    >>> chain = ImageResize(32, 32) * ImageCenterCrop(28, 28) * ImageChannelNormalize(
    ...     123.0, 117.0, 104.0, 58.4, 57.1, 57.4) * ImageMatToTensor("NCHW")
    >>> chain(np.zeros((2, 40, 40, 3), np.float32)).shape
    (2, 3, 28, 28)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zooapi.checks import check_int
from zooapi.feature.preprocessing import Preprocessing, register_preprocessing
from zooapi.feature.spark_image import swap_red_blue

__all__ = ["ImageCenterCrop", "ImageChannelNormalize", "ImageChannelOrder", "ImageMatToTensor", "ImageResize"]


class ImagePreprocessing(Preprocessing):
    """Base of the image transforms: checks the batch is `(n, h, w, c)`."""

    def _batch(self, batch: Any) -> np.ndarray:
        arr = np.asarray(batch, dtype=np.float32)
        if arr.ndim != 4:
            raise ValueError(
                f"{type(self).__name__} expects a batch of images of shape (n, height, width, channels). "
                f"Received: an array of shape {arr.shape}. Apply it before `ImageMatToTensor('NCHW')`.")
        return arr

    def __getstate__(self) -> dict[str, Any]:
        # Keras layers and random generators are rebuilt in each process.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_state_")}


class KerasImageLayer(ImagePreprocessing):
    """A transform that calls one Keras preprocessing layer, created lazily
    (once per object and process) so that the object pickles without it."""

    training = False

    def make_layer(self):
        raise NotImplementedError

    def __call__(self, batch: Any) -> np.ndarray:
        import keras

        arr = self._batch(batch)
        layer = self.__dict__.get("_state_layer")
        if layer is None:
            layer = self._state_layer = self.make_layer()
        out = layer(arr, training=self.training)
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32)


class _Sized(KerasImageLayer):
    def __init__(self, height: int, width: int):
        self.height = check_int("height", height, owner=type(self).__name__)
        self.width = check_int("width", width, owner=type(self).__name__)

    def get_config(self) -> dict[str, Any]:
        return {"height": self.height, "width": self.width}


class ImageResize(_Sized):
    """Resizes every image to `(height, width)` (`keras.layers.Resizing`).

    Args:
        height: the output height.
        width: the output width.
        interpolation: Keras' interpolation name ("bilinear", "nearest",
            "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic").
        antialias: antialias when shrinking (Keras' `antialias`).

    Returns:
        Calling it returns `(n, height, width, c)` float32.

    Example:
        >>> ImageResize(8, 6)(np.zeros((1, 16, 12, 3))).shape
        (1, 8, 6, 3)
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", antialias: bool = False):
        super().__init__(height, width)
        self.interpolation = str(interpolation)
        self.antialias = bool(antialias)

    def make_layer(self):
        import keras

        return keras.layers.Resizing(self.height, self.width, interpolation=self.interpolation,
                                     antialias=self.antialias)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "interpolation": self.interpolation, "antialias": self.antialias}


class ImageCenterCrop(_Sized):
    """Crops the central `(height, width)` of every image
    (`keras.layers.CenterCrop`; an image smaller than that is first resized
    up, keeping its aspect ratio, as Keras does).

    Args:
        height: the crop's height.
        width: the crop's width.

    Example:
        >>> ImageCenterCrop(4, 4)(np.zeros((2, 8, 8, 3))).shape
        (2, 4, 4, 3)
    """

    def make_layer(self):
        import keras

        return keras.layers.CenterCrop(self.height, self.width)


class ImageChannelNormalize(ImagePreprocessing):
    """`(x - mean) / std` per color channel, means and stds given in RGB
    order (the batch's order). A fourth (alpha) channel is left as it is.

    Args:
        mean_r, mean_g, mean_b: the channel means (0-255 pixel units).
        std_r, std_g, std_b: the channel standard deviations (non-zero).

    Example:
        >>> ImageChannelNormalize(1, 2, 3)(np.full((1, 1, 1, 3), 3.0)).ravel().tolist()
        [2.0, 1.0, 0.0]
    """

    def __init__(self, mean_r: float, mean_g: float, mean_b: float,
                 std_r: float = 1.0, std_g: float = 1.0, std_b: float = 1.0):
        self.mean = [float(mean_r), float(mean_g), float(mean_b)]
        self.std = [float(std_r), float(std_g), float(std_b)]
        for name, value in zip(("std_r", "std_g", "std_b"), self.std):
            if value == 0 or not np.isfinite(value):
                raise ValueError(f"ImageChannelNormalize: received an invalid value for `{name}`, expected a "
                                 f"finite non-zero number. Received: {name}={value!r}")

    def __call__(self, batch: Any) -> np.ndarray:
        arr = self._batch(batch)
        if arr.shape[-1] not in (3, 4):
            raise ValueError(f"ImageChannelNormalize expects 3 (RGB) or 4 (RGBA) channels in the last axis. "
                             f"Received: a batch of shape {arr.shape}.")
        # x * (1/std) - mean/std with the per-channel factors tiled along each
        # image row: NumPy broadcasting over a last axis of 3 runs an inner loop
        # of 3 elements and was ~7x slower (0.74 ms per 224x224 image here).
        n, h, w, c = arr.shape
        scale = np.ones(c, np.float64)
        offset = np.zeros(c, np.float64)
        scale[:3] = 1.0 / np.asarray(self.std)
        offset[:3] = -np.asarray(self.mean) / np.asarray(self.std)
        out = np.multiply(arr.reshape(n * h, w * c), np.tile(scale, w).astype(np.float32))
        out += np.tile(offset, w).astype(np.float32)
        return out.reshape(n, h, w, c)

    def get_config(self) -> dict[str, Any]:
        return dict(zip(("mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b"), self.mean + self.std))


class ImageChannelOrder(ImagePreprocessing):
    """Swaps the first and third channels: BGR to RGB and back (BGRA to
    RGBA). Only for batches decoded in BGR by your own code: zooapi's feed
    already yields RGB from Spark's (BGR) image column.

    Example:
        >>> ImageChannelOrder()(np.array([[[[1.0, 2.0, 3.0]]]])).ravel().tolist()
        [3.0, 2.0, 1.0]
    """

    def __call__(self, batch: Any) -> np.ndarray:
        arr = self._batch(batch)
        if arr.shape[-1] < 3:
            raise ValueError(f"ImageChannelOrder expects at least 3 channels in the last axis. Received: a "
                             f"batch of shape {arr.shape}.")
        return swap_red_blue(arr)


class ImageMatToTensor(ImagePreprocessing):
    """The batch in the layout the model takes: "NHWC" (Keras' default,
    `channels_last`; the batch as it is) or "NCHW" (`channels_first`).
    Put it last in a chain.

    Args:
        format: "NHWC" or "NCHW".

    Example:
        >>> ImageMatToTensor("NCHW")(np.zeros((2, 5, 4, 3))).shape
        (2, 3, 5, 4)
    """

    def __init__(self, format: str = "NHWC"):
        if format not in ("NHWC", "NCHW"):
            raise ValueError(f"ImageMatToTensor: received an invalid value for `format`, expected 'NHWC' or "
                             f"'NCHW'. Received: format={format!r}")
        self.format = format

    def __call__(self, batch: Any) -> np.ndarray:
        arr = self._batch(batch)
        return np.ascontiguousarray(arr.transpose(0, 3, 1, 2) if self.format == "NCHW" else arr)

    def get_config(self) -> dict[str, Any]:
        return {"format": self.format}


for _cls in (ImageResize, ImageCenterCrop, ImageChannelNormalize, ImageChannelOrder, ImageMatToTensor):
    register_preprocessing(_cls)
