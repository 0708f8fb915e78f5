"""Which columns feed which tensor, checked against a Spark schema.

A model input (or output) is fed by a *column group*: one column, or several
numeric columns concatenated row by row. Each column has a *kind*, read off its
Spark type:

| kind     | Spark type                                   | NumPy per row  |
| -------- | -------------------------------------------- | -------------- |
| `scalar` | any numeric or boolean type                  | one value      |
| `array`  | `array<numeric>` of a fixed length            | `(d,)`         |
|          | nested: `array<array<numeric>>`, ...           | `(d1, d2, ...)`|
| `vector` | `pyspark.ml.linalg.VectorUDT`, dense or sparse | `(d,)`         |
| `image`  | Spark's image struct (`ImageSchema`)          | `(h, w, c)`    |
| `binary` | `binary`                                     | `bytes` object |
| `string` | `string`                                     | `str` object   |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

from zooapi.feed.spark_image import IMAGE_FIELDS

NUMERIC_KINDS = ("scalar", "array", "vector")
ColumnSpec = Union[str, Sequence[Union[str, Sequence[str]]]]


@dataclass(frozen=True)
class ColumnGroup:
    """The columns that feed one tensor, with the kind of each (and its Spark
    type, as `simpleString()`, for messages; empty when not known)."""

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    spark_types: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return all(kind in NUMERIC_KINDS for kind in self.kinds)

    def describe(self) -> str:
        if len(self.columns) == 1:
            return f"column '{self.columns[0]}'"
        return "columns " + ", ".join(f"'{c}'" for c in self.columns)


def column_kind(name: str, dtype) -> str:
    """The kind of a column from its Spark type: "scalar", "array", "vector",
    "image", "binary" or "string" (the table above).

    Args:
        name: the column's name, for the error message.
        dtype: its Spark type (`df.schema[name].dataType`).

    Returns:
        The kind, a string.

    Raises:
        TypeError: naming the column when its type cannot feed a tensor.

    Example:
        >>> from pyspark.sql import types as T
        >>> column_kind("features", T.ArrayType(T.FloatType()))
        'array'
    """
    from pyspark.sql import types as T

    if isinstance(dtype, (T.NumericType, T.BooleanType)):
        return "scalar"
    if isinstance(dtype, T.ArrayType) and isinstance(
        array_levels(dtype)[1], (T.NumericType, T.BooleanType)
    ):
        return "array"
    if isinstance(dtype, T.UserDefinedType) and dtype.simpleString() == "vector":
        return "vector"
    if isinstance(dtype, T.StructType) and tuple(dtype.names) == IMAGE_FIELDS:
        return "image"
    if isinstance(dtype, T.BinaryType):
        return "binary"
    if isinstance(dtype, T.StringType):
        return "string"
    raise TypeError(
        f"Column '{name}' has type {dtype.simpleString()}, which cannot feed a "
        "tensor. Expected a numeric type, array<numeric> (or nested arrays of numbers), an ML Vector, Spark's "
        "image struct, binary or string."
    )


def array_levels(dtype) -> tuple[int, object]:
    """How many array levels a Spark type has and the type inside them:
    `(2, FloatType())` for `array<array<float>>`, `(0, dtype)` for a non-array."""
    from pyspark.sql import types as T

    depth = 0
    while isinstance(dtype, T.ArrayType):
        dtype, depth = dtype.elementType, depth + 1
    return depth, dtype


def normalize_spec(spec: ColumnSpec | None, n_tensors: int, role: str) -> list[list[str]]:
    """Turns a user's column spec into one list of column names per tensor.

    With one tensor, a string or a flat list of names is one group (several
    columns are concatenated). With several tensors, give one entry per
    tensor, each a name or a list of names.
    """
    arg = f"{role}_cols"
    if spec is None or (not isinstance(spec, str) and len(spec) == 0):
        raise ValueError(f"Received no `{arg}`; expected the column(s) to feed the model's {role}s.")
    if isinstance(spec, str):
        groups = [[spec]]
    elif n_tensors == 1 and all(isinstance(c, str) for c in spec):
        groups = [list(spec)]
    else:
        groups = [[c] if isinstance(c, str) else list(c) for c in spec]
    for group in groups:
        for name in group:
            if not isinstance(name, str):
                raise TypeError(
                    f"Received an invalid value for `{arg}`, expected column names "
                    f"(strings). Received: {arg}={spec!r}"
                )
    if len(groups) != n_tensors:
        raise ValueError(
            f"The model has {n_tensors} {role}(s) but `{arg}` names {len(groups)} "
            f"column group(s). Received: {arg}={spec!r}. Give one column name or "
            f"list of column names per {role}."
        )
    return groups


def plan_groups(schema, spec: ColumnSpec | None, n_tensors: int, role: str) -> list[ColumnGroup]:
    """Checks a column spec against a Spark schema and returns its groups.

    Raises:
        ValueError: a column is missing, or the spec does not match the
            number of tensors.
        TypeError: a column's type cannot feed a tensor, or columns that
            cannot be concatenated share a group.
    """
    fields = {f.name: f for f in schema.fields}
    groups = []
    for names in normalize_spec(spec, n_tensors, role):
        kinds = []
        for name in names:
            if name not in fields:
                raise ValueError(
                    f"Column '{name}' (in `{role}_cols`) is not in the DataFrame. "
                    f"Its columns are: {', '.join(fields)}."
                )
            kinds.append(column_kind(name, fields[name].dataType))
        group = ColumnGroup(tuple(names), tuple(kinds), tuple(fields[n].dataType.simpleString() for n in names))
        if len(names) > 1 and not group.numeric:
            odd = next(n for n, k in zip(names, kinds) if k not in NUMERIC_KINDS)
            raise TypeError(
                f"Column '{odd}' has kind '{fields[odd].dataType.simpleString()}' and "
                f"cannot be concatenated with {group.describe()}; only numeric "
                "scalar, array and vector columns can share a tensor."
            )
        groups.append(group)
    return groups


def _is_numeric_dtype(dtype: str) -> bool:
    return "int" in dtype or "float" in dtype or dtype == "bool"


def check_binding(group: ColumnGroup, tensor: str, dtype: str, shape: Sequence[int | None]) -> None:
    """Refuses, before any data is read, a column group that cannot feed a
    tensor named `tensor` of `dtype` and `shape` (without its batch axis).

    String and binary columns feed `string` tensors, one value per row (a
    tensor of shape `()`, `(1,)` or `(None,)`); numeric columns feed numeric
    tensors; an image feeds a tensor of rank 2 or 3 (height, width[,
    channels]).

    Raises:
        TypeError: the column's type cannot feed the tensor; the message
            names the column, its Spark type, the tensor, its dtype and shape.
        ValueError: a string or binary column (one value per row) is bound
            to a tensor that needs several values per row.
    """
    full_shape = (None, *shape)
    target = f"model input '{tensor}' (dtype={dtype}, shape={full_shape})"
    types = group.spark_types or group.kinds

    def refuse(i: int, expected: str) -> TypeError:
        return TypeError(
            f"Column '{group.columns[i]}' of Spark type {types[i]} cannot feed {target}; expected {expected}. "
            f"Received: column '{group.columns[i]}' of type {types[i]}."
        )

    if dtype == "string":
        if group.numeric:
            raise refuse(0, "a string or binary column for a string input (cast numbers with "
                            "`df.withColumn(name, col(name).cast('string'))`, or give the model a numeric input)")
        if any(d not in (1, None) for d in shape):
            raise ValueError(
                f"Column '{group.columns[0]}' of Spark type {types[0]} holds one value per row and cannot "
                f"fill {target}; expected an input of shape (None,), (None, 1) or (None, None) for a "
                f"string column. Received: shape={full_shape}."
            )
        return
    if not _is_numeric_dtype(dtype):
        return  # a dtype this check does not know: Keras will say
    for i, kind in enumerate(group.kinds):
        if kind in ("string", "binary"):
            raise refuse(i, f"a numeric column (a number, array<numeric> or an ML Vector) for a {dtype} input. "
                            "Index strings first (`pyspark.ml.feature.StringIndexer`), decode bytes with "
                            "`feature_preprocessing`, or give the model a `keras.Input(shape=(1,), "
                            "dtype=\"string\")` in front of `StringLookup` or `TextVectorization`")
        if kind == "image" and len(shape) not in (2, 3):
            raise refuse(i, "an input of shape (None, height, width, channels) for an image column (or "
                            "`feature_preprocessing` that turns images into the input's shape)")


@dataclass(frozen=True)
class TensorFeed:
    """How one model input or output is fed from a column group.

    `shape` is the tensor's shape without the batch axis (None: as decoded).
    A label feed (`is_label`) is checked against the model output's shape:
    it must have as many values per row, or one (a class index).
    """

    group: ColumnGroup
    shape: tuple[int | None, ...] | None
    dtype: str
    is_label: bool = False
