"""Argument checks that several layers share, each written once.

It sits beside `zooapi.context`, below every package (`zooapi.feed`
included), and imports nothing of Keras, TensorFlow or Spark, so any layer
may use it without importing up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_EXPECTED = {1: "a positive integer", 0: "a non-negative integer"}


def check_int(name: str, value: Any, minimum: int = 1, allow: tuple = (), owner: str | None = None) -> Any:
    """`value` as an `int` if it is an integer (not a bool) >= `minimum`, or
    `value` itself if it is one of `allow` (such as -1 or None); else a
    `ValueError` in Keras' form, "Received an invalid value for `name`,
    expected a positive integer. Received: name=value", prefixed with
    "`owner`: " when given."""
    if value is None and None in allow:
        return None
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not is_int or (value < minimum and int(value) not in allow):
        expected = " or ".join([_EXPECTED.get(minimum, f"an integer >= {minimum}")] + [repr(a) for a in allow])
        prefix = f"{owner}: received" if owner else "Received"
        raise ValueError(f"{prefix} an invalid value for `{name}`, expected {expected}. Received: {name}={value!r}")
    return int(value)


def check_number(name: str, value: Any, positive: bool = True) -> float:
    """`value` as a `float` if it is a real number (not a bool) > 0 (or >= 0
    when not `positive`); else a `ValueError` in Keras' form, "Received an
    invalid value for `name`, expected a positive number. Received: name=value"."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not (value > 0 if positive else value >= 0):
        expected = "a positive number" if positive else "a number >= 0"
        raise ValueError(f"Received an invalid value for `{name}`, expected {expected}. Received: {name}={value!r}")
    return float(value)


def check_fraction(name: str, value: Any, include_one: bool = True) -> float:
    """`value` as a `float` if it is a real number (not a bool) in [0, 1]
    (in [0, 1) when not `include_one`); else a `ValueError` in Keras' form,
    "Received an invalid value for `name`, expected a number in [0, 1].
    Received: name=value"."""
    is_number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not is_number or not (0 <= value <= 1 if include_one else 0 <= value < 1):
        interval = "[0, 1]" if include_one else "[0, 1)"
        raise ValueError(f"Received an invalid value for `{name}`, expected a number in {interval}. "
                         f"Received: {name}={value!r}")
    return float(value)


def check_compiled(model: Any) -> None:
    """A `ValueError` unless the Keras `model` is compiled (has an optimizer)."""
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("The model is not compiled; call `model.compile(optimizer=..., loss=...)` first.")
