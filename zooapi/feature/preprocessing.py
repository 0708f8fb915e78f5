"""Preprocessing: functions of a NumPy batch, applied on the workers, that save
as JSON. Holds the base class, Analytics Zoo's converters (batches of
column values to model tensors), the registry of JSON-savable classes and
the JSON round trip that the Spark ML stages use.

Preprocessing saves as JSON when it is a registered class or a Keras layer.
Any other Python function is pickled, and loading it runs code: as with
Keras' `safe_mode`, that needs `keras.config.enable_unsafe_deserialization()`.

Example:
    >>> import numpy as np
    >>> (ScalarToTensor() * ArrayToTensor([1, 1]))(np.ones(3)).shape
    (3, 1, 1)
"""

from __future__ import annotations

import base64
from typing import Any, Sequence

import numpy as np
from pyspark import cloudpickle

from zooapi.worker.keras_internals import unsafe_deserialization_enabled


class Preprocessing:
    """A batch function with a JSON config (`get_config` / `from_config`).

    Subclass it and implement `__call__(batch)` (a NumPy batch in, a NumPy
    batch out); chain instances with `*`. Decorate a subclass with
    `register_preprocessing` so that it saves as JSON with the stage.

    Example:
        >>> @register_preprocessing
        ... class Scale(Preprocessing):
        ...     def __init__(self, factor=1.0):
        ...         self.factor = factor
        ...     def __call__(self, batch):
        ...         return np.asarray(batch, np.float32) * self.factor
        ...     def get_config(self):
        ...         return {"factor": self.factor}
        >>> (Scale(2.0) * ScalarToTensor())(np.ones(3)).tolist()
        [[2.0], [2.0], [2.0]]
    """

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
    """Rows of a fixed-length sequence (array column) reshaped to `shape`.

    Args:
        shape: the shape of one row, e.g. `[28, 28, 1]`.

    Example:
        >>> SeqToTensor([2, 2])(np.zeros((5, 4))).shape
        (5, 2, 2)
    """


class ArrayToTensor(_Reshape):
    """Rows of an array column reshaped to `shape`.

    Args:
        shape: the shape of one row, e.g. `[28, 28, 1]`.

    Example:
        >>> ArrayToTensor([2, 3])(np.zeros((5, 6))).shape
        (5, 2, 3)
    """


class MLlibVectorToTensor(_Reshape):
    """Rows of an ML Vector column (dense or sparse) reshaped to `shape`.

    Args:
        shape: the shape of one row, e.g. `[4, 1]`.

    Example:
        >>> MLlibVectorToTensor([4, 1])(np.zeros((5, 4))).shape
        (5, 4, 1)
    """


class ScalarToTensor(Preprocessing):
    """One number per row to a tensor of shape `(1,)` per row.

    Example:
        >>> ScalarToTensor()(np.arange(3.0)).shape
        (3, 1)
    """

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(batch, dtype=np.float32).reshape(len(batch), 1)


class ChainedPreprocessing(Preprocessing):
    """Applies each preprocessing in turn; `a * b` makes one.

    Args:
        steps: the preprocessing steps (`Preprocessing` objects, Keras
            layers or functions of a batch), applied first to last.

    Example:
        >>> ChainedPreprocessing([ScalarToTensor(), ArrayToTensor([1, 1])])(np.ones(3)).shape
        (3, 1, 1)
    """

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
        return {"steps": [preprocessing_to_json(s) for s in self.steps]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ChainedPreprocessing":
        return cls([preprocessing_from_json(s) for s in config["steps"]])


def chain(*steps: Any) -> Any:
    """The steps that are not None, applied in turn: None for none, the step
    itself for one, a `ChainedPreprocessing` for more."""
    present = [s for s in steps if s is not None]
    return present[0] if len(present) == 1 else ChainedPreprocessing(present) if present else None


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


def preprocessing_to_json(fn: Any) -> dict[str, Any] | None:
    """A JSON-able spec of `fn`: a registered class's config, a Keras layer's
    config, or (for any other callable) its cloudpickle in base64.

    Example:
        >>> preprocessing_to_json(ScalarToTensor())["class"]
        'ScalarToTensor'
    """
    import keras

    if fn is None:
        return None
    if type(fn).__name__ in BUILT_IN and type(fn) is BUILT_IN[type(fn).__name__]:
        return {"kind": "zooapi", "class": type(fn).__name__, "module": type(fn).__module__,
                "config": fn.get_config()}
    if isinstance(fn, keras.layers.Layer):
        return {"kind": "keras", "config": keras.saving.serialize_keras_object(fn)}
    return {"kind": "pickle", "data": base64.b64encode(cloudpickle.dumps(fn)).decode()}


def _registered_class(spec: dict[str, Any]) -> type:
    """The registered class a "zooapi" spec names. Classes registered outside
    `zooapi.feature.preprocessing` (e.g. `zooapi.feature.image`) register on import, so
    their module (saved in the spec) is imported first; only `zooapi.*`
    modules are imported, never a module named by an arbitrary file."""
    import importlib

    name, module = spec["class"], spec.get("module")
    if name not in BUILT_IN:
        # Specs written before the module was saved name only the class.
        if not (isinstance(module, str) and module.split(".")[0] == "zooapi"):
            module = "zooapi.feature.image"
        importlib.import_module(module)
    if name not in BUILT_IN:
        raise ValueError(
            f"Unknown zooapi preprocessing class '{name}' (module {module!r}); expected one of "
            f"{sorted(BUILT_IN)}. Import the module that defines it before loading.")
    return BUILT_IN[name]


def preprocessing_from_json(spec: dict[str, Any] | None) -> Any:
    """The preprocessing a `preprocessing_to_json` spec describes. A pickled
    function loads only after `keras.config.enable_unsafe_deserialization()`.

    Example:
        >>> preprocessing_from_json(preprocessing_to_json(ArrayToTensor([2, 2])))
        ArrayToTensor(shape=[2, 2])
    """
    import keras

    if spec is None:
        return None
    if spec["kind"] == "zooapi":
        return _registered_class(spec).from_config(spec["config"])
    if spec["kind"] == "keras":
        return keras.saving.deserialize_keras_object(spec["config"])
    if not unsafe_deserialization_enabled():
        raise ValueError(
            "This stage's preprocessing is a pickled Python function, and loading it would run "
            "code from the file. If you trust the file, call "
            "`keras.config.enable_unsafe_deserialization()` first.")
    return cloudpickle.loads(base64.b64decode(spec["data"]))
