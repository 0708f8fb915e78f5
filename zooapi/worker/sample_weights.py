"""Per-row loss weights, as Keras' `fit(class_weight=..., sample_weight=...)`
applies them: the loss of each row is multiplied by its weight (the mean is
still over the batch's rows), and compiled `weighted_metrics` see the
weights."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def check_class_weight(class_weight: Any, n_outputs: int) -> dict[int, float] | None:
    """`class_weight` as {class index: weight}, or None; refuses what Keras refuses."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, Mapping):
        raise TypeError("Received an invalid value for `class_weight`, expected a dict of class index to "
                        f"weight, as Keras takes it. Received: class_weight of type {type(class_weight).__name__}")
    if n_outputs != 1:
        raise ValueError(f"`class_weight` applies to a model with one output; this one has {n_outputs}. "
                         "Pass per-row weights as a `sample_weight` column instead.")
    table = {}
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
            raise ValueError(f"Received an invalid class in `class_weight`, expected class indices "
                             f"(integers >= 0). Received: {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value >= 0:
            raise ValueError(f"Received an invalid weight in `class_weight` for class {key}, expected a "
                             f"number >= 0. Received: {value!r}")
        table[int(key)] = float(value)
    return table


def class_sample_weights(y: np.ndarray, class_weight: dict[int, float]) -> np.ndarray:
    """Each row's weight from its class: the label itself (sparse labels) or
    its arg-max (one-hot labels); classes missing from `class_weight` weigh
    1, as in Keras."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] > 1:
        classes = np.argmax(y, axis=-1)
    else:
        classes = np.rint(y.reshape(len(y))).astype(np.int64)
    table = np.ones(max(max(class_weight, default=0), int(classes.max(initial=0))) + 1, np.float32)
    table[list(class_weight)] = list(class_weight.values())
    return table[classes]
