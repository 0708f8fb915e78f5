"""Column functions for model outputs, in the spirit of `pyspark.ml.functions`.

Example:
    >>> from zooapi.nnframes.functions import predicted_class  # doctest: +SKIP
    >>> scored.withColumn("predicted", predicted_class("prediction"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


def predicted_class(col: Any, threshold: float | None = None):
    """The class index a classifier's output predicts, as a Spark Column:
    NumPy's `argmax(p, axis=-1)` for an `array` of class scores (0-based; the
    first of equal maxima), or `p > threshold` for one sigmoid unit (a
    `double` column: pass `threshold`, e.g. 0.5).

    Args:
        col: the output column: a name or a Column (`array<float>` or
            `array<double>` of class scores, or `double` with `threshold`).
        threshold: for a model with one sigmoid output: class 1 when the
            probability is above it, else 0. None for an array of scores.

    Returns:
        An `int` Column (null where `col` is null).

    Example:
        >>> scored = model.predict(df, feature_cols="features")  # doctest: +SKIP
        >>> scored.withColumn("predicted", predicted_class("prediction")).show()  # doctest: +SKIP
    """
    from pyspark.sql import Column
    from pyspark.sql import functions as F

    if not isinstance(col, (str, Column)):
        raise TypeError(f"Received an invalid value for `col`, expected a column name or a Column. "
                        f"Received: col of type {type(col).__name__}")
    scores = F.col(col) if isinstance(col, str) else col
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(f"Received an invalid value for `threshold`, expected a number. "
                            f"Received: threshold={threshold!r}")
        return (scores > F.lit(float(threshold))).cast("int")
    return (F.array_position(scores, F.array_max(scores)) - 1).cast("int")
