from __future__ import annotations

import keras
import numpy as np
import pytest

from zooapi.serving import InferenceModel, quantize
from zooapi_tests.conftest import mlp


@pytest.fixture(scope="module")
def trained(digits):
    x, y = digits
    model = mlp(hidden=64)
    model.fit(x[::2], y[::2], epochs=20, batch_size=64, verbose=0)
    return model


def _accuracy(predictions, y):
    return float((predictions.argmax(axis=1) == y).mean())


def test_int8_keeps_digits_accuracy_and_saves_and_loads_as_keras(trained, digits, tmp_path):
    x, y = digits[0][1::2], digits[1][1::2]
    path = tmp_path / "float.keras"
    trained.save(path)
    float_accuracy = _accuracy(trained.predict(x, verbose=0), y)
    copy = keras.models.load_model(path)
    report = quantize(copy, mode="int8")
    assert report.quantized == [layer.name for layer in trained.layers] and report.not_covered == []
    assert report.covered_share == 1.0
    assert copy.layers[0].kernel.dtype == "int8"
    int8_accuracy = _accuracy(copy.predict(x, verbose=0), y)
    # 898 held-out rows: int8 weights and per-row activation scales move at most a few predictions.
    assert float_accuracy >= 0.9 and abs(int8_accuracy - float_accuracy) <= 0.02, (float_accuracy, int8_accuracy)
    copy.save(tmp_path / "int8.keras")
    reloaded = keras.models.load_model(tmp_path / "int8.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), copy.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_inference_model_load_quantizes_and_reports(trained, digits, tmp_path):
    path = tmp_path / "float.keras"
    trained.save(path)
    served = InferenceModel(batch_sizes=(1, 64)).load(str(path), quantize="int8")
    assert served.quantization.quantized == [layer.name for layer in trained.layers]
    x, y = digits[0][1::2], digits[1][1::2]
    assert abs(_accuracy(served.predict(x), y) - _accuracy(trained.predict(x, verbose=0), y)) <= 0.02


def test_convolutional_model_warns_that_most_compute_is_not_covered():
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(32, 3, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name="head")])
    with pytest.warns(UserWarning, match=r"9\d% of .* multiply-adds are in layers .* does not cover \(conv\)"):
        report = quantize(model)
    assert report.not_covered == ["conv"] and report.quantized == ["head"]


def test_unsupported_mode_and_nothing_to_quantize_are_refused():
    with pytest.raises(ValueError, match=r"`mode`, expected one of \('int8',\). Received: mode='int4'"):
        quantize(mlp(), mode="int4")
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="conv")])
    with pytest.raises(ValueError, match="quantized no layer .* Received layers with weights: \\['conv'"):
        quantize(model)
