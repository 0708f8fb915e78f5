"""Checks of DataFrame arguments shared by the feature helpers and the models:
each error names the argument, the column, what was received and what was
expected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def check_column(df: "DataFrame", column: Any, argument: str) -> str:
    """`column` when it names a column of `df`; else a TypeError/ValueError naming `argument`."""
    if not isinstance(column, str):
        raise TypeError(f"Received an invalid value for `{argument}`, expected a column name. "
                        f"Received: {argument}={column!r}")
    if column not in df.columns:
        raise ValueError(f"Column '{column}' (`{argument}`) is not in the DataFrame. Its columns are: "
                         f"{', '.join(df.columns)}.")
    return column


def check_string_column(df: "DataFrame", column: Any, argument: str, expected: str = "a string column") -> str:
    """`column` when it is a string column of `df`; else a TypeError/ValueError
    naming `argument`, its Spark type and what was `expected`."""
    from pyspark.sql import types as T

    check_column(df, column, argument)
    dtype = df.schema[column].dataType
    if not isinstance(dtype, T.StringType):
        raise TypeError(f"Column '{column}' (`{argument}`) has Spark type {dtype.simpleString()}; expected "
                        f"{expected}.")
    return column


def check_columns(df: "DataFrame", columns: Any, argument: str) -> list[str]:
    """One column name or a non-empty list of them, each in `df`."""
    names = [columns] if isinstance(columns, str) else columns
    if not isinstance(names, (list, tuple)) or not names:
        raise TypeError(f"Received an invalid value for `{argument}`, expected a column name or a non-empty "
                        f"list of them. Received: {argument}={columns!r}")
    return [check_column(df, name, argument) for name in names]


def check_numeric(df: "DataFrame", columns: Sequence[str], argument: str) -> None:
    """A TypeError naming the first of `columns` that is not numeric."""
    from pyspark.sql import types as T

    for name in columns:
        dtype = df.schema[name].dataType
        if not isinstance(dtype, T.NumericType):
            raise TypeError(f"Column '{name}' (`{argument}`) has Spark type {dtype.simpleString()}; "
                            "expected a numeric column.")


def check_positive_int(argument: str, value: Any, minimum: int = 1) -> int:
    """`value` when it is an integer >= `minimum`; else a ValueError naming `argument`."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Received an invalid value for `{argument}`, expected an integer >= {minimum}. "
                         f"Received: {argument}={value!r}")
    return int(value)


def check_fraction(argument: str, value: Any) -> float:
    """`value` when it is a number strictly between 0 and 1; else a ValueError naming `argument`."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"Received an invalid value for `{argument}`, expected a fraction strictly between "
                         f"0 and 1 (not a percent). Received: {argument}={value!r}")
    return float(value)
