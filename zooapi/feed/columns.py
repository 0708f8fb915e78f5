"""Which columns feed which tensor, checked against a Spark schema.

A model input (or output) is fed by a *column group*: one column, or several
numeric columns concatenated row by row. Each column has a *kind*, read off its
Spark type:

| kind     | Spark type                                   | NumPy per row  |
| -------- | -------------------------------------------- | -------------- |
| `scalar` | any numeric or boolean type                  | one value      |
| `array`  | `array<numeric>` of a fixed length            | `(d,)`         |
| `vector` | `pyspark.ml.linalg.VectorUDT`, dense or sparse | `(d,)`         |
| `image`  | Spark's image struct (`ImageSchema`)          | `(h, w, c)`    |
| `binary` | `binary`                                     | `bytes` object |
| `string` | `string`                                     | `str` object   |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

NUMERIC_KINDS = ("scalar", "array", "vector")
IMAGE_FIELDS = ("origin", "height", "width", "nChannels", "mode", "data")
ColumnSpec = Union[str, Sequence[Union[str, Sequence[str]]]]


@dataclass(frozen=True)
class ColumnGroup:
    """The columns that feed one tensor, with the kind of each."""

    columns: tuple[str, ...]
    kinds: tuple[str, ...]

    @property
    def numeric(self) -> bool:
        return all(kind in NUMERIC_KINDS for kind in self.kinds)

    def describe(self) -> str:
        if len(self.columns) == 1:
            return f"column '{self.columns[0]}'"
        return "columns " + ", ".join(f"'{c}'" for c in self.columns)


def column_kind(name: str, dtype) -> str:
    """The kind of a column from its Spark type.

    Raises:
        TypeError: naming the column when its type cannot feed a tensor.
    """
    from pyspark.sql import types as T

    if isinstance(dtype, (T.NumericType, T.BooleanType)):
        return "scalar"
    if isinstance(dtype, T.ArrayType) and isinstance(
        dtype.elementType, (T.NumericType, T.BooleanType)
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
        "tensor. Expected a numeric type, array<numeric>, an ML Vector, Spark's "
        "image struct, binary or string."
    )


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
        group = ColumnGroup(tuple(names), tuple(kinds))
        if len(names) > 1 and not group.numeric:
            odd = next(n for n, k in zip(names, kinds) if k not in NUMERIC_KINDS)
            raise TypeError(
                f"Column '{odd}' has kind '{fields[odd].dataType.simpleString()}' and "
                f"cannot be concatenated with {group.describe()}; only numeric "
                "scalar, array and vector columns can share a tensor."
            )
        groups.append(group)
    return groups


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
