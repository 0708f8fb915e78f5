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


def functional_model_class():
    """Keras' class of functional models (what `keras.Model(inputs, outputs)`
    builds), which `zooapi.keras.Functional` extends; Keras does not export it."""
    from keras.src.models.functional import Functional

    return Functional


def functional_init_arguments(args, kwargs) -> bool:
    """Whether `Model(*args, **kwargs)` asks for a functional model (inputs
    and outputs given), by Keras' own test."""
    from keras.src.models.model import functional_init_arguments as is_functional

    return is_functional(args, kwargs)


def unsafe_deserialization_enabled() -> bool:
    """Whether the user opted in to loading code with
    `keras.config.enable_unsafe_deserialization()`; Keras has the setter only."""
    from keras.src.saving import serialization_lib

    return serialization_lib.in_safe_mode() is False
