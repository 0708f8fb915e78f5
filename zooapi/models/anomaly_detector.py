"""`AnomalyDetector`: stacked LSTMs that predict a series' next value;
the steps it predicts worst are the anomalies (Analytics Zoo's model of the
same name, and the workshop's NYC-taxi notebook).

Windows come from `zooapi.feature.timeseries.unroll`, the flags from
`zooapi.feature.timeseries.detect_anomalies`.

Example:
    >>> from zooapi.models import AnomalyDetector
    >>> model = AnomalyDetector(feature_shape=(24, 1))
    >>> model.output_shape
    (None, 1)
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

__all__ = ["AnomalyDetector"]


def _positive_ints(name: str, value: Any, length: int | None = None) -> tuple[int, ...]:
    items = tuple(value) if isinstance(value, (list, tuple)) else None
    if (not items or (length is not None and len(items) != length)
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in items)):
        what = f"{length} positive integers" if length else "a non-empty list of positive integers"
        raise ValueError(f"Received an invalid value for `{name}`, expected {what}. Received: {name}={value!r}")
    return tuple(int(v) for v in items)


def AnomalyDetector(feature_shape: Sequence[int], hidden_layers: Sequence[int] = (8, 32, 15),
                    dropouts: Sequence[float] = (0.2, 0.2, 0.2), name: str = "anomaly_detector") -> Any:
    """Stacked LSTMs and a `Dense(1)` that predict the value after a window.

    A function that builds a `zooapi.keras.Model`, as `keras.applications`
    builds theirs: compile it and train it on the windows of `unroll` (with
    the features flattened) through `fit` on a DataFrame, like any zooapi
    model. Each LSTM is followed by a `Dropout`; all but the last LSTM
    return sequences.

    Args:
        feature_shape: (unroll_length, features per step).
        hidden_layers: the units of each LSTM, first to last.
        dropouts: the dropout rate after each LSTM (as many as
            `hidden_layers`, each in [0, 1)).
        name: the model's name.

    Returns:
        An uncompiled `zooapi.keras.Model` with input `features` of shape
        `(None, *feature_shape)` and one output value per window.

    Raises:
        ValueError: a bad shape, layer size or dropout rate (naming it).

    Example:
        >>> model = AnomalyDetector((24, 3), hidden_layers=(16, 8), dropouts=(0.1, 0.1))
        >>> model.compile("adam", "mse")
        >>> history = model.fit(windows, feature_cols="features", label_cols="label", epochs=10)  # doctest: +SKIP
    """
    from zooapi.keras import Input, Model, layers

    shape = _positive_ints("feature_shape", feature_shape, 2)
    units = _positive_ints("hidden_layers", hidden_layers)
    rates = tuple(dropouts) if isinstance(dropouts, (list, tuple)) else ()
    if len(rates) != len(units) or any(isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r < 1
                                       for r in rates):
        raise ValueError(f"Received an invalid value for `dropouts`, expected {len(units)} rates in [0, 1), one "
                         f"per hidden layer. Received: dropouts={dropouts!r}")
    inputs = Input(shape, name="features")
    x = inputs
    for i, (size, rate) in enumerate(zip(units, rates)):
        x = layers.LSTM(size, return_sequences=i < len(units) - 1, name=f"lstm_{i + 1}")(x)
        x = layers.Dropout(rate, name=f"dropout_{i + 1}")(x)
    return Model(inputs, layers.Dense(1, name="next_value")(x), name=name)
