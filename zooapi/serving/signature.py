"""A model's input and output signature, and the conversion of user data to
the arrays it takes, checked before TensorFlow sees them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: its name, the shape of one row (the
    batch dimension left out, `None` for a free dimension) and its NumPy
    dtype name."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def describe(self) -> str:
        dims = ", ".join("None" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype} of shape (batch{', ' if dims else ''}{dims})"


@dataclass(frozen=True)
class Signature:
    """The inputs and outputs of a model, in its call order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = ()

    def describe(self) -> str:
        """One line per input, as used in error messages."""
        return "; ".join(spec.describe() for spec in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """The signature as JSON-ready lists of `{"name", "dtype", "shape"}`."""
        def specs(items):
            return [{"name": s.name, "dtype": s.dtype, "shape": [None, *s.shape]} for s in items]
        return {"inputs": specs(self.inputs), "outputs": specs(self.outputs)}

    def to_arrays(self, x: Any) -> list[np.ndarray]:
        """`x` as one array per input, in the model's order, each checked
        against its spec.

        Args:
            x: a NumPy array (or nested list) for a one-input model; a list
                or tuple with one array per input; a dict keyed by input
                name; or a pandas DataFrame (one column per input name, or,
                for one flat input, one numeric column per feature).

        Raises:
            ValueError: wrong number or names of inputs, wrong shape, rows
                that differ in number between inputs, or a dtype that
                cannot be cast to the input's without loss of kind.
            TypeError: `x` is of none of the types above.
        """
        arrays = self._split(x)
        checked = [self._check(spec, array) for spec, array in zip(self.inputs, arrays)]
        rows = {a.shape[0] for a in checked}
        if len(rows) > 1:
            counts = ", ".join(f"{s.name}={a.shape[0]}" for s, a in zip(self.inputs, checked))
            raise ValueError(f"All inputs must have the same number of rows. Received: {counts}. "
                             f"Expected: {self.describe()}.")
        return checked

    # ---- helpers -------------------------------------------------------------------------------

    def _names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def _split(self, x: Any) -> list[Any]:
        n = len(self.inputs)
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is a dependency
            pd = None
        if pd is not None and isinstance(x, pd.DataFrame):
            return self._from_frame(x)
        if isinstance(x, dict):
            missing = [name for name in self._names() if name not in x]
            extra = [key for key in x if key not in self._names()]
            if missing or extra:
                raise ValueError(f"The model takes inputs {self._names()}. Received keys {sorted(map(str, x))} "
                                 f"(missing {missing}, unknown {extra}). Expected: {self.describe()}.")
            return [x[name] for name in self._names()]
        if isinstance(x, (list, tuple)) and n > 1:
            if len(x) != n:
                raise ValueError(f"The model takes {n} inputs {self._names()}. Received a {type(x).__name__} "
                                 f"of {len(x)} item(s). Expected: {self.describe()}.")
            return list(x)
        if n > 1:
            raise ValueError(f"The model takes {n} inputs {self._names()}. Received one "
                             f"{type(x).__name__}; pass a list or a dict of arrays. Expected: {self.describe()}.")
        if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
            return [x[0]]
        if not isinstance(x, (np.ndarray, list, tuple, np.generic)) and not hasattr(x, "__array__"):
            raise TypeError(f"Expected a NumPy array, a list or dict of arrays, or a pandas DataFrame. "
                            f"Received: {type(x).__name__}. Expected: {self.describe()}.")
        return [x]

    def _from_frame(self, frame) -> list[Any]:
        names = self._names()
        if all(name in frame.columns for name in names):
            columns = [frame[name].to_numpy() for name in names]
            return [np.stack([np.asarray(v) for v in c]) if c.dtype == object else c for c in columns]
        spec = self.inputs[0]
        if len(names) == 1 and len(spec.shape) == 1 and spec.shape[0] in (None, frame.shape[1]):
            return [frame.to_numpy()]
        raise ValueError(f"Cannot read the model's inputs from a DataFrame with columns {list(frame.columns)}: "
                         f"expected a column per input ({names}), or, for one flat input, one column per "
                         f"feature. Expected: {self.describe()}.")

    def _check(self, spec: TensorSpec, value: Any) -> np.ndarray:
        try:
            array = np.asarray(value)
        except ValueError as error:  # ragged nested lists
            raise ValueError(f"Input {spec.name!r} is not a rectangular array ({error}). "
                             f"Expected: {spec.describe()}.") from None
        expected = np.dtype(spec.dtype)
        if array.dtype != expected and not (array.dtype.kind in "biuf" and
                                            np.can_cast(array.dtype, expected, casting="same_kind")):
            raise ValueError(f"Input {spec.name!r} has dtype {array.dtype}, which does not convert to the "
                             f"model's {expected}. Expected: {spec.describe()}. Received: dtype={array.dtype}, "
                             f"shape={array.shape}.")
        if array.ndim != len(spec.shape) + 1 or any(
                want is not None and got != want for got, want in zip(array.shape[1:], spec.shape)):
            raise ValueError(f"Input {spec.name!r} has the wrong shape. Expected: {spec.describe()}. "
                             f"Received: shape={array.shape}.")
        return array.astype(expected, copy=False)


def _input_name(tensor, index: int) -> str:
    """The name given to `keras.Input`, else `input_<index>`: Keras' own
    names (`keras_tensor_7`, `input_layer_3`) change from one model object
    to the next, so clients could not rely on them."""
    name = getattr(tensor, "name", "") or ""
    return f"input_{index}" if re.fullmatch(r"(keras_tensor|input_layer)(_\d+)?", name or "keras_tensor") else name


def _spec(tensor, name: str) -> TensorSpec:
    dtype = getattr(tensor.dtype, "name", tensor.dtype)
    return TensorSpec(name, tuple(None if d is None else int(d) for d in tensor.shape[1:]), str(dtype))


def input_signature(model) -> Signature:
    """The input half of a built Keras model's signature.

    Raises:
        TypeError: the model has no symbolic inputs (an unbuilt or
            subclassed model).
    """
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError) as error:
        raise TypeError(f"Expected a built functional or Sequential Keras model with known inputs. "
                        f"Received: {type(model).__name__} ({error}).") from None
    return Signature(tuple(_spec(t, _input_name(t, i)) for i, t in enumerate(inputs)))


def output_specs(outputs, names: list[str]) -> tuple[TensorSpec, ...]:
    """Specs of the arrays a warm-up call returned, named `names`."""
    return tuple(TensorSpec(name, tuple(int(d) for d in array.shape[1:]), str(array.dtype))
                 for name, array in zip(names, outputs))
