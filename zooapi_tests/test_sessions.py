"""zooapi over Spark Connect (`zooapi.sessions` holds where the two kinds of
session differ): the same calls as on a classic session, on a Spark Connect
session whose local server runs in this process."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from zooapi import engine
from zooapi.sessions import ShippedModel, is_connect
from zooapi_tests.conftest import digits_frame, mlp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _stop_the_connect_server_after_these_tests():
    # A local Connect session sets SPARK_REMOTE & co. in os.environ while it
    # lives: processes started later (the tutorials' kernels) would inherit them.
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and is_connect(active):
        active.stop()


@pytest.fixture
def digits_df(spark_connect, digits):
    x, y = digits
    return digits_frame(spark_connect, x[:1200], y[:1200])


def test_init_nncontext_remote_gives_a_connect_session_with_the_workers_python(spark_connect):
    assert is_connect(spark_connect)
    assert spark_connect.conf.get("spark.master") == "local[2]"
    with pytest.raises(ValueError, match="expected one of them"):
        import zooapi

        zooapi.init_nncontext(master="local[2]", remote="local[2]")


def test_fit_evaluate_predict_with_two_workers(spark_connect, digits_df, digits):
    model = mlp()
    history = engine.fit(model, digits_df, "features", "label", batch_size=64, epochs=4, num_workers=2,
                         verbose=0, seed=1)
    assert len(history.history["loss"]) == 4
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert engine.evaluate(model, digits_df, "features", "label")["accuracy"] > 0.9
    x, _ = digits
    predicted = engine.predict(model, digits_df.limit(50), "features").toPandas()
    expected = model.predict(x[:50], verbose=0)
    np.testing.assert_allclose(np.stack(predicted["prediction"]), expected, atol=1e-5)


def test_pipeline_fits_saves_and_loads_back(spark_connect, digits_df, tmp_path):
    from pyspark.ml import Pipeline, PipelineModel

    from zooapi.nnframes import NNClassifier

    classifier = NNClassifier(mlp(), featuresCol="features", labelCol="label").setMaxEpoch(3).setBatchSize(64)
    fitted = Pipeline(stages=[classifier]).fit(digits_df)
    path = str(tmp_path / "pipeline")
    fitted.write().overwrite().save(path)
    fitted.write().overwrite().save(path)  # overwrite works without the JVM
    loaded = PipelineModel.load(path)
    before = fitted.transform(digits_df).select("prediction").toPandas()["prediction"]
    after = loaded.transform(digits_df).select("prediction").toPandas()["prediction"]
    assert (before == after).all()
    labels = digits_df.select("label").toPandas()["label"]
    assert (after == labels).mean() > 0.4  # three epochs; chance is 0.1


def test_checkpoint_and_resume(spark_connect, digits_df, tmp_path):
    path = str(tmp_path / "ckpt")
    first = mlp(seed=5)
    engine.fit(first, digits_df, "features", "label", batch_size=64, epochs=1, num_workers=2, verbose=0, seed=8,
               checkpoint_path=path)
    assert sorted(os.listdir(path)) == ["ckpt-000000000019.json", "ckpt-000000000019.keras"]
    second = mlp(seed=99)
    resumed = engine.fit(second, digits_df, "features", "label", batch_size=64, epochs=2, num_workers=2,
                         verbose=0, seed=8, checkpoint_path=path, resume=True)
    assert resumed.epoch == [1]
    assert int(second.optimizer.iterations.numpy()) == 2 * 19


def test_read_images(spark_connect, tmp_path):
    from PIL import Image

    from zooapi.nnframes import NNImageReader

    for i in range(6):
        Image.fromarray(np.full((8, 6, 3), i * 40, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    df = NNImageReader.readImages(str(tmp_path), spark_connect)
    rows = df.select("origin", "image.height", "image.width", "image.nChannels").collect()
    assert len(rows) == 6  # the broken file is dropped
    assert {(r.height, r.width, r.nChannels) for r in rows} == {(8, 6, 3)}
    # No accumulators over Connect: counting them is a job of its own.
    assert df.dropped_files.value == 1
    assert [r.origin.rsplit("/", 1)[1] for r in df.dropped_files.files.collect()] == ["broken.png"]


def test_models_travel_as_artifacts_not_in_the_closure(spark_connect):
    from zooapi.engine.inference import model_broadcast
    from zooapi.worker.serialization import model_to_blob

    shipped = model_broadcast(spark_connect, model_to_blob(mlp()))
    assert isinstance(shipped, ShippedModel)
    import cloudpickle

    assert len(cloudpickle.dumps(shipped)) < 1000  # a name, not the model's bytes


def test_workers_that_cannot_reach_the_client_train_and_the_history_comes_back_with_the_model(
        spark_connect, digits_df, monkeypatch, caplog):
    import keras

    # 198.51.100.0/24 is reserved for documentation: nothing answers there.
    monkeypatch.setenv("ZOOAPI_CLIENT_HOST", "198.51.100.7")
    model = mlp()
    before = [w.copy() for w in model.get_weights()]
    seen = []
    epochs_seen = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    start = time.monotonic()
    with caplog.at_level("WARNING", logger="zooapi.engine.training"):
        history = engine.fit(model, digits_df, "features", "label", batch_size=64, epochs=3, num_workers=2,
                             verbose=0, seed=1, callbacks=[epochs_seen])
    # A guard against a hang: 15 s of connect timeout plus the job, on a loaded machine.
    assert time.monotonic() - start < 240
    assert history.epoch == [0, 1, 2] and seen == [0, 1, 2]  # recorded by the chief, replayed here
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert engine.evaluate(model, digits_df, "features", "label")["accuracy"] > 0.85
    assert "could not report while training" in caplog.text and "198.51.100.7" in caplog.text


def test_bad_data_found_by_workers_that_cannot_reach_the_client_keeps_its_type(spark_connect, digits, monkeypatch):
    monkeypatch.setenv("ZOOAPI_CLIENT_HOST", "198.51.100.7")
    x, y = digits
    bad = y[:200].copy()
    bad[5] = 42  # outside the 10 classes: the trainer fails on it
    df = digits_frame(spark_connect, x[:200], bad)
    with pytest.raises((RuntimeError, ValueError), match="(?s)42"):
        engine.fit(mlp(), df, "features", "label", batch_size=200, epochs=1, num_workers=1, verbose=0)


def test_predict_works_on_a_streaming_dataframe(spark_connect, digits, tmp_path):
    from zooapi_tests.engine.test_inference import scored_stream

    x, _ = digits
    model = mlp()
    out = scored_stream(spark_connect, model, x[:60], tmp_path / "in", "zooapi_connect_scored")
    assert len(out) == 60
    np.testing.assert_allclose(np.stack(out.prediction.values), model.predict(x[:60], verbose=0), atol=1e-5)


def test_a_streaming_query_over_connect_carries_the_model_in_its_closure_up_to_a_limit(spark_connect):
    from zooapi.sessions import INLINE_MODEL_LIMIT, InlineModel, ship_model
    from zooapi.worker.serialization import ModelBlob

    small = ModelBlob(b"model", b"", "key")
    assert isinstance(ship_model(spark_connect, small, streaming=True), InlineModel)
    large = ModelBlob(bytes(INLINE_MODEL_LIMIT + 1), b"", "key")
    with pytest.raises(ValueError, match=r"Received a streaming DataFrame over Spark Connect and a model of 64 MB; "
                                         r"expected at most 64 MB"):
        ship_model(spark_connect, large, streaming=True)
