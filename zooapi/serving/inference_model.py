"""`InferenceModel`: a local, thread-safe Keras model for web services and
stream processors.

Each call is checked against the model's signature, cut into slices of a
few fixed sizes (padded up to the next one), and run through one of
`concurrent_num` sets of functions traced once per size (`ConcreteFunction`s),
so varying request sizes never make TensorFlow trace again.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from contextlib import contextmanager
from typing import Any, Sequence

import numpy as np

from zooapi.checks import check_int
from zooapi.serving.signature import Signature, input_signature, output_specs

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
RUNTIMES = ("tensorflow", "litert")


def _check_batch_sizes(batch_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(sorted({check_int("batch_sizes", b) for b in batch_sizes}))
    if not sizes:
        raise ValueError(f"Received an invalid value for `batch_sizes`, expected a non-empty list of positive "
                         f"integers. Received: batch_sizes={batch_sizes!r}")
    return sizes


def _set_intra_op_threads(threads: int | None) -> None:
    if threads is None:
        return
    import tensorflow as tf

    if tf.config.threading.get_intra_op_parallelism_threads() == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError as error:  # TensorFlow's runtime already started in this process
        logger.warning("Could not set intra_op_threads=%d (%s); TensorFlow keeps %d.", threads, error,
                       tf.config.threading.get_intra_op_parallelism_threads())


class InferenceModel:
    """A Keras model for serving: thread-safe, warmed up, with checked inputs.

    Up to `concurrent_num` predictions run at once, each on its own compiled
    `tf.function`; further callers wait for one to be free. A batch is cut
    into slices of the sizes in `batch_sizes` (the last slice padded up), so
    each function traces once per size, at warm-up, and never again.

    Args:
        concurrent_num: how many predictions may run at the same time.
        intra_op_threads: TensorFlow's intra-op thread count; it can only be
            set before TensorFlow first runs in the process (a warning says
            when it was too late). None: TensorFlow's default (all cores).
        batch_sizes: the fixed slice sizes; a batch larger than the largest
            runs as several slices of the largest.
        runtime: "tensorflow" (compiled `tf.function`s), or "litert": the
            model exported with `model.export(format="litert")` and run by
            the LiteRT interpreter, much faster for small dense models
            (see the README's serving figures); one input and one output.

    Example:
        >>> model = InferenceModel(concurrent_num=2).load("digits.keras")  # doctest: +SKIP
        >>> model.predict(np.zeros((3, 64), np.float32)).shape  # doctest: +SKIP
        (3, 10)
    """

    def __init__(self, concurrent_num: int = 1, intra_op_threads: int | None = None,
                 batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES, runtime: str = "tensorflow"):
        if runtime not in RUNTIMES:
            raise ValueError(f"Received an invalid value for `runtime`, expected one of {RUNTIMES}. "
                             f"Received: runtime={runtime!r}")
        self.runtime = runtime
        self.concurrent_num = check_int("concurrent_num", concurrent_num)
        self.intra_op_threads = check_int("intra_op_threads", intra_op_threads, allow=(None,))
        self.batch_sizes = _check_batch_sizes(batch_sizes)
        self.model = None
        self.signature: Signature | None = None
        self.quantization = None
        self._functions: list[Any] = []
        self._pool: queue.Queue = queue.Queue()
        self._lock = threading.Lock()

    # ---- loading -------------------------------------------------------------------------------

    def load(self, path: str | os.PathLike, *, quantize: str | None = None, safe_mode: bool = True,
             custom_objects: dict[str, Any] | None = None) -> InferenceModel:
        """Loads a `.keras`, `.h5` or SavedModel, local or remote, with
        `zooapi.keras.Net.load`, and warms it up.

        Args:
            path: a local path or any URL that `Net.load` reads.
            quantize: None, or "int8" to quantize the loaded model's
                `Dense`, `EinsumDense` and `Embedding` layers
                (`zooapi.serving.quantize`); with `runtime="litert"`,
                LiteRT's dynamic-range int8 weights instead.
            safe_mode: refuse code stored in the file (Keras' safe mode).
            custom_objects: custom classes, as in Keras.

        Returns:
            self, ready to predict.

        Example:
            >>> model = InferenceModel().load("s3://bucket/digits.keras", quantize="int8")  # doctest: +SKIP
        """
        from zooapi.keras.net import Net

        return self.from_keras(Net.load(path, custom_objects=custom_objects, safe_mode=safe_mode),
                               quantize=quantize)

    def from_keras(self, model, *, quantize: str | None = None) -> InferenceModel:
        """Serves an in-memory Keras model (functional or Sequential), and
        warms it up.

        Args:
            model: a built Keras model with known inputs.
            quantize: None, or "int8" (quantizes `model` in place; with
                `runtime="litert"`, the exported copy only).

        Returns:
            self, ready to predict.

        Example:
            >>> served = InferenceModel().from_keras(model)  # doctest: +SKIP
        """
        import tensorflow as tf

        _set_intra_op_threads(self.intra_op_threads)
        signature = input_signature(model)
        if quantize is not None and self.runtime == "tensorflow":
            from zooapi.serving.quantize import quantize as quantize_model

            self.quantization = quantize_model(model, mode=quantize)

        def call(*inputs):
            return tf.nest.flatten(model(list(inputs) if len(inputs) > 1 else inputs[0], training=False))

        if self.runtime == "litert":
            from zooapi.serving import litert

            content = litert.export(model, quantize)
            row = tuple(d or 1 for d in signature.inputs[0].shape)

            def compiled_for(size):
                return litert.LiteRTFunction(content, size, row, self.intra_op_threads)
        else:
            def compiled_for(size):
                return _Compiled(call, [tf.TensorSpec((size, *spec.shape), spec.dtype) for spec in signature.inputs])
        # One function per slot and batch size, each traced once, here.
        with _no_retracing_warnings():
            functions = [{size: compiled_for(size) for size in self.batch_sizes} for _ in range(self.concurrent_num)]
            warm = [np.zeros((1, *[d or 1 for d in spec.shape]), spec.dtype) for spec in signature.inputs]
            first = [np.asarray(t) for t in compiled_for(1)(*warm)]
        structure = model(warm if len(warm) > 1 else warm[0], training=False)
        signature = Signature(signature.inputs, output_specs(first, _output_names(model, structure)))
        with self._lock:
            self.model, self.signature, self._functions = model, signature, functions
            self._pool = queue.Queue()
            for slot in functions:
                self._pool.put(slot)
        self._warm_up()
        logger.info("InferenceModel ready (%s%s): %s; %d concurrent, batch sizes %s.", self.runtime,
                    f", {quantize}" if quantize else "", signature.describe(), self.concurrent_num, self.batch_sizes)
        return self

    def _warm_up(self) -> None:
        for slot in self._functions:
            for size, fn in slot.items():
                fn(*[np.zeros((size, *[d or 1 for d in spec.shape]), spec.dtype) for spec in self.signature.inputs])

    # ---- prediction ----------------------------------------------------------------------------

    def predict(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """The model's outputs for `x`, as NumPy.

        Args:
            x: a NumPy array (one-input model), a list or dict of arrays
                (several inputs, a dict keyed by input name), or a pandas
                DataFrame (a column per input, or one column per feature of
                a single flat input).

        Returns:
            An array, or a list of arrays for a model with several outputs.

        Raises:
            ValueError: the number, names, shapes or dtypes of the inputs do
                not match the model's; the message gives both.
            TypeError: `x` is of no supported type.

        Example:
            >>> model.predict({"user": users, "item": items})  # doctest: +SKIP
        """
        self._require_loaded()
        outputs = self.predict_arrays(self.signature.to_arrays(x))
        return outputs[0] if len(outputs) == 1 else outputs

    def predict_arrays(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Outputs (always a list) for inputs already converted by
        `signature.to_arrays`: the server's batching path."""
        self._require_loaded()
        rows = arrays[0].shape[0]
        if rows == 0:
            return [np.zeros((0, *spec.shape), spec.dtype) for spec in self.signature.outputs]
        slot = self._pool.get()
        try:
            parts = [self._run(slot, [a[start:start + size] for a in arrays])
                     for start, size in self._slices(rows)]
        finally:
            self._pool.put(slot)
        return parts[0] if len(parts) == 1 else [np.concatenate(p) for p in zip(*parts)]

    def _slices(self, rows: int) -> list[tuple[int, int]]:
        largest = self.batch_sizes[-1]
        return [(start, min(largest, rows - start)) for start in range(0, rows, largest)]

    def _run(self, slot: dict, arrays: list[np.ndarray]) -> list[np.ndarray]:
        rows = arrays[0].shape[0]
        size = next(b for b in self.batch_sizes if b >= rows)
        if size != rows:
            arrays = [np.concatenate([a, np.zeros((size - rows, *a.shape[1:]), a.dtype)]) for a in arrays]
        return [np.asarray(t)[:rows] for t in slot[size](*arrays)]

    def tracing_count(self) -> int:
        """How many times the compiled functions traced, all together: one per
        batch size and function after warm-up, and no more afterwards."""
        return sum(fn.tracing_count() for slot in self._functions for fn in slot.values()
                   if isinstance(fn, _Compiled))

    def _require_loaded(self) -> None:
        if self.model is None:
            raise ValueError("The InferenceModel has no model yet; call `load(path)` or `from_keras(model)` first.")


class _Compiled:
    """The model's forward pass traced for one batch size, called as its
    `ConcreteFunction`: a `tf.function`'s own dispatch (binding and hashing
    its arguments) cost about 100 us a call at batch 64 on the README's
    machine, a fifth of the 64-256-256-10 MLP's compute."""

    def __init__(self, call, specs):
        import tensorflow as tf

        self.function = tf.function(call, autograph=False)
        self.concrete = self.function.get_concrete_function(*specs)

    def __call__(self, *arrays):
        return self.concrete(*arrays)

    def tracing_count(self) -> int:
        return self.function.experimental_get_tracing_count()


def _no_retracing_warning(record: logging.LogRecord) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


@contextmanager
def _no_retracing_warnings():
    """Each function traces once, on purpose; TensorFlow counts traces per
    code location and would warn of "retracing"."""
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addFilter(_no_retracing_warning)
    try:
        yield
    finally:
        tf_logger.removeFilter(_no_retracing_warning)


def _output_names(model, structure) -> list[str]:
    if isinstance(structure, dict):
        return sorted(structure)  # tf.nest.flatten's order
    count = len(structure) if isinstance(structure, (list, tuple)) else 1
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != count:
        names = [model.layers[-1].name] if count == 1 else [f"output_{i}" for i in range(count)]
    return names
