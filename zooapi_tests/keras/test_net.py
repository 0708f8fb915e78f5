"""Net.load: .keras, legacy .h5 and SavedModel, local paths and URLs, and
its errors (no Spark)."""

from __future__ import annotations

import os
import shutil

import keras
import numpy as np
import pytest

from zooapi.keras import Input, Model, Net, Sequential, layers
from zooapi.keras.net import copy_arrow_path

X = np.random.default_rng(0).random((10, 6), dtype=np.float32)
Y = (X.sum(axis=1) > 3).astype(np.int64)


def trained(kind: str = "functional"):
    keras.utils.set_random_seed(0)
    inp = Input((6,), name="x")
    hidden = layers.Dense(8, activation="relu", name="hidden")
    out = layers.Dense(2, activation="softmax", name="out")
    if kind == "sequential":
        model = keras.Sequential([inp, hidden, out], name="plain_seq")
    else:
        cls = Model if kind == "functional" else keras.Model
        model = cls(inp, out(hidden(inp)), name=f"{kind}_net")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, epochs=2, verbose=0)
    return model


def assert_same_predictions(loaded, model):
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


@pytest.mark.parametrize("kind", ["functional", "plain_functional", "sequential"])
def test_keras_files_load_as_zooapi_models_with_their_compile_state(tmp_path, kind):
    model = trained(kind)
    model.save(tmp_path / "m.keras")
    loaded = Net.load(tmp_path / "m.keras")
    assert isinstance(loaded, Model) and loaded.name == model.name
    assert isinstance(loaded, Sequential) == (kind == "sequential")
    assert_same_predictions(loaded, model)
    assert loaded.compiled and int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    assert loaded.evaluate(X, Y, verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0), rel=1e-6)


def test_legacy_h5_file_loads(tmp_path):
    model = trained("plain_functional")
    model.save(tmp_path / "m.h5")
    loaded = Net.load(str(tmp_path / "m.h5"))
    assert isinstance(loaded, Model) and loaded.compiled
    assert_same_predictions(loaded, model)


def test_the_format_comes_from_the_content_not_the_name(tmp_path):
    model = trained()
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    shutil.copy(tmp_path / "m.keras", tmp_path / "weights.bin")
    shutil.copy(tmp_path / "m.h5", tmp_path / "legacy")
    assert_same_predictions(Net.load(tmp_path / "weights.bin"), model)
    assert_same_predictions(Net.load(tmp_path / "legacy"), model)


def test_saved_model_directory_loads_through_tfsmlayer(tmp_path):
    model = trained()
    model.export(str(tmp_path / "exported"), verbose=False)
    loaded = Net.load(str(tmp_path / "exported"))
    assert isinstance(loaded, Model)
    assert [type(layer).__name__ for layer in loaded.flattened_layers()] == ["TFSMLayer"]
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    # a SavedModel-backed model is itself a layer for a new head
    inp = Input((6,))
    head = Model(inp, layers.Dense(1, activation="sigmoid")(loaded(inp)))
    assert head.predict(X, verbose=0).shape == (10, 1)


def test_saved_model_with_two_inputs_and_two_outputs(tmp_path):
    a, b = Input((4,), name="a"), Input((2,), name="b")
    both = layers.Concatenate()([a, b])
    model = keras.Model([a, b], [layers.Dense(3)(both), layers.Dense(1)(a)])
    model.export(str(tmp_path / "two"), verbose=False)
    loaded = Net.load(str(tmp_path / "two"))
    xs = [X[:, :4], X[:, 4:]]
    for got, want in zip(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_saved_model_serving_default_signature(tmp_path):
    model = trained()
    model.export(str(tmp_path / "exported"), verbose=False)
    loaded = Net.load(str(tmp_path / "exported"), call_endpoint="serving_default")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)


def test_file_urls_and_fsspec_urls(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    model = trained()
    model.save(tmp_path / "m.keras")
    assert_same_predictions(Net.load(f"file://{tmp_path}/m.keras"), model)

    memory = fsspec.filesystem("memory")
    with open(tmp_path / "m.keras", "rb") as f:
        memory.pipe("/zooapi-test/m.keras", f.read())
    model.export(str(tmp_path / "exported"), verbose=False)
    memory.put(str(tmp_path / "exported"), "/zooapi-test/exported", recursive=True)
    try:
        assert_same_predictions(Net.load("memory://zooapi-test/m.keras"), model)
        from_memory = Net.load("memory://zooapi-test/exported")
        np.testing.assert_allclose(from_memory.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    finally:
        memory.rm("/zooapi-test", recursive=True)


def test_copy_arrow_path_copies_files_and_folders(tmp_path):
    from pyarrow import fs

    model = trained()
    model.export(str(tmp_path / "exported"), verbose=False)
    local = fs.LocalFileSystem()
    copy_arrow_path(local, str(tmp_path / "exported"), str(tmp_path / "copy"))
    assert os.path.exists(tmp_path / "copy" / "saved_model.pb")
    assert os.path.isdir(tmp_path / "copy" / "variables")
    with pytest.raises(FileNotFoundError):
        copy_arrow_path(local, str(tmp_path / "nothing"), str(tmp_path / "x"))


def test_missing_and_corrupt_files_name_the_path_and_the_formats(tmp_path):
    formats = (r"a \.keras file \(zip\), a legacy \.h5 file \(HDF5\) or a TensorFlow SavedModel directory "
               r"\(with saved_model\.pb\)")
    missing = tmp_path / "nothing.keras"
    with pytest.raises(FileNotFoundError, match=rf"No model at '{missing}': nothing there\. Expected {formats}"):
        Net.load(missing)
    with pytest.raises(FileNotFoundError, match=rf"No model at 'memory://nowhere/m.keras'.*Expected {formats}"):
        Net.load("memory://nowhere/m.keras")

    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match=rf"Could not load a model from '{garbage}': it is none of the "
                                         rf"formats tried: {formats}\."):
        Net.load(garbage)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(ValueError, match=rf"Could not load a model from '{empty_dir}': "
                                         r"it is none of the formats tried"):
        Net.load(empty_dir)

    trained().save(tmp_path / "m.keras")
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes((tmp_path / "m.keras").read_bytes()[:300])
    with pytest.raises(ValueError, match=rf"Could not load a model from '{truncated}' as a \.keras file: "):
        Net.load(truncated)


def test_safe_mode_refuses_code_in_the_file_unless_turned_off(tmp_path):
    inp = Input((6,))
    model = Model(inp, layers.Lambda(lambda t: t * 2.0)(inp))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match=r"Could not load a model from .*lambda\.keras.*safe_mode"):
        Net.load(tmp_path / "lambda.keras")
    loaded = Net.load(tmp_path / "lambda.keras", safe_mode=False)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), X * 2.0)


def test_custom_objects_reach_the_model_and_its_compile_state(tmp_path):
    def doubled_mse(y_true, y_pred):
        return 2.0 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

    keras.utils.set_random_seed(0)
    inp = Input((6,))
    model = keras.Model(inp, layers.Dense(1)(inp))
    model.compile("sgd", doubled_mse)
    model.save(tmp_path / "custom.keras")
    with pytest.raises(ValueError, match=r"Could not load a model from .*custom\.keras"):
        Net.load(tmp_path / "custom.keras")
    loaded = Net.load(tmp_path / "custom.keras", custom_objects={"doubled_mse": doubled_mse})
    assert loaded.compiled
    y = X[:, :1]
    assert loaded.evaluate(X, y, verbose=0) == pytest.approx(model.evaluate(X, y, verbose=0), rel=1e-6)
