"""Prediction and evaluation inside Spark tasks.

Each Python worker process keeps the models it loaded in `_MODEL_CACHE`,
keyed by the model's content hash, so a model is loaded once per process and
not once per batch or task. A batch is decoded on a helper thread while
TensorFlow works on the one before it.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from zooapi.feed.codecs import decode_feed, encode_output
from zooapi.feed.columns import TensorFeed
from zooapi.worker import metrics as M
from zooapi.worker.devices import configure_gpus, task_gpus
from zooapi.worker.prefetch import prefetch_iter
from zooapi.worker.serialization import arrays_to_bytes
from zooapi.worker.transforms import apply_preprocessing

_MODEL_CACHE: "OrderedDict[str, LoadedModel]" = OrderedDict()
_MODEL_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()
_TF_CONFIGURED = False


def clear_model_cache() -> None:
    """Forgets every model this process has loaded."""
    with _CACHE_LOCK:
        _MODEL_CACHE.clear()


def _batch_spec(array):
    """The `tf.TensorSpec` of a batch with any number of rows."""
    import tensorflow as tf

    dtype = tf.string if np.asarray(array).dtype == object else tf.as_dtype(np.asarray(array).dtype)
    return tf.TensorSpec((None, *np.shape(array)[1:]), dtype)


def _as_tensor(array, spec):
    import tensorflow as tf

    if spec.dtype == tf.string:
        return tf.convert_to_tensor(array, tf.string)
    return tf.convert_to_tensor(np.asarray(array, dtype=spec.dtype.as_numpy_dtype))


class _Traced:
    """A Python function traced once per input signature (batch axis None)
    into a `ConcreteFunction` of this model's own, and called as that.

    Why not a `tf.function` called as usual: TensorFlow counts the traces of
    every `tf.function` made from the same Python code together (its
    retracing detector is keyed by the code object), so a worker that loads
    several models (CrossValidator fits one per fold and parameter map) logs
    "triggered tf.function retracing" although each model traced once; and a
    `tf.function` without a signature traces again for the last, shorter
    batch of a partition. A concrete function traced for `(None, ...)` takes
    every batch size and never traces again.
    """

    def __init__(self, fn):
        self._fn = fn
        self._concrete: dict = {}

    @property
    def traces(self) -> int:
        return len(self._concrete)

    def __call__(self, specs: tuple[list, ...], args: tuple[list, ...]):
        """`fn(*args)`, each argument a list of arrays with its list of specs."""
        import tensorflow as tf

        key = tuple(tuple(group) for group in specs)
        concrete = self._concrete.get(key)
        if concrete is None:
            concrete = self._concrete[key] = tf.function(self._fn).get_concrete_function(*specs)
        return concrete(*[[_as_tensor(a, s) for a, s in zip(arrays, group)] for arrays, group in zip(args, specs)])


class LoadedModel:
    """A model and its compiled forward pass (and evaluation step), each
    traced once per input signature."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        try:
            inputs = model.inputs
        except (AttributeError, ValueError):
            inputs = None
        # A built model's own input specs (its dtypes, any batch size); an
        # unbuilt one gets the specs of its first batch.
        self._input_specs = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in inputs] if inputs else None
        self.forward = _Traced(lambda xs: model(M.as_structure(xs), training=False))
        self._eval_step = None

    def _forward(self, *xs):
        return self.forward((self._input_specs or [_batch_spec(x) for x in xs],), (list(xs),))

    def predict(self, xs: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
        """The model's outputs for all rows, computed `batch_size` rows at a time."""
        n = len(xs[0])
        pieces = []
        for start in range(0, n, batch_size):
            out = self._forward(*[x[start:start + batch_size] for x in xs])
            pieces.append([np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])])
        if not pieces:
            return []
        return [np.concatenate(parts) for parts in zip(*pieces)]

    def empty_outputs(self) -> list[np.ndarray]:
        """Zero-row outputs of the model's output shapes (so an empty batch
        gets columns of the same Arrow types as any other)."""
        return [np.zeros((0, *[d or 1 for d in t.shape[1:]]), np.float32) for t in self.model.outputs]

    def evaluation_metrics(self) -> list:
        """A batch-size-weighted loss tracker followed by the compiled metrics."""
        import keras
        import tensorflow as tf

        if self._eval_step is None:
            self._loss = keras.metrics.Mean(name="loss")
            model = self.model

            def step(xs, ys):
                x, y = M.as_structure(xs), M.as_structure(ys)
                y_pred = model(x, training=False)
                loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
                self._loss.update_state(loss, sample_weight=tf.shape(tf.nest.flatten(y_pred)[0])[0])
                model.compute_metrics(x, y, y_pred, sample_weight=None)

            self._eval_step = _Traced(step)
        return [self._loss] + M.compiled_metrics(self.model)

    def evaluate_batch(self, xs: list[np.ndarray], ys: list[np.ndarray]) -> None:
        x_specs = self._input_specs or [_batch_spec(x) for x in xs]
        self._eval_step((x_specs, [_batch_spec(y) for y in ys]), (list(xs), list(ys)))


def _configure_tensorflow(threads: int) -> None:
    """Thread pools and GPUs, once per process, before its first model runs."""
    global _TF_CONFIGURED
    if _TF_CONFIGURED:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        # A reused worker keeps the GPUs of the first task it ran.
        configure_gpus(task_gpus())
    except RuntimeError:  # TF already initialised in this process
        pass
    _TF_CONFIGURED = True


def cached_model(key: str, broadcast, threads: int) -> LoadedModel:
    """The model with content hash `key`, loaded once per process."""
    with _CACHE_LOCK:
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key]
    _configure_tensorflow(threads)
    loaded = LoadedModel(broadcast.value.load(compile=True))
    # PySpark's daemon runs a full gc.collect() after every task of a reused
    # worker; with TensorFlow's objects in the heap that took ~165 ms a task
    # here (more than the work of a small task). Freezing moves what exists
    # now (TensorFlow, this model) out of the collector's reach; an evicted
    # model stays in memory only if it holds reference cycles.
    gc.freeze()
    with _CACHE_LOCK:
        _MODEL_CACHE[key] = loaded
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return loaded


@dataclass
class InferenceJob:
    """What prediction and evaluation tasks need; pickled into the closure."""

    key: str
    model: Any  # a Broadcast of a ModelBlob
    features: list[TensorFeed]
    batch_size: int
    threads: int = 1
    labels: list[TensorFeed] | None = None
    prediction_cols: list[str] | None = None
    feature_preprocessing: Any = None
    label_preprocessing: Any = None


# Arrow bytes decoded at once. Spark sends up to maxRecordsPerBatch rows per
# record batch: 10,000 images of 224x224x3 would decode to 6 GB of float32.
DECODE_BYTES = 64 << 20


def bounded_slices(batch: pa.RecordBatch, batch_size: int, budget: int = DECODE_BYTES,
                   max_rows: int | None = None) -> Iterator[pa.RecordBatch]:
    """`batch` as zero-copy slices of about `budget` bytes (never fewer rows
    than `batch_size`, and the whole batch when it fits), of at most
    `max_rows` rows when given."""
    rows = batch.num_rows
    step = max(batch_size, budget // max(1, batch.nbytes // max(rows, 1)))
    if max_rows is not None:
        step = min(step, max_rows)
    if step >= rows:
        yield batch
        return
    for start in range(0, rows, step):
        yield batch.slice(start, step)


def _decoded(job: InferenceJob, batches: Iterator[pa.RecordBatch], with_labels: bool):
    """(batch, inputs, labels) per slice of a record batch, decoded one ahead.

    Images, files and strings decode to far more bytes than Arrow holds (a
    15 kB JPEG is 600 kB of float32 pixels), so they are decoded one forward
    batch at a time: the next batch decodes while TensorFlow computes this one.
    """
    offset = 0
    per_batch = job.batch_size if not all(f.group.numeric for f in job.features) else None
    for batch in (part for whole in batches for part in bounded_slices(whole, job.batch_size, max_rows=per_batch)):
        if batch.num_rows == 0:
            yield batch, None, None
            continue
        xs = apply_preprocessing(job.feature_preprocessing, [decode_feed(batch, f, offset) for f in job.features])
        ys = apply_preprocessing(job.label_preprocessing,
                                 [decode_feed(batch, f, offset) for f in job.labels]) if with_labels else None
        offset += batch.num_rows
        yield batch, xs, ys


def predict_partition(job: InferenceJob, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    loaded = cached_model(job.key, job.model, job.threads)
    for batch, xs, _ in prefetch_iter(_decoded(job, batches, False)):
        outs = loaded.empty_outputs() if batch.num_rows == 0 else loaded.predict(xs, job.batch_size)
        for name, out in zip(job.prediction_cols, outs):
            batch = batch.append_column(name, encode_output(out))
        yield batch


def evaluate_partition(job: InferenceJob, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One row per partition: the summed metric states, as an `.npz` blob."""
    loaded = cached_model(job.key, job.model, job.threads)
    metrics = loaded.evaluation_metrics()
    for m in metrics:
        m.reset_state()
    rows = 0
    label_shapes = None
    for batch, xs, ys in prefetch_iter(_decoded(job, batches, True)):
        if batch.num_rows == 0:
            continue
        for start in range(0, batch.num_rows, job.batch_size):
            loaded.evaluate_batch([x[start:start + job.batch_size] for x in xs],
                                  [y[start:start + job.batch_size] for y in ys])
        rows += batch.num_rows
        label_shapes = [list(y.shape[1:]) for y in ys]
    if rows == 0:
        return
    yield pa.RecordBatch.from_arrays(
        [pa.array([rows], pa.int64()), pa.array([arrays_to_bytes(M.states(metrics))], pa.binary()),
         pa.array([repr(label_shapes)], pa.string())],
        names=["rows", "states", "label_shapes"],
    )
