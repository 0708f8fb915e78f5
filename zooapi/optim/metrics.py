"""Validation metrics by Analytics Zoo's names, as Keras metrics.

`Top1Accuracy`, `Top5Accuracy` (labels are class indices), `MAE`, `AUC`, and
`Loss` (the validation loss, which is always reported: asking for it adds
nothing). Any Keras metric name or instance works as well.

Example:
    >>> [m.name for m in resolve_metrics(["Top1Accuracy", "MAE", "Loss"])]
    ['Top1Accuracy', 'MAE']
"""

from __future__ import annotations

from typing import Any, Sequence

import keras


def Top1Accuracy():  # noqa: N802 - Analytics Zoo's name
    """Top-1 accuracy on class-index labels, named `Top1Accuracy`.

    Returns:
        A `keras.metrics.SparseTopKCategoricalAccuracy` with `k=1`.

    Example:
        >>> Top1Accuracy().name
        'Top1Accuracy'
    """

    return keras.metrics.SparseTopKCategoricalAccuracy(k=1, name="Top1Accuracy")


def Top5Accuracy():  # noqa: N802
    """Top-5 accuracy on class-index labels, named `Top5Accuracy`.

    Returns:
        A `keras.metrics.SparseTopKCategoricalAccuracy` with `k=5`.

    Example:
        >>> Top5Accuracy().name
        'Top5Accuracy'
    """

    return keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="Top5Accuracy")


def MAE():  # noqa: N802
    """Mean absolute error, named `MAE`.

    Returns:
        A `keras.metrics.MeanAbsoluteError`.

    Example:
        >>> MAE().name
        'MAE'
    """

    return keras.metrics.MeanAbsoluteError(name="MAE")


def AUC():  # noqa: N802
    """Area under the ROC curve, named `AUC`.

    Returns:
        A `keras.metrics.AUC`.

    Example:
        >>> AUC().name
        'AUC'
    """

    return keras.metrics.AUC(name="AUC")


def Loss():  # noqa: N802
    """The validation loss, which is always reported as `val_loss`.

    Returns:
        None: asking for it adds no metric.

    Example:
        >>> Loss() is None
        True
    """

    return None  # the loss is always computed and reported as (val_)loss


_NAMED = {"Top1Accuracy": Top1Accuracy, "Top5Accuracy": Top5Accuracy, "MAE": MAE, "AUC": AUC, "Loss": Loss}


def resolve_metrics(metrics: Sequence[Any] | None) -> list:
    """Keras metric objects or names for `compile`, with zooapi's names resolved."""
    out = []
    for metric in metrics or []:
        if isinstance(metric, str) and metric in _NAMED:
            metric = _NAMED[metric]()
        elif callable(metric) and getattr(metric, "__name__", None) in _NAMED and _NAMED[metric.__name__] is metric:
            metric = metric()
        if metric is not None:
            out.append(metric)
    return out
