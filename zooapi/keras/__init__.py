"""Keras-style API on Spark DataFrames, with transfer learning.

`Sequential` and `Model` are Keras 3 models whose `fit`, `evaluate` and
`predict` also take a Spark DataFrame (run on the cluster through
`zooapi.engine`), with helpers to freeze layers and cut new graphs out of a
model. `Input` and `layers` are Keras' own; `Net.load` reads `.keras`, `.h5`
and SavedModel files from local or remote paths. `LivePlot` (a callback, in
`zooapi.keras.callbacks`) redraws the training curves in a notebook.

Importing this package is cheap: Keras loads on first use of a name.

Example:
    >>> from zooapi.keras import Sequential, Input, layers
    >>> model = Sequential([Input((64,)), layers.Dense(10, activation="softmax")])
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.fit(df, feature_cols="features", label_cols="label", num_workers=2)  # doctest: +SKIP
    >>> scored = model.predict(df, feature_cols="features")  # doctest: +SKIP
    >>> scored.withColumn("predicted", predicted_class("prediction"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# KERAS_BACKEND is set by the `zooapi` package import, which runs first.

__all__ = ["Input", "LivePlot", "Model", "Net", "Sequential", "layers", "predicted_class"]

_WHERE = {
    "Model": ("zooapi.keras.models", "Model"),
    "Sequential": ("zooapi.keras.models", "Sequential"),
    "Net": ("zooapi.keras.net", "Net"),
    "Input": ("keras", "Input"),
    "LivePlot": ("zooapi.keras.callbacks", "LivePlot"),
    "layers": ("keras", "layers"),
    "predicted_class": ("zooapi.nnframes.functions", "predicted_class"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'zooapi.keras' has no attribute {name!r}")
    module, attribute = _WHERE[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
