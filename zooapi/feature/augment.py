"""Random image augmentation on NumPy batches (importable from
`zooapi.feature`).

Each transform draws new random values on every call (per image, not per
batch), so each epoch sees new variants. With `seed` the whole sequence of
outputs over successive calls is reproducible from a fresh object: the Keras
layer (or NumPy generator) is created once per object and process with that
seed, and advances with each call. The input is a float32 batch
`(n, height, width, channels)` in RGB order with values in `value_range`
(0-255 for decoded images); the output keeps the batch's shape unless the
transform crops.

Example:
    >>> import numpy as np
    >>> augment = ImageHFlip(seed=1) * ImageRandomRotation(0.05, seed=2) * ImageBrightness(-32, 32, seed=3)
    >>> augment(np.zeros((4, 8, 8, 3), np.float32)).shape
    (4, 8, 8, 3)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from zooapi.checks import check_int
from zooapi.feature.image import KerasImageLayer, ImagePreprocessing
from zooapi.feature.preprocessing import register_preprocessing

__all__ = [
    "ImageBrightness", "ImageContrast", "ImageExpand", "ImageHFlip", "ImageHue", "ImageRandomCrop",
    "ImageRandomRotation", "ImageRandomTranslation", "ImageRandomZoom", "ImageSaturation",
]


class RandomKerasImageLayer(KerasImageLayer):
    """A Keras augmentation layer called with `training=True`. The layer is
    built in `__init__`, so a bad argument fails there with Keras' message."""

    training = True

    def __init__(self, seed: int | None = None):
        self.seed = check_int("seed", seed, minimum=0, allow=(None,), owner=type(self).__name__)
        self._state_layer = self.make_layer()

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class ImageRandomCrop(RandomKerasImageLayer):
    """A random `(height, width)` crop of every image (`keras.layers.RandomCrop`).

    Args:
        height: the crop's height.
        width: the crop's width.
        seed: the random seed (None: a random one).

    Example:
        >>> ImageRandomCrop(4, 4, seed=0)(np.zeros((2, 8, 8, 3))).shape
        (2, 4, 4, 3)
    """

    def __init__(self, height: int, width: int, seed: int | None = None):
        self.height = check_int("height", height, owner="ImageRandomCrop")
        self.width = check_int("width", width, owner="ImageRandomCrop")
        super().__init__(seed)

    def make_layer(self):
        import keras

        return keras.layers.RandomCrop(self.height, self.width, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"height": self.height, "width": self.width, **super().get_config()}


class ImageHFlip(RandomKerasImageLayer):
    """Flips each image left-right with probability 1/2
    (`keras.layers.RandomFlip("horizontal")`).

    Args:
        seed: the random seed (None: a random one).

    Example:
        >>> ImageHFlip(seed=0)(np.zeros((2, 4, 4, 3))).shape
        (2, 4, 4, 3)
    """

    def make_layer(self):
        import keras

        return keras.layers.RandomFlip("horizontal", seed=self.seed)


class _Geometric(RandomKerasImageLayer):
    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear", fill_value: float = 0.0,
                 seed: int | None = None):
        self.fill_mode, self.interpolation, self.fill_value = str(fill_mode), str(interpolation), float(fill_value)
        super().__init__(seed)

    def _fill(self) -> dict[str, Any]:
        return {"fill_mode": self.fill_mode, "interpolation": self.interpolation, "fill_value": self.fill_value}

    def get_config(self) -> dict[str, Any]:
        return {**self._fill(), **super().get_config()}


class _HeightWidth(_Geometric):
    """A Keras layer taking (height_factor, width_factor) plus fill options."""

    keras_layer = ""

    def __init__(self, height_factor: float | Sequence[float], width_factor: float | Sequence[float] | None,
                 fill_mode: str = "reflect", interpolation: str = "bilinear", fill_value: float = 0.0,
                 seed: int | None = None):
        self.height_factor = list(height_factor) if isinstance(height_factor, (list, tuple)) else height_factor
        self.width_factor = list(width_factor) if isinstance(width_factor, (list, tuple)) else width_factor
        super().__init__(fill_mode, interpolation, fill_value, seed)

    def make_layer(self):
        import keras

        layer = getattr(keras.layers, self.keras_layer)
        return layer(self.height_factor, self.width_factor, seed=self.seed, **self._fill())

    def get_config(self) -> dict[str, Any]:
        return {"height_factor": self.height_factor, "width_factor": self.width_factor, **super().get_config()}


class ImageRandomRotation(_Geometric):
    """Rotates each image by a random angle (`keras.layers.RandomRotation`).

    Args:
        factor: a fraction of 2*pi: a float `f` gives angles in
            `[-f*2pi, f*2pi]`, a pair `(lo, hi)` angles in `[lo*2pi, hi*2pi]`.
        fill_mode: "reflect", "wrap", "constant" or "nearest" (Keras').
        interpolation: "bilinear" or "nearest".
        fill_value: the value outside the image with `fill_mode="constant"`.
        seed: the random seed.

    Example:
        >>> ImageRandomRotation(0.1, seed=0)(np.zeros((1, 8, 8, 3))).shape
        (1, 8, 8, 3)
    """

    def __init__(self, factor: float | Sequence[float], fill_mode: str = "reflect",
                 interpolation: str = "bilinear", fill_value: float = 0.0, seed: int | None = None):
        self.factor = list(factor) if isinstance(factor, (list, tuple)) else factor
        super().__init__(fill_mode, interpolation, fill_value, seed)

    def make_layer(self):
        import keras

        return keras.layers.RandomRotation(self.factor, seed=self.seed, **self._fill())

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, **super().get_config()}


class ImageRandomZoom(_HeightWidth):
    """Zooms each image in or out at random (`keras.layers.RandomZoom`).

    Args:
        height_factor: a fraction of the height, as in Keras: negative zooms
            in, positive zooms out; a float `f` gives `[-f, f]`, or a pair.
        width_factor: the same for the width; None keeps the aspect ratio.
        fill_mode, interpolation, fill_value, seed: as for `ImageRandomRotation`.

    Example:
        >>> ImageRandomZoom(0.2, seed=0)(np.zeros((1, 8, 8, 3))).shape
        (1, 8, 8, 3)
    """

    keras_layer = "RandomZoom"

    def __init__(self, height_factor: float | Sequence[float], width_factor: float | Sequence[float] | None = None,
                 fill_mode: str = "reflect", interpolation: str = "bilinear", fill_value: float = 0.0,
                 seed: int | None = None):
        super().__init__(height_factor, width_factor, fill_mode, interpolation, fill_value, seed)


class ImageRandomTranslation(_HeightWidth):
    """Shifts each image at random (`keras.layers.RandomTranslation`).

    Args:
        height_factor: a fraction of the height: a float `f` shifts by up to
            `f*height` up or down, a pair `(lo, hi)` by `[lo, hi]*height`.
        width_factor: the same for the width.
        fill_mode, interpolation, fill_value, seed: as for `ImageRandomRotation`.

    Example:
        >>> ImageRandomTranslation(0.1, 0.1, seed=0)(np.zeros((1, 8, 8, 3))).shape
        (1, 8, 8, 3)
    """

    keras_layer = "RandomTranslation"

    def __init__(self, height_factor: float | Sequence[float], width_factor: float | Sequence[float],
                 fill_mode: str = "reflect", interpolation: str = "bilinear", fill_value: float = 0.0,
                 seed: int | None = None):
        super().__init__(height_factor, width_factor, fill_mode, interpolation, fill_value, seed)


class _Color(RandomKerasImageLayer):
    def __init__(self, value_range: Sequence[float] = (0.0, 255.0), seed: int | None = None):
        if not (isinstance(value_range, (list, tuple)) and len(value_range) == 2 and value_range[0] < value_range[1]):
            raise ValueError(f"{type(self).__name__}: received an invalid value for `value_range`, expected "
                             f"(low, high) with low < high. Received: value_range={value_range!r}")
        self.value_range = [float(v) for v in value_range]
        super().__init__(seed)

    def get_config(self) -> dict[str, Any]:
        return {"value_range": self.value_range, **super().get_config()}


class ImageBrightness(_Color):
    """Adds a random delta in `[delta_low, delta_high]` (pixel units, as in
    Analytics Zoo) to each image, clipped to `value_range`
    (`keras.layers.RandomBrightness` with the deltas as fractions of the range).

    Args:
        delta_low: the smallest delta, e.g. -32.
        delta_high: the largest delta, e.g. 32.
        value_range: the pixels' range, (0, 255) for decoded images.
        seed: the random seed.

    Example:
        >>> float(ImageBrightness(10, 10, seed=0)(np.zeros((1, 2, 2, 3))).max())
        10.0
    """

    def __init__(self, delta_low: float, delta_high: float, value_range: Sequence[float] = (0.0, 255.0),
                 seed: int | None = None):
        self.delta_low, self.delta_high = float(delta_low), float(delta_high)
        span = float(value_range[1]) - float(value_range[0]) if isinstance(value_range, (list, tuple)) else 0.0
        if not (self.delta_low <= self.delta_high and span > 0 and -span <= self.delta_low and self.delta_high <= span):
            raise ValueError(
                "ImageBrightness: expected -(high - low) <= delta_low <= delta_high <= (high - low) for "
                f"value_range=(low, high). Received: delta_low={delta_low!r}, delta_high={delta_high!r}, "
                f"value_range={value_range!r}")
        super().__init__(value_range, seed)

    def make_layer(self):
        import keras

        span = self.value_range[1] - self.value_range[0]
        return keras.layers.RandomBrightness((self.delta_low / span, self.delta_high / span),
                                             value_range=self.value_range, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"delta_low": self.delta_low, "delta_high": self.delta_high, **super().get_config()}


class _Factor(_Color):
    def __init__(self, factor: float | Sequence[float], value_range: Sequence[float] = (0.0, 255.0),
                 seed: int | None = None):
        self.factor = list(factor) if isinstance(factor, (list, tuple)) else factor
        super().__init__(value_range, seed)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, **super().get_config()}


class ImageContrast(_Factor):
    """Scales each image's contrast by a random factor in `[1 - lo, 1 + hi]`
    (`keras.layers.RandomContrast`; `factor` is `f` for `[1 - f, 1 + f]`, or
    `(lo, hi)`, each in [0, 1]).

    Args:
        factor: `f` or `(lo, hi)`, as above.
        value_range: the range of the pixel values.
        seed: the random seed (None: a random one).

    Example:
        >>> ImageContrast(0.5, seed=0)(np.zeros((1, 2, 2, 3))).shape
        (1, 2, 2, 3)
    """

    def make_layer(self):
        import keras

        return keras.layers.RandomContrast(self.factor, value_range=self.value_range, seed=self.seed)


class ImageHue(_Factor):
    """Shifts each image's hue at random (`keras.layers.RandomHue`): `factor`
    `f` in [0, 1] shifts by up to `f * 180` degrees either way; a pair
    `(lo, hi)` by a magnitude in `[lo, hi] * 180` degrees with a random sign.

    Args:
        factor: `f` or `(lo, hi)`, as above.
        value_range: the range of the pixel values.
        seed: the random seed (None: a random one).

    Example:
        >>> ImageHue(0.1, seed=0)(np.zeros((1, 2, 2, 3))).shape
        (1, 2, 2, 3)
    """

    def make_layer(self):
        import keras

        return keras.layers.RandomHue(self.factor, value_range=self.value_range, seed=self.seed)


class ImageSaturation(_Factor):
    """Scales each image's saturation at random (`keras.layers.RandomSaturation`):
    a factor `s` in [0, 1] multiplies saturation by `s / (1 - s)` (0.5 keeps
    it, 0 is grayscale); `factor` is a pair `(lo, hi)`, or `f` for `(0, f)`.
    For a multiplier range `[m1, m2]` pass `(m1 / (1 + m1), m2 / (1 + m2))`.

    Args:
        factor: `(lo, hi)` or `f`, as above.
        value_range: the range of the pixel values.
        seed: the random seed (None: a random one).

    Example:
        >>> ImageSaturation((0.4, 0.6), seed=0)(np.zeros((1, 2, 2, 3))).shape
        (1, 2, 2, 3)
    """

    def make_layer(self):
        import keras

        return keras.layers.RandomSaturation(self.factor, value_range=(0.0, 1.0), seed=self.seed)

    def __call__(self, batch: Any) -> np.ndarray:
        # Keras 3.15 clips the saturation channel to `value_range` instead of
        # [0, 1], which gives negative pixels for (0, 255) images; HSV is
        # scale-invariant in S, so run the layer on images scaled to [0, 1].
        low, high = self.value_range
        scaled = super().__call__((self._batch(batch) - low) / (high - low))
        return scaled * np.float32(high - low) + np.float32(low)


class ImageExpand(ImagePreprocessing):
    """Zooms out at random onto a mean-colored canvas (Analytics Zoo's /
    SSD's `Expand`): each image is placed at a random position on a canvas
    `r` times its size, `r` uniform in `[min_expand_ratio, max_expand_ratio]`,
    filled with the channel means; the canvas is then scaled back (bilinear)
    to the image's size, so the batch keeps one shape. Keras has no such
    layer; this uses `keras.ops.image.affine_transform` and a seeded NumPy
    generator.

    Args:
        means_r, means_g, means_b: the canvas color (RGB, pixel units).
        min_expand_ratio: the smallest `r` (>= 1).
        max_expand_ratio: the largest `r` (>= `min_expand_ratio`).
        seed: the random seed.

    Example:
        >>> ImageExpand(seed=0)(np.zeros((2, 8, 8, 3))).shape
        (2, 8, 8, 3)
    """

    def __init__(self, means_r: float = 123.0, means_g: float = 117.0, means_b: float = 104.0,
                 min_expand_ratio: float = 1.0, max_expand_ratio: float = 4.0, seed: int | None = None):
        self.means = [float(means_r), float(means_g), float(means_b)]
        self.min_expand_ratio, self.max_expand_ratio = float(min_expand_ratio), float(max_expand_ratio)
        if not 1.0 <= self.min_expand_ratio <= self.max_expand_ratio:
            raise ValueError("ImageExpand: expected 1 <= min_expand_ratio <= max_expand_ratio. Received: "
                             f"min_expand_ratio={min_expand_ratio!r}, max_expand_ratio={max_expand_ratio!r}")
        self.seed = check_int("seed", seed, minimum=0, allow=(None,), owner="ImageExpand")

    def __call__(self, batch: Any) -> np.ndarray:
        import keras

        arr = self._batch(batch)
        n, h, w, c = arr.shape
        if c not in (3, 4):
            raise ValueError(f"ImageExpand expects 3 (RGB) or 4 (RGBA) channels. Received: a batch of shape {arr.shape}.")
        rng = self.__dict__.get("_state_rng")
        if rng is None:
            rng = self._state_rng = np.random.default_rng(self.seed)
        ratio = rng.uniform(self.min_expand_ratio, self.max_expand_ratio, n)
        top, left = rng.uniform(0, 1, n) * (ratio - 1) * h, rng.uniform(0, 1, n) * (ratio - 1) * w
        # Output pixel centre x maps to canvas (x + .5) * r - .5, i.e. image x * r + .5 (r - 1) - left.
        zeros = np.zeros(n)
        transform = np.stack([ratio, zeros, 0.5 * (ratio - 1) - left, zeros, ratio, 0.5 * (ratio - 1) - top,
                              zeros, zeros], axis=1).astype(np.float32)
        mean = np.float32(self.means + [0.0] * (c - 3))
        out = keras.ops.image.affine_transform(arr - mean, transform, interpolation="bilinear",
                                               fill_mode="constant", fill_value=0.0)
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32) + mean

    def get_config(self) -> dict[str, Any]:
        return {"means_r": self.means[0], "means_g": self.means[1], "means_b": self.means[2],
                "min_expand_ratio": self.min_expand_ratio, "max_expand_ratio": self.max_expand_ratio,
                "seed": self.seed}


for _cls in (ImageRandomCrop, ImageHFlip, ImageRandomRotation, ImageRandomZoom, ImageRandomTranslation,
             ImageBrightness, ImageContrast, ImageHue, ImageSaturation, ImageExpand):
    register_preprocessing(_cls)
