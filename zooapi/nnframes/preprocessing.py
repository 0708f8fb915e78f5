"""Converters from decoded column batches to model tensors, with Analytics
Zoo's names. Each is a function of a NumPy batch (applied on the workers)
and saves as JSON with the stage that uses it.

Example:
    >>> import numpy as np
    >>> (ScalarToTensor() * ArrayToTensor([1, 1]))(np.ones(3)).shape
    (3, 1, 1)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


class Preprocessing:
    """A batch function with a JSON config (`get_config` / `from_config`)."""

    def __call__(self, batch: Any) -> Any:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Preprocessing":
        return cls(**config)

    def __mul__(self, other: "Preprocessing") -> "ChainedPreprocessing":
        """`a * b` applies `a`, then `b` (as in Analytics Zoo)."""
        return ChainedPreprocessing([self, other])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _Reshape(Preprocessing):
    def __init__(self, shape: Sequence[int]):
        if not shape or any(not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
            raise ValueError(f"Received an invalid value for `shape`, expected positive integers. Received: shape={shape!r}")
        self.shape = [int(s) for s in shape]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        size = int(np.prod(self.shape))
        if batch.size != len(batch) * size:
            raise ValueError(
                f"{type(self).__name__}({self.shape}) received rows of {batch.size // max(len(batch), 1)} "
                f"values; expected {size} values per row.")
        return batch.reshape(len(batch), *self.shape)

    def get_config(self) -> dict[str, Any]:
        return {"shape": self.shape}


class SeqToTensor(_Reshape):
    """Rows of a fixed-length sequence (array column) reshaped to `shape`."""


class ArrayToTensor(_Reshape):
    """Rows of an array column reshaped to `shape`."""


class MLlibVectorToTensor(_Reshape):
    """Rows of an ML Vector column (dense or sparse) reshaped to `shape`."""


class ScalarToTensor(Preprocessing):
    """One number per row to a tensor of shape `(1,)` per row."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(batch, dtype=np.float32).reshape(len(batch), 1)


class ChainedPreprocessing(Preprocessing):
    """Applies each preprocessing in turn."""

    def __init__(self, steps: Sequence[Any]):
        self.steps = list(steps)
        for step in self.steps:
            if not callable(step):
                raise TypeError(f"Every step of ChainedPreprocessing must be callable. Received: {step!r}")

    def __call__(self, batch: Any) -> Any:
        for step in self.steps:
            batch = step(batch)
        return batch

    def get_config(self) -> dict[str, Any]:
        from zooapi.nnframes.persistence import preprocessing_to_json

        return {"steps": [preprocessing_to_json(s) for s in self.steps]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ChainedPreprocessing":
        from zooapi.nnframes.persistence import preprocessing_from_json

        return cls([preprocessing_from_json(s) for s in config["steps"]])


BUILT_IN = {c.__name__: c for c in (SeqToTensor, ArrayToTensor, MLlibVectorToTensor, ScalarToTensor,
                                    ChainedPreprocessing)}


def register_preprocessing(cls: type) -> type:
    """Adds a `Preprocessing` subclass to the JSON registry (`BUILT_IN`), so
    stages that use it save it as JSON. Usable as a class decorator.

    Args:
        cls: a subclass of `Preprocessing`, importable from its module.

    Returns:
        `cls`, unchanged.

    Example:
        >>> @register_preprocessing  # doctest: +SKIP
        ... class Double(Preprocessing):
        ...     def __call__(self, batch):
        ...         return batch * 2
    """
    if not (isinstance(cls, type) and issubclass(cls, Preprocessing)):
        raise TypeError(f"`register_preprocessing` expects a subclass of Preprocessing. Received: {cls!r}")
    known = BUILT_IN.get(cls.__name__)
    if known is not None and known is not cls:
        raise ValueError(
            f"A preprocessing class named '{cls.__name__}' is already registered "
            f"({known.__module__}.{known.__qualname__}); expected unique class names. "
            f"Received: {cls.__module__}.{cls.__qualname__}")
    BUILT_IN[cls.__name__] = cls
    return cls
