"""The Keras model of `ObjectDetector`: a backbone, a small feature pyramid
(strides 8, 16 and 32; the heads on the first two, where objects of 1/8 to
1/2 of the image find their anchors), RetinaNet's shared classification and box heads,
and its loss (focal loss on the classes, Huber loss on the box deltas of
the matched anchors).

The model takes RGB 0-255 images of `(size, size, 3)` and returns one flat
vector per image, for each anchor (`detector_anchors`, in order) the
`num_classes` class logits then the 4 box deltas: the engine feeds and
returns flat arrays, and `DetectionLoss` reshapes them. Targets are flat
too, 5 numbers per anchor (`zooapi.models.anchors.match`).

Example:
    >>> model = build_detector(3, 128, "small")  # doctest: +SKIP
    >>> model.compile("adam", DetectionLoss(3))  # doctest: +SKIP
"""

from __future__ import annotations

import math

import keras
import numpy as np

from zooapi.models.anchors import anchor_boxes

__all__ = ["BACKBONE_NAMES", "DetectionLoss", "build_detector", "detector_anchors"]

STRIDES = (8, 16, 32)  # the pyramid's levels; the heads and anchors use the first HEAD_LEVELS
HEAD_LEVELS = 2
ANCHOR_SIZES = (16, 32)  # pixels at input 128, scaled with the input
ANCHOR_SCALES, ANCHOR_RATIOS = (1.0, 1.41), (0.5, 1.0, 2.0)
BACKBONE_NAMES = ("small", "MobileNetV2")
_MOBILENET_LEVELS = ("block_6_expand_relu", "block_13_expand_relu", "out_relu")
_PRIOR = 0.01  # RetinaNet's initial foreground probability


def detector_anchors(size: int, strides=None, sizes=None, scales=ANCHOR_SCALES, ratios=ANCHOR_RATIOS) -> np.ndarray:
    """The anchors of a `size` x `size` input: sizes size/8 and size/4 on
    the levels of strides 8 and 16, scales 1 and 1.41, aspect ratios 1/2,
    1, 2."""
    strides = STRIDES[:HEAD_LEVELS] if strides is None else strides
    sizes = [s * size / 128 for s in ANCHOR_SIZES] if sizes is None else sizes
    return anchor_boxes(size, strides, sizes, scales=scales, ratios=ratios)


ANCHORS_PER_CELL = 6


def _conv(x, filters: int, stride: int, name: str):
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    # momentum 0.9: the moving statistics must settle within the few hundred steps of a CPU training.
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _small_backbone(image):
    """A CPU-sized backbone: five stride-2 stages; returns the stride 8, 16 and 32 maps."""
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(image)
    levels = []
    for i, filters in enumerate((16, 32, 64, 96, 128)):
        x = _conv(x, filters, 2, f"stage{i + 1}_a")
        x = _conv(x, filters, 1, f"stage{i + 1}_b")
        if i >= 2:
            levels.append(x)
    return levels


def _mobilenet_backbone(image, size: int, weights):
    from zooapi.models import backbones as B

    net = B.application(B.known_backbone("MobileNetV2"), weights, (size, size, 3), pooling=None)
    cut = keras.Model(net.inputs, [net.get_layer(n).output for n in _MOBILENET_LEVELS], name="mobilenetv2_levels")
    x = B.preprocessing_layer("tf")(image)
    return list(cut(x))


def build_detector(num_classes: int, size: int = 128, backbone: str = "small", weights=None, width: int = 64,
                   head_levels: int = HEAD_LEVELS, head_depth: int = 2, anchors_per_cell: int = ANCHORS_PER_CELL):
    """The detector as an uncompiled functional `keras.Model`.

    Args:
        num_classes: the object classes (no background class).
        size: the input's side in pixels (a multiple of 32).
        backbone: "small" (trained from scratch, fast on CPUs) or
            "MobileNetV2" (keras.applications, `weights` None or "imagenet").
        weights: the MobileNetV2 weights.
        width: the channels of the pyramid and the heads.
        head_levels: the pyramid levels with heads (and anchors), finest first.
        head_depth: the 3x3 convolutions of each head before its output.
        anchors_per_cell: as `detector_anchors` makes them.

    Returns:
        The model, its output `(batch, anchors * (num_classes + 4))`.
    """
    image = keras.Input((size, size, 3), name="image")
    if backbone == "small":
        levels = _small_backbone(image)
    else:
        levels = _mobilenet_backbone(image, size, weights)
    lateral = [keras.layers.Conv2D(width, 1, name=f"lateral{i + 3}")(x) for i, x in enumerate(levels)]
    pyramid = [lateral[2]]
    for i in (1, 0):  # top-down: upsample the coarser level and add
        up = keras.layers.UpSampling2D(name=f"up{i + 3}")(pyramid[0])
        pyramid.insert(0, keras.layers.Add(name=f"merge{i + 3}")([lateral[i], up]))
    pyramid = [keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"p{i + 3}")(x)
               for i, x in enumerate(pyramid[:head_levels])]
    prior = -math.log((1 - _PRIOR) / _PRIOR)
    heads = {}
    for kind, outputs, bias in (("class", anchors_per_cell * num_classes, prior), ("box", anchors_per_cell * 4, 0.0)):
        layers = [keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"{kind}_head{j}")
                  for j in range(head_depth)]
        out = keras.layers.Conv2D(outputs, 3, padding="same", name=f"{kind}_out",
                                  bias_initializer=keras.initializers.Constant(bias))
        per_level = []
        for i, x in enumerate(pyramid):
            for layer in layers:
                x = layer(x)
            per_level.append(keras.layers.Reshape((-1, outputs // anchors_per_cell), name=f"{kind}_flat{i}")(out(x)))
        heads[kind] = keras.layers.Concatenate(axis=1, name=f"{kind}_all")(per_level)
    joined = keras.layers.Concatenate(axis=-1, name="per_anchor")([heads["class"], heads["box"]])
    return keras.Model(image, keras.layers.Flatten(name="detections")(joined), name=f"detector_{backbone.lower()}")


@keras.saving.register_keras_serializable(package="zooapi")
class DetectionLoss(keras.losses.Loss):
    """RetinaNet's loss per image: the focal loss (alpha 0.25, gamma 2) of
    every anchor that is not ignored, plus the Huber loss of the box deltas
    of the positive anchors, divided by the number of positive anchors (at
    least 1).

    Args:
        num_classes: the object classes.
        alpha: the focal loss' weight of the foreground.
        gamma: the focal loss' focusing exponent.
        name: the loss' name.

    Example:
        >>> model.compile(keras.optimizers.Adam(1e-3), DetectionLoss(3))  # doctest: +SKIP
    """

    def __init__(self, num_classes: int, alpha: float = 0.25, gamma: float = 2.0, name: str = "detection_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.alpha, self.gamma = int(num_classes), float(alpha), float(gamma)

    def call(self, y_true, y_pred):
        ops = keras.ops
        c = self.num_classes
        y_true = ops.reshape(ops.cast(y_true, "float32"), (ops.shape(y_true)[0], -1, c + 4))  # 5 used, zeros after
        y_pred = ops.reshape(ops.cast(y_pred, "float32"), (ops.shape(y_pred)[0], -1, c + 4))
        label = y_true[..., 4]
        positive = ops.cast(label > 0, "float32")
        valid = ops.cast(label >= 0, "float32")
        target = ops.one_hot(ops.cast(ops.maximum(label - 1, 0), "int32"), c) * positive[..., None]
        logits = y_pred[..., :c]
        p = ops.sigmoid(logits)
        ce = ops.maximum(logits, 0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))
        p_t = target * p + (1 - target) * (1 - p)
        alpha = target * self.alpha + (1 - target) * (1 - self.alpha)
        focal = ops.sum(alpha * (1 - p_t) ** self.gamma * ce, axis=-1) * valid
        diff = ops.abs(y_true[..., :4] - y_pred[..., c:])
        huber = ops.sum(ops.where(diff < 1.0, 0.5 * diff ** 2, diff - 0.5), axis=-1) * positive
        positives = ops.maximum(ops.sum(positive, axis=1), 1.0)
        return (ops.sum(focal, axis=1) + ops.sum(huber, axis=1)) / positives

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "alpha": self.alpha, "gamma": self.gamma}
