"""Multi-label classification helpers: 'Finding Labels'-style strings to
multi-hot label columns, and per-class ROC AUC computed on the cluster.

The NIH chest X-ray data set lists each image's findings in one string,
`'Cardiomegaly|Effusion'`, or `'No Finding'`. A sigmoid head wants one 0/1
target per class, in a fixed class order: `multi_hot_labels` makes that
column; `per_class_auc` scores a fitted model's probabilities class by
class, as the X-ray example reports them.

Example:
    >>> from zooapi.models import distinct_labels, multi_hot_labels, per_class_auc  # doctest: +SKIP
    >>> classes = distinct_labels(csv, "Finding Labels")  # doctest: +SKIP
    >>> labelled = multi_hot_labels(csv, "Finding Labels", classes, output_col="labels")  # doctest: +SKIP
    >>> per_class_auc(fitted.transform(test), classes, label_col="labels")  # doctest: +SKIP
    {'Atelectasis': 0.77, 'Cardiomegaly': 0.88, ...}
"""

from __future__ import annotations

import logging
import math
import re
from typing import TYPE_CHECKING, Any, Sequence

from zooapi.feature.dataframe_checks import check_column, check_string_column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["distinct_labels", "multi_hot_labels", "per_class_auc"]

logger = logging.getLogger(__name__)

HANDLE_INVALID = ("error", "skip", "ignore")


def check_label_column(df: "DataFrame", column: Any, multi_label: bool) -> None:
    """`column` holds class indices (numeric) or, with `multi_label`, multi-hot
    arrays or Vectors; else a TypeError/ValueError naming `label_col`."""
    from zooapi.feed.columns import column_kind

    check_column(df, column, "label_col")
    dtype = df.schema[column].dataType
    kind = column_kind(column, dtype)
    if kind not in (("array", "vector") if multi_label else ("scalar",)):
        what = "a multi-hot array<float> or Vector" if multi_label else "a numeric class index"
        raise TypeError(f"Column '{column}' (`label_col`) has type {dtype.simpleString()}; expected {what} with "
                        f"multi_label={bool(multi_label)}.")


_LABELS_STRING = "a string of labels separated by the separator, e.g. 'Cardiomegaly|Effusion'"


def _check_separator(separator: Any) -> str:
    if not isinstance(separator, str) or not separator:
        raise ValueError(f"Received an invalid value for `separator`, expected a non-empty string. "
                         f"Received: separator={separator!r}")
    return separator


def _tokens(column: str, separator: str) -> "Column":
    """The trimmed, non-empty labels of each row (null for a null string)."""
    from pyspark.sql import functions as F

    parts = F.split(F.col(column), re.escape(separator))
    return F.filter(F.transform(parts, lambda t: F.trim(t)), lambda t: t != F.lit(""))


def distinct_labels(df: "DataFrame", input_col: str, separator: str = "|",
                    none_label: str | None = "No Finding") -> list[str]:
    """The sorted distinct labels of a column of 'A|B' strings, without
    `none_label`; computed on the cluster (only the labels are collected).

    Args:
        df: the DataFrame.
        input_col: a string column such as 'Finding Labels'.
        separator: what separates labels within a string.
        none_label: the string meaning "no label" (NIH's 'No Finding').

    Returns:
        A list of label names, sorted.

    Example:
        >>> distinct_labels(csv, "Finding Labels")[:2]  # doctest: +SKIP
        ['Atelectasis', 'Cardiomegaly']
    """
    from pyspark.sql import functions as F

    check_string_column(df, input_col, "input_col", _LABELS_STRING)
    labels = df.select(F.explode(_tokens(input_col, _check_separator(separator))).alias("label")).distinct()
    if none_label is not None:
        labels = labels.where(F.col("label") != F.lit(none_label))
    return sorted(row["label"] for row in labels.collect())


def multi_hot_labels(df: "DataFrame", input_col: str, classes: Sequence[str], output_col: str = "label",
                     separator: str = "|", none_label: str | None = "No Finding",
                     handle_invalid: str = "error") -> "DataFrame":
    """Adds a multi-hot `array<float>` column: one 1.0/0.0 per class of
    `classes`, in that order, for a string column of labels like
    `'Cardiomegaly|Effusion'`. `none_label` (and an empty string) gives all
    zeros. Spaces around labels are ignored.

    Args:
        df: the DataFrame.
        input_col: the string column.
        classes: the class names, in output order (fix it once, e.g. with
            `distinct_labels` on the training data, and reuse it).
        output_col: the new column (replaced if it exists).
        separator: what separates labels within a string.
        none_label: the string meaning "no label" (None: no such string).
        handle_invalid: for a row with a label outside `classes` (or a
            null string): "error" fails the job with a message naming the
            labels (as Spark's `handleInvalid`), "skip" drops the row,
            "ignore" keeps the row and ignores the unknown labels (a null
            gives all zeros).

    Returns:
        A DataFrame (lazy).

    Example:
        >>> multi_hot_labels(csv, "Finding Labels", ["Cardiomegaly", "Effusion"]).select("label").first()  # doctest: +SKIP
        Row(label=[1.0, 1.0])
    """
    from pyspark.sql import functions as F

    check_string_column(df, input_col, "input_col", _LABELS_STRING)
    if (isinstance(classes, str) or not isinstance(classes, (list, tuple)) or not classes
            or not all(isinstance(c, str) and c for c in classes) or len(set(classes)) != len(classes)):
        raise ValueError(f"Received an invalid value for `classes`, expected a non-empty list of distinct, non-empty "
                         f"class names. Received: classes={classes!r}")
    if handle_invalid not in HANDLE_INVALID:
        raise ValueError(f"Received an invalid value for `handle_invalid`, expected one of "
                         f"{', '.join(HANDLE_INVALID)}. Received: handle_invalid={handle_invalid!r}")
    if not isinstance(output_col, str) or not output_col:
        raise ValueError(f"Received an invalid value for `output_col`, expected a column name. "
                         f"Received: output_col={output_col!r}")
    tokens = _tokens(input_col, _check_separator(separator))
    known = list(classes) + ([none_label] if none_label is not None and none_label not in classes else [])
    unknown = F.array_except(F.coalesce(tokens, F.array().cast("array<string>")),
                             F.array(*[F.lit(c) for c in known]))
    hot = F.array(*[F.coalesce(F.array_contains(tokens, c), F.lit(False)).cast("float") for c in classes])
    invalid = F.col(input_col).isNull() | (F.size(unknown) > 0)
    if handle_invalid == "error":
        message = F.concat(
            F.lit(f"Column '{input_col}' has the label(s) "),
            F.coalesce(F.array_join(unknown, ", "), F.lit("")),
            F.lit(" in value '"), F.coalesce(F.col(input_col), F.lit("null")),
            F.lit(f"', which are not in `classes` ({', '.join(classes)}); expected only those"
                  + (f" or '{none_label}'" if none_label is not None else "")
                  + ". Pass handle_invalid='skip' or 'ignore' to drop such rows or labels."))
        return df.withColumn(output_col, F.when(invalid, F.raise_error(message)).otherwise(hot))
    if handle_invalid == "skip":
        return df.where(~invalid).withColumn(output_col, hot)
    return df.withColumn(output_col, hot)


def per_class_auc(df: "DataFrame", class_names: Sequence[str], label_col: str = "label",
                  probability_col: str = "probability") -> dict[str, float]:
    """Area under the ROC curve of each class of a multi-label model's
    output, computed on the cluster with Spark's
    `BinaryClassificationEvaluator` (one pass over a persisted narrow copy
    per class; nothing but the counts and the AUCs reach the driver).

    Args:
        df: a DataFrame with multi-hot labels and per-class probabilities,
            e.g. what `ImageClassifierModel.transform` gives.
        class_names: the class names, in the order of the label values.
        label_col: the multi-hot labels (`array<numeric>` or Vector).
        probability_col: the per-class scores (Vector or `array<numeric>`).

    Returns:
        `{class_name: auc}` in `class_names` order; NaN (with a warning) for
        a class whose labels are all 0 or all 1.

    Example:
        >>> per_class_auc(fitted.transform(test), ["Cardiomegaly", "Effusion"])  # doctest: +SKIP
        {'Cardiomegaly': 0.91, 'Effusion': 0.87}
    """
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    names = list(class_names) if isinstance(class_names, (list, tuple)) else None
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"Received an invalid value for `class_names`, expected a non-empty list of class names. "
                         f"Received: class_names={class_names!r}")

    def values(column: str, argument: str):
        check_column(df, column, argument)
        dtype = df.schema[column].dataType
        if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.NumericType):
            return F.col(column)
        if isinstance(dtype, T.UserDefinedType) and dtype.simpleString() == "vector":
            return vector_to_array(F.col(column))
        raise TypeError(f"Column '{column}' (`{argument}`) has type {dtype.simpleString()}; expected an "
                        "array<numeric> or an ML Vector with one value per class.")

    labels, scores = values(label_col, "label_col"), values(probability_col, "probability_col")
    k = len(names)
    size_ok = (F.size(labels) == k) & (F.size(scores) == k)
    wrong_size = F.raise_error(F.concat(
        F.lit(f"Columns '{label_col}' and '{probability_col}' must hold {k} values per row (one per class "
              "name); found "), F.size(labels).cast("string"), F.lit(" and "), F.size(scores).cast("string"),
        F.lit(".")))

    def checked(values_col, i: int, alias: str):
        return F.when(size_ok, values_col[i].cast("double")).otherwise(wrong_size).alias(alias)

    narrow = df.select(*[checked(labels, i, f"y{i}") for i in range(k)],
                       *[checked(scores, i, f"s{i}") for i in range(k)]).persist()
    try:
        counts = narrow.agg(F.count(F.lit(1)).alias("n"),
                            *[F.sum((F.col(f"y{i}") > 0).cast("long")).alias(f"p{i}") for i in range(k)]).first()
        result: dict[str, float] = {}
        for i, name in enumerate(names):
            positives, rows = counts[f"p{i}"] or 0, counts["n"]
            if positives == 0 or positives == rows:
                logger.warning("per_class_auc: class %r has %s; its AUC is undefined (NaN)", name,
                               "no positive label" if positives == 0 else "no negative label")
                result[name] = math.nan
                continue
            evaluator = BinaryClassificationEvaluator(rawPredictionCol=f"s{i}", labelCol=f"y{i}",
                                                      metricName="areaUnderROC")
            result[name] = float(evaluator.evaluate(narrow))
        return result
    finally:
        narrow.unpersist()
