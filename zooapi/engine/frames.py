"""What the engine accepts as data: a Spark DataFrame, checked once, here."""

from __future__ import annotations

from typing import Any


def require_spark_dataframe(df: Any, argument_name: str = "df"):
    """Returns `df` when it is a Spark DataFrame (classic or Spark Connect),
    else raises a `TypeError` that says how to make one.

    Args:
        df: the value received.
        argument_name: the argument's name, as the caller calls it (`df`,
            `validation_df`, `dataset`...), for the message.

    Returns:
        `df`, unchanged.

    Raises:
        TypeError: `df` is a pandas DataFrame, a pandas-on-Spark DataFrame, or
            anything else that is not a Spark DataFrame.

    Example:
        >>> require_spark_dataframe([1, 2], "df")
        Traceback (most recent call last):
        ...
        TypeError: Received an invalid value for `df`, expected a Spark DataFrame (pyspark.sql.DataFrame). Received: df of type list
    """
    from pyspark.sql import DataFrame

    if isinstance(df, DataFrame):
        return df
    kind = type(df)
    module = kind.__module__ or ""
    received = f"Received: {argument_name} of type {kind.__name__}"
    expected = f"Received an invalid value for `{argument_name}`, expected a Spark DataFrame (pyspark.sql.DataFrame)"
    if module.startswith("pyspark.pandas"):
        raise TypeError(
            f"{expected}, not a pandas-on-Spark DataFrame; convert it with `{argument_name}.to_spark()`. "
            f"{received} ({module}).")
    if module.startswith("pandas"):
        raise TypeError(
            f"{expected}, not a pandas DataFrame; create one with "
            f"`spark.createDataFrame(pdf)` (the data then lives in Spark, and the workers read it from there). "
            f"{received} ({module}).")
    raise TypeError(f"{expected}. {received}")
