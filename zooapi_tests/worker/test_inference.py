"""Prediction-side decoding inside a task (`zooapi.worker.inference`)."""

import logging

import numpy as np
import pyarrow as pa
import pytest

from zooapi.feed.codecs import decode_column
from zooapi.worker.inference import bounded_slices


def test_large_record_batches_decode_in_bounded_slices_with_the_same_pixels():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    image = pa.StructArray.from_arrays(
        [pa.array([f"i{i}" for i in range(10)]), pa.array([4] * 10, pa.int32()), pa.array([4] * 10, pa.int32()),
         pa.array([3] * 10, pa.int32()), pa.array([16] * 10, pa.int32()), pa.array([p.tobytes() for p in pixels])],
        names=["origin", "height", "width", "nChannels", "mode", "data"])
    batch = pa.RecordBatch.from_arrays([image], ["image"])
    slices = list(bounded_slices(batch, batch_size=3, budget=1))  # the budget allows 1 row; batch_size wins
    assert [s.num_rows for s in slices] == [3, 3, 3, 1]
    assert len(list(bounded_slices(batch, batch_size=3))) == 1  # a batch within the budget stays whole
    whole = decode_column("image", "image", batch.column(0))
    parts = np.concatenate([decode_column("image", "image", s.column(0)) for s in slices])
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(whole[7], pixels[7][..., ::-1])  # BGR bytes become RGB


def test_max_rows_caps_the_slices_of_a_batch_within_the_budget():
    batch = pa.RecordBatch.from_arrays([pa.array([b"x" * 10] * 10, pa.binary())], ["image"])
    assert [s.num_rows for s in bounded_slices(batch, batch_size=4, max_rows=4)] == [4, 4, 2]
    assert [s.num_rows for s in bounded_slices(batch, batch_size=4)] == [10]


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_several_models_in_one_worker_trace_once_each_and_log_no_retracing_warning():
    # CrossValidator scores one model per fold and parameter map in the same
    # Python worker; TensorFlow used to warn "triggered tf.function retracing".
    import keras
    import tensorflow as tf

    from zooapi.worker import metrics as M
    from zooapi.worker.inference import LoadedModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(23, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)  # batches of 10, 10 and a short one of 3
    records = _Records()
    tf.get_logger().addHandler(records)
    try:
        for seed in range(7):
            keras.utils.set_random_seed(seed)
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
            model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
            loaded = LoadedModel(model)
            for _ in range(2):
                (out,) = loaded.predict([x], batch_size=10)
                np.testing.assert_allclose(out, np.asarray(model(x)), atol=1e-6)
            metrics = loaded.evaluation_metrics()
            for start in range(0, 23, 10):
                loaded.evaluate_batch([x[start:start + 10]], [y[start:start + 10]])
            assert loaded.forward.traces == 1 and loaded._eval_step.traces == 1
            expected_accuracy = np.mean(np.argmax(np.asarray(model(x)), axis=1) == y)
            assert M.results(metrics)["accuracy"] == pytest.approx(expected_accuracy, abs=1e-6)
    finally:
        tf.get_logger().removeHandler(records)
    assert not [m for m in records.messages if "retracing" in m]


def test_an_unbuilt_model_traces_once_for_the_dtype_and_shape_of_its_first_batch():
    import keras

    from zooapi.worker.inference import LoadedModel

    model = keras.Sequential([keras.layers.Dense(3, kernel_initializer="ones", bias_initializer="zeros")])
    loaded = LoadedModel(model)
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    (out,) = loaded.predict([x], batch_size=3)
    np.testing.assert_allclose(out, np.repeat(x.sum(1, keepdims=True), 3, axis=1))
    assert loaded.forward.traces == 1
