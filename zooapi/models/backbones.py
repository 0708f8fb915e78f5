"""Image backbones for `ImageClassifier`: the `keras.applications` models it
knows by name, their ImageNet preprocessing as plain Keras layers, and the
checks on `weights`, `input_shape` and `pooling`, and your own Keras model
as a backbone (`own_backbone`, `own_input_shape`, `cut_at`).

Each `keras.applications` family has its own `preprocess_input`. Here it
becomes layers inside the model, so images are normalized on the workers
exactly as the backbone was trained, and the saved `.keras` file loads in
Keras' safe mode with no custom objects:

| mode    | backbones                 | what it does to RGB pixels in 0-255 | layer |
| ------- | ------------------------- | ----------------------------------- | ----- |
| `caffe` | ResNet50                  | to BGR, minus the ImageNet BGR mean | a frozen 3x3 `Dense` (channel permutation plus bias) |
| `tf`    | MobileNetV2, InceptionV3  | scaled to [-1, 1]                   | `Rescaling(1/127.5, offset=-1)` |
| `torch` | DenseNet121               | to [0, 1], then ImageNet mean / std | `Normalization` |
| `none`  | EfficientNetB0            | nothing (the model rescales itself) | none |

Example:
    >>> from zooapi.models.backbones import BACKBONES
    >>> BACKBONES["ResNet50"].preprocessing, BACKBONES["InceptionV3"].size
    ('caffe', 299)
"""

from __future__ import annotations

import difflib
import logging
import os
from typing import Any, NamedTuple

import numpy as np

__all__ = ["BACKBONES", "PREPROCESSING_MODES", "Backbone", "preprocessing_layer"]

logger = logging.getLogger(__name__)


class Backbone(NamedTuple):
    """A `keras.applications` model: its constructor's name, its
    `preprocess_input` mode and its default (square) input size."""

    name: str
    preprocessing: str
    size: int


BACKBONES = {b.name: b for b in (
    Backbone("ResNet50", "caffe", 224),
    Backbone("MobileNetV2", "tf", 224),
    Backbone("EfficientNetB0", "none", 224),
    Backbone("DenseNet121", "torch", 224),
    Backbone("InceptionV3", "tf", 299),
)}

PREPROCESSING_MODES = ("caffe", "tf", "torch", "none")

# keras/src/applications/imagenet_utils.py, `_preprocess_numpy_input`.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

WEIGHT_SUFFIXES = (".weights.h5", ".h5", ".keras")


def known_backbone(name: str) -> Backbone:
    """The table entry for `name` (case-insensitive), or a ValueError listing
    the known names."""
    for backbone in BACKBONES.values():
        if backbone.name.lower() == name.lower():
            return backbone
    close = difflib.get_close_matches(name, list(BACKBONES), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Received an unknown value for `backbone`, expected one of {', '.join(BACKBONES)} or a "
        f"keras.Model.{hint} Received: backbone={name!r}")


def check_weights(weights: Any, custom: bool) -> str | None:
    """`weights` as given, when it is `"imagenet"` (named backbones only),
    None, or an existing local weights file; a ValueError otherwise."""
    if weights is None:
        return None
    if isinstance(weights, (str, os.PathLike)):
        value = os.fspath(weights)
        if value == "imagenet":
            if custom:
                raise ValueError(
                    "Received weights='imagenet' with a keras.Model backbone; ImageNet weights come "
                    f"with the named backbones ({', '.join(BACKBONES)}). For your own model, expected "
                    "None (keep its weights) or the path of a weights file.")
            return value
        if value.endswith(WEIGHT_SUFFIXES) and os.path.isfile(value):
            return value
    raise ValueError(
        "Received an invalid value for `weights`, expected 'auto', 'imagenet' (keras.applications' ImageNet "
        "weights, from ~/.keras/models/ or downloaded), None (random initialisation; a keras.Model "
        f"keeps its own), or the path of an existing local weights file ({', '.join(WEIGHT_SUFFIXES)}). "
        f"Received: weights={weights!r}")


def check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (shape is None or len(shape) != 3 or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shape)
            or shape[2] not in (1, 3)):
        raise ValueError(
            "Received an invalid value for `input_shape`, expected (height, width, channels) with positive "
            f"integers and 1 or 3 channels. Received: input_shape={input_shape!r}")
    return tuple(int(s) for s in shape)


def check_pooling(pooling: Any) -> str | None:
    if pooling not in ("avg", "max", None):
        raise ValueError(f"Received an invalid value for `pooling`, expected 'avg', 'max' or None. "
                         f"Received: pooling={pooling!r}")
    return pooling


def application(backbone: Backbone, weights: str | None, input_shape: tuple[int, int, int], pooling: str | None):
    """The `keras.applications` model without its top, built by Keras."""
    import keras

    constructor = getattr(keras.applications, backbone.name)
    try:
        model = constructor(include_top=False, weights=weights, input_shape=input_shape, pooling=pooling)
    except Exception as err:
        # keras.utils.get_file raises a bare Exception ("URL fetch failure ...") offline.
        if weights == "imagenet" and (isinstance(err, OSError) or "URL fetch failure" in str(err)):
            raise RuntimeError(
                f"Could not get the ImageNet weights of {backbone.name} ({err}). keras.applications reads "
                "them from ~/.keras/models/ or downloads them. On a machine without network access, copy "
                "the file Keras names above into ~/.keras/models/, or pass its local path as `weights=`; "
                "`weights=None` starts from random weights.") from err
        raise
    logger.info("Built %s (weights=%s, input_shape=%s, pooling=%s)", backbone.name, weights, input_shape, pooling)
    return model


def preprocessing_layer(mode: str, channels: int = 3):
    """A Keras layer doing `keras.applications.imagenet_utils.preprocess_input`
    for `mode` on RGB images in 0-255, or None for `"none"`.

    Only built-in Keras layers are used, so models holding them load with
    `safe_mode=True` and without zooapi.

    Args:
        mode: "caffe", "tf", "torch" or "none".
        channels: the image channels (the ImageNet modes "caffe" and "torch"
            need 3).

    Returns:
        A Keras layer, or None.

    Example:
        >>> import numpy as np
        >>> layer = preprocessing_layer("tf")
        >>> np.asarray(layer(np.full((1, 1, 1, 3), 255.0, "float32"))).ravel().tolist()
        [1.0, 1.0, 1.0]
    """
    import keras

    if mode not in PREPROCESSING_MODES:
        raise ValueError(f"Received an invalid value for `preprocessing`, expected one of "
                         f"{', '.join(PREPROCESSING_MODES)}, a Keras layer or None (the backbone's own). "
                         f"Received: preprocessing={mode!r}")
    if mode in ("caffe", "torch") and channels != 3:
        raise ValueError(f"preprocessing={mode!r} normalizes 3 ImageNet color channels; the images have "
                         f"{channels}. Expected preprocessing='tf', 'none' or a Keras layer.")
    if mode == "none":
        return None
    if mode == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="tf_preprocessing")
    if mode == "torch":
        mean = [255.0 * m for m in TORCH_MEAN]
        variance = [(255.0 * s) ** 2 for s in TORCH_STD]
        return keras.layers.Normalization(axis=-1, mean=mean, variance=variance, name="torch_preprocessing")
    # caffe: out[c] = x[2 - c] - mean_bgr[c]; a 1x1 linear map over the channel axis.
    layer = keras.layers.Dense(3, name="caffe_preprocessing", trainable=False)
    layer.build((None, None, None, 3))
    layer.set_weights([np.eye(3, dtype=np.float32)[::-1].copy(), -np.asarray(CAFFE_MEAN_BGR, np.float32)])
    return layer


def own_backbone(model, weights: str | None):
    """The user's Keras model as a backbone: itself, or a copy with `weights` loaded."""
    import keras

    if weights is None:
        return model
    copy = keras.models.clone_model(model)  # the user's model keeps its weights
    copy.load_weights(weights)
    return copy


def own_input_shape(model, input_shape) -> tuple[int, int, int]:
    """The (height, width, channels) a user's backbone takes: `input_shape`
    checked against its input, or its own input shape."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs or len(inputs) != 1:
        raise ValueError(f"Expected a backbone with one image input (a functional model, or a Sequential "
                         f"model started with keras.Input). Received: model {model.name!r} with inputs "
                         f"{inputs!r}.")
    own = tuple(inputs[0].shape[1:])
    if input_shape is None:
        if len(own) != 3 or own[0] is None or own[1] is None:
            raise ValueError(f"Backbone {model.name!r} takes images of shape {own}; give `input_shape` "
                             "(height, width, channels) for its open dimensions.")
        return check_input_shape(own)
    shape = check_input_shape(input_shape)
    if len(own) != 3 or any(o is not None and o != s for o, s in zip(own, shape)):
        raise ValueError(f"Received input_shape={tuple(input_shape)!r}, but backbone {model.name!r} takes "
                         f"images of shape {own}; expected a shape that fits it.")
    return shape


def cut_at(model, feature_layer: str):
    """`model` from its input up to the layer `feature_layer`."""
    import keras

    from zooapi.keras import graph

    check_layer_names(model, [feature_layer], "feature_layer", model.name)
    cut = graph.new_graph(model, feature_layer)
    return keras.Model(cut.inputs[0], cut.outputs[0], name=f"{model.name}_to_{feature_layer}")


def check_layer_names(model, names: list[str], argument: str, owner: str) -> None:
    """A ValueError naming `argument` and the closest layer names when a name in `names` is not a layer of `model`."""
    from zooapi.keras import graph

    known = [layer.name for layer in graph.flattened_layers(model, include_container=True)]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
            raise ValueError(
                f"Received an invalid value for `{argument}`: backbone {owner!r} has no layer named {name!r}. "
                f"Close matches: {', '.join(close) if close else 'none'}. `ImageClassifier.layer_names` "
                "lists every layer.")
