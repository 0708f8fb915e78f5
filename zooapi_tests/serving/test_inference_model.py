from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from zooapi.serving import InferenceModel
from zooapi_tests.conftest import mlp


@pytest.fixture(scope="module")
def model():
    return mlp()


@pytest.fixture(scope="module")
def served(model):
    return InferenceModel(concurrent_num=2, batch_sizes=(1, 4, 16, 64)).from_keras(model)


def test_predictions_equal_model_predict_for_arrays_lists_and_frames(model, served, digits):
    x = digits[0][:37]
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(served.predict(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served.predict(x.tolist()), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served.predict(pd.DataFrame(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served.predict(pd.DataFrame({"input_0": list(x)})), expected, rtol=1e-5, atol=1e-6)


def test_many_request_sizes_trace_once_per_batch_size(model, digits):
    served = InferenceModel(concurrent_num=2, batch_sizes=(1, 4, 16, 64)).from_keras(model)
    after_warm_up = served.tracing_count()
    assert after_warm_up == 2 * 4  # two functions, four sizes
    for rows in [1, 2, 3, 5, 7, 11, 16, 17, 33, 63, 64, 65, 130, 200]:
        assert served.predict(digits[0][:rows]).shape == (rows, 10)
    assert served.tracing_count() == after_warm_up


def test_concurrent_callers_get_their_own_rows(model, served, digits):
    x = digits[0][:300]
    expected = model.predict(x, verbose=0)
    errors, results = [], {}

    def client(i):
        try:
            for _ in range(5):
                rows = slice(i * 20, i * 20 + 1 + i)
                results[i] = served.predict(x[rows])
                np.testing.assert_allclose(results[i], expected[rows], rtol=1e-5, atol=1e-6)
        except Exception as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(results) == 8


def test_multi_input_model_takes_a_list_or_a_dict():
    import keras

    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    served = InferenceModel(batch_sizes=(1, 8)).from_keras(model)
    xa, xb = np.random.default_rng(0).random((5, 3)), np.random.default_rng(1).random((5, 2))
    expected = model.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(served.predict([xa, xb]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served.predict({"b": xb, "a": xa}), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"takes inputs \['a', 'b'\]. Received keys \['a'\] \(missing \['b'\]"):
        served.predict({"a": xa})
    with pytest.raises(ValueError, match="takes 2 inputs .* Received a list of 3 item"):
        served.predict([xa, xb, xb])
    with pytest.raises(ValueError, match="same number of rows. Received: a=5, b=4"):
        served.predict([xa, xb[:4]])


def test_wrong_shape_dtype_or_type_names_what_was_expected_and_received(served):
    with pytest.raises(ValueError, match=r"wrong shape. Expected: input_0: float32 of shape \(batch, 64\). "
                                         r"Received: shape=\(3, 63\)"):
        served.predict(np.zeros((3, 63), np.float32))
    with pytest.raises(ValueError, match=r"Received: shape=\(64,\)"):
        served.predict(np.zeros(64, np.float32))
    with pytest.raises(ValueError, match="dtype <U1, which does not convert to the model's float32"):
        served.predict(np.full((2, 64), "a"))
    with pytest.raises(ValueError, match="not a rectangular array"):
        served.predict([[0.0] * 64, [0.0] * 3])
    with pytest.raises(TypeError, match="Expected a NumPy array.*Received: object"):
        served.predict(object())
    with pytest.raises(ValueError, match="takes 1 inputs|has no model yet"):
        InferenceModel().predict(np.zeros((1, 64)))


def test_integer_rows_cast_to_the_float_input_and_empty_batches_return_empty(served):
    assert served.predict(np.ones((2, 64), np.int64)).shape == (2, 10)
    assert served.predict(np.zeros((0, 64), np.float32)).shape == (0, 10)


def test_load_reads_a_saved_model_in_safe_mode(model, tmp_path, digits):
    path = tmp_path / "digits.keras"
    model.save(path)
    served = InferenceModel().load(str(path))
    np.testing.assert_allclose(served.predict(digits[0][:5]), model.predict(digits[0][:5], verbose=0),
                               rtol=1e-5, atol=1e-6)
    # Keras numbers unnamed layers per process ("dense_1" alone, "dense_57" after other tests).
    assert served.signature.to_dict()["outputs"] == [
        {"name": model.layers[-1].name, "dtype": "float32", "shape": [None, 10]}]


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="`concurrent_num`, expected a positive integer. Received: concurrent_num=0"):
        InferenceModel(concurrent_num=0)
    with pytest.raises(ValueError, match="`batch_sizes`"):
        InferenceModel(batch_sizes=())


def test_litert_runtime_predicts_like_keras_in_float_and_int8(model, digits):
    x = digits[0][:70]
    expected = model.predict(x, verbose=0)
    served = InferenceModel(batch_sizes=(1, 64), runtime="litert").from_keras(model)
    np.testing.assert_allclose(served.predict(x), expected, rtol=1e-4, atol=1e-5)
    int8 = InferenceModel(batch_sizes=(64,), runtime="litert").from_keras(model, quantize="int8")
    # Dynamic-range int8 weights: probabilities move by quantization error, the classes barely.
    assert (int8.predict(x).argmax(1) == expected.argmax(1)).mean() >= 0.95
    with pytest.raises(ValueError, match="`runtime`, expected one of \\('tensorflow', 'litert'\\)"):
        InferenceModel(runtime="onnx")
