"""Encoded image files (JPEG, PNG, anything Pillow reads) to pixels, on the workers.

`decode_pixels` is the one decoder zooapi has: `NNImageReader.readImages`
calls it to fill Spark's image struct, and `ImageBytesToMat` calls it to
turn a column of encoded files (`readImages(..., decode=False)`, or Spark's
`binaryFile` source) straight into a model's input batch. Keeping images
encoded until the task that feeds the model moves about a tenth of the
bytes through Spark (a 224x224 JPEG is ~15 kB, its pixels 150 kB).

Example:
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (8, 6), (255, 0, 0)).save(buf, format="PNG")
    >>> batch = ImageBytesToMat(4, 4)(np.array([buf.getvalue()], dtype=object))
    >>> batch.shape, batch[0, 0, 0].tolist()
    ((1, 4, 4, 3), [255.0, 0.0, 0.0])
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from zooapi.checks import check_int
from zooapi.feature.pillow_image import convert_channels, image_pixels, resize_image
from zooapi.feature.preprocessing import Preprocessing, register_preprocessing

__all__ = ["IMAGE_CODECS", "ImageBytesToMat", "decode_pixels"]

# OpenCV's imread flags, as Spark and Analytics Zoo name the decoding mode.
IMAGE_CODECS = {-1: "unchanged", 0: "grayscale", 1: "color"}


def decode_pixels(content: bytes, codec: int = -1, height: int = -1, width: int = -1) -> np.ndarray:
    """One encoded image as `(h, w, c)` uint8 pixels in RGB(A) order.

    With `height` and `width` the image is resized to them with Pillow's
    bilinear filter (antialiased when shrinking). A JPEG at least four
    times larger than that is first decoded at a reduced scale (Pillow's
    `draft`, as `Image.thumbnail` does), never below twice the target, so
    large photos decode several times faster at the same quality.

    Args:
        content: the file's bytes.
        codec: OpenCV's `imread` flag: -1 unchanged (1, 3 or 4 channels),
            0 grayscale (1 channel), 1 color (3 channels).
        height: the output height, or -1 to keep the size.
        width: the output width, or -1.

    Raises:
        Whatever Pillow raises for bytes it cannot decode (`OSError`,
        `PIL.UnidentifiedImageError`, `SyntaxError`, `ValueError`...).

    Example:
        >>> import io
        >>> from PIL import Image
        >>> buf = io.BytesIO()
        >>> Image.new("L", (8, 6)).save(buf, format="PNG")
        >>> decode_pixels(buf.getvalue(), codec=1, height=3, width=4).shape
        (3, 4, 3)
    """
    from PIL import Image

    resize = height > 0 and width > 0
    with Image.open(io.BytesIO(content)) as image:
        if resize and image.format == "JPEG":
            image.draft(None, (2 * width, 2 * height))
        image.load()  # decodes now, so truncated files fail here
        if resize:
            # Before the channel conversion, as readImages has always resized
            # (RGBA resizes premultiplied, so the order shows in the pixels).
            image = resize_image(image, height, width)
        return image_pixels(convert_channels(image, codec))


class ImageBytesToMat(Preprocessing):
    """Encoded image files to a float32 batch `(n, height, width, channels)`
    in RGB order, pixel values 0 to 255: Analytics Zoo's `ImageBytesToMat`.

    Put it first in the `feature_preprocessing` chain of a binary column of
    JPEG/PNG bytes (`NNImageReader.readImages(..., decode=False)`, or
    `spark.read.format("binaryFile")`'s `content`). Decoding then happens in
    the task that feeds the model, on a thread beside TensorFlow, and Spark
    moves only the encoded bytes.

    Args:
        height: resize every image to this height (with `width`; Pillow
            bilinear, as `readImages` resizes), or -1 to keep the sizes,
            which must then all be equal.
        width: see `height`.
        image_codec: 1 (color, 3 channels; the default, what most models
            take), 0 (grayscale, 1 channel) or -1 (as stored: 1, 3 or 4
            channels, which must then agree within a batch).

    Returns:
        Calling it on a 1-D array of `bytes` returns the float32 batch.

    Raises:
        ValueError: bad arguments; a row that does not decode (naming its
            position in the batch and Pillow's error); images of different
            sizes without `height`/`width`.
        TypeError: a row that is not bytes (the column is not binary).

    Example:
        >>> chain = ImageBytesToMat(224, 224) * ImageChannelNormalize(123.7, 116.3, 103.5, 58.4, 57.1, 57.4)  # doctest: +SKIP
        >>> engine.predict(model, NNImageReader.readImages(path, spark, decode=False), "image",
        ...                feature_preprocessing=chain)  # doctest: +SKIP
    """

    def __init__(self, height: int = -1, width: int = -1, image_codec: int = 1):
        self.height = check_int("height", height, allow=(-1,), owner="ImageBytesToMat")
        self.width = check_int("width", width, allow=(-1,), owner="ImageBytesToMat")
        if (self.height > 0) != (self.width > 0):
            raise ValueError("ImageBytesToMat: `height` and `width` must both be positive (resize) or both -1 "
                             f"(keep the size). Received: height={height!r}, width={width!r}")
        if isinstance(image_codec, bool) or image_codec not in IMAGE_CODECS:
            raise ValueError(f"ImageBytesToMat: received an invalid value for `image_codec`, expected one of "
                             f"{sorted(IMAGE_CODECS)} ({IMAGE_CODECS}). Received: image_codec={image_codec!r}")
        self.image_codec = int(image_codec)

    def __call__(self, batch: Any) -> np.ndarray:
        rows = np.asarray(batch, dtype=object)
        if rows.ndim != 1:
            raise TypeError(f"ImageBytesToMat expects one encoded image (bytes) per row of a binary column. "
                            f"Received: an array of shape {rows.shape}.")
        out = None
        for i, content in enumerate(rows):
            if not isinstance(content, (bytes, bytearray, memoryview)):
                raise TypeError(f"ImageBytesToMat expects the bytes of an image file in every row (a binary "
                                f"column). Received: {type(content).__name__} at row {i} of the batch.")
            try:
                pixels = decode_pixels(content, self.image_codec, self.height, self.width)
            except Exception as err:  # Pillow raises many kinds for bad bytes
                raise ValueError(f"ImageBytesToMat cannot decode row {i} of the batch ({len(content)} bytes): "
                                 f"{type(err).__name__}: {err}. Expected a JPEG, PNG or other Pillow-readable "
                                 "image (`NNImageReader.readImages` with decode=True drops files that do not "
                                 "decode).") from err
            if out is None:
                out = np.empty((len(rows), *pixels.shape), np.float32)
            elif pixels.shape != out.shape[1:]:
                raise ValueError(f"ImageBytesToMat decoded images of different shapes in one batch: row {i} is "
                                 f"{pixels.shape}, row 0 is {out.shape[1:]} (height, width, channels); give "
                                 "`height` and `width` to resize them, or `image_codec=1` for 3 channels.")
            out[i] = pixels
        if out is None:
            channels = 1 if self.image_codec == 0 else 3
            return np.zeros((0, max(self.height, 0), max(self.width, 0), channels), np.float32)
        return out

    def get_config(self) -> dict[str, Any]:
        return {"height": self.height, "width": self.width, "image_codec": self.image_codec}


register_preprocessing(ImageBytesToMat)
