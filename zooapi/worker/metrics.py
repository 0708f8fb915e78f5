"""The compiled metrics of a Keras model, as states that add up across workers.

Keras' built-in metrics keep sums and counts, so the states of several
workers (or partitions) add up to the state of the whole data set, and the
result over the whole set is exact, not an average of averages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zooapi.worker.keras_internals import loss_tracker


def compiled_metrics(model) -> list:
    """The model's metrics, without Keras' own loss tracker (zooapi tracks the
    loss itself, weighted by batch size)."""
    own = loss_tracker(model)
    return [m for m in model.metrics if m is not own]


def results(metrics: list) -> dict[str, float]:
    """`{name: value}` for metrics (a metric returning a dict is flattened)."""
    logs: dict[str, float] = {}
    for metric in metrics:
        value = metric.result()
        if isinstance(value, dict):
            logs.update({k: float(np.asarray(v)) for k, v in value.items()})
        else:
            logs[metric.name] = float(np.asarray(value))
    return logs


def states(metrics: list) -> list[np.ndarray]:
    return [np.asarray(v.numpy()) for m in metrics for v in m.variables]


def assign_states(metrics: list, values: list[np.ndarray]) -> None:
    variables = [v for m in metrics for v in m.variables]
    if len(variables) != len(values):
        raise ValueError(f"expected {len(variables)} metric states, received {len(values)}")
    for var, value in zip(variables, values):
        var.assign(value)


def add_states(a: list[np.ndarray] | None, b: list[np.ndarray]) -> list[np.ndarray]:
    return list(b) if a is None else [x + y for x, y in zip(a, b)]


def as_structure(arrays: list[Any]) -> Any:
    """One tensor as itself, several as a list (what Keras models take)."""
    return arrays[0] if len(arrays) == 1 else list(arrays)
