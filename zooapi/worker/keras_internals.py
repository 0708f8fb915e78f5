"""The few private Keras 3 attributes zooapi reads, each where Keras has no
public API for it, in one place so that a Keras upgrade is checked here.

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
    >>> [layer.name for layer in sublayers(model)]
    ['input_layer', 'd']
"""

from __future__ import annotations


def sublayers(layer, include_self: bool = False) -> list:
    """Every layer nested in `layer` (models and custom layers included),
    depth first. Keras has no public recursive walk; `_flatten_layers` is
    what `Model.summary` and saving use."""
    return list(layer._flatten_layers(include_self=include_self, recursive=True))


def learning_rate_setting(optimizer):
    """What the optimizer was given as its learning rate: a Variable (a fixed
    or callback-set rate) or a schedule. `optimizer.learning_rate` gives only
    the current value."""
    return getattr(optimizer, "_learning_rate", None)


def loss_tracker(model):
    """Keras' own loss-mean metric of a compiled model, which `model.metrics`
    lists first (zooapi tracks the loss itself); None when absent."""
    return getattr(model, "_loss_tracker", None)
