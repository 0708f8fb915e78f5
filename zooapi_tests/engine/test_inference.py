"""Prediction and evaluation on `local[2]`."""

import keras
import numpy as np
import pytest

from zooapi import engine
from zooapi_tests.conftest import mlp

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]


def numbered_frame(spark, x):
    rows = [(i, row.tolist()) for i, row in enumerate(x)]
    return spark.createDataFrame(rows, "id long, features array<float>").repartition(3)


def test_predictions_match_keras_and_keep_every_column(spark, digits):
    x, _ = digits
    model = mlp()
    df = numbered_frame(spark, x[:500])
    out = engine.predict(model, df, "features", batch_size=64).toPandas().sort_values("id")
    assert list(out.columns) == ["id", "features", "prediction"]
    expected = model.predict(x[:500], verbose=0)
    np.testing.assert_allclose(np.stack(out.prediction.values), expected, atol=1e-5)


def test_one_output_unit_gives_a_double_column(spark, digits):
    x, _ = digits
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1)])
    df = numbered_frame(spark, x[:50])
    out = engine.predict(model, df, "features", prediction_col="score")
    assert dict(out.dtypes)["score"] == "double"
    got = out.toPandas().sort_values("id").score.values
    np.testing.assert_allclose(got, model.predict(x[:50], verbose=0)[:, 0], atol=1e-5)


def test_several_inputs_and_outputs(spark):
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    model = keras.Model([a, b], [keras.layers.Dense(4, name="p")(joined), keras.layers.Dense(1, name="q")(joined)])
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(40, 3)).astype(np.float32), rng.normal(size=(40, 2)).astype(np.float32)
    rows = [(i, *[float(v) for v in xa[i]], xb[i].tolist()) for i in range(40)]
    df = spark.createDataFrame(rows, "id long, a1 double, a2 double, a3 double, b array<float>")
    out = engine.predict(model, df, [["a1", "a2", "a3"], "b"], prediction_col=["p", "q"]).toPandas().sort_values("id")
    p, q = model.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(np.stack(out.p.values), p, atol=1e-5)
    np.testing.assert_allclose(out.q.values, q[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match=r"The model has 2 output\(s\) but `prediction_col` names 1"):
        engine.predict(model, df, [["a1", "a2", "a3"], "b"], prediction_col=["p"])
    with pytest.raises(ValueError, match="Column 'id' already exists"):
        engine.predict(model, df, [["a1", "a2", "a3"], "b"], prediction_col=["id", "q"])


def test_string_columns_feed_keras_preprocessing_layers(spark):
    words = ["red", "green", "blue"]
    inp = keras.Input((), dtype="string")
    lookup = keras.layers.StringLookup(vocabulary=words, output_mode="one_hot")
    model = keras.Model(inp, keras.layers.Dense(2)(lookup(inp)))
    df = spark.createDataFrame([(i, words[i % 3]) for i in range(12)], "id long, colour string")
    out = engine.predict(model, df, "colour").toPandas().sort_values("id")
    np.testing.assert_allclose(np.stack(out.prediction.values), model.predict(np.array([words[i % 3] for i in range(12)], dtype=object), verbose=0), atol=1e-5)


def test_evaluate_matches_keras_and_refuses_an_empty_frame(spark, digits):
    x, y = digits
    model = mlp()
    model.fit(x[:300], y[:300], epochs=2, verbose=0)
    rows = [(row.tolist(), int(label)) for row, label in zip(x[300:700], y[300:700])]
    df = spark.createDataFrame(rows, "features array<float>, label long").repartition(3)
    ours = engine.evaluate(model, df, "features", "label", batch_size=50)
    theirs = model.evaluate(x[300:700], y[300:700], verbose=0, return_dict=True)
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-6)
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
    with pytest.raises(ValueError, match="empty DataFrame"):
        engine.evaluate(model, df.limit(0), "features", "label")


def test_predict_on_an_empty_frame_gives_an_empty_frame(spark, digits):
    model = mlp()
    df = spark.createDataFrame([], "features array<float>")
    assert engine.predict(model, df, "features").count() == 0


def scored_stream(spark, model, x, folder, query_name: str):
    """`engine.predict` on a stream of `x`'s rows (id, features) read from
    Parquet files in `folder`, written to a memory sink: its rows by id."""
    numbered_frame(spark, x).write.parquet(str(folder))
    stream = spark.readStream.schema("id long, features array<float>").parquet(str(folder))
    scored = engine.predict(model, stream, "features")
    query = scored.writeStream.format("memory").queryName(query_name).outputMode("append").start()
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    return spark.table(query_name).toPandas().sort_values("id")


def test_predict_works_on_a_streaming_dataframe(spark, digits, tmp_path):
    x, _ = digits
    model = mlp()
    out = scored_stream(spark, model, x[:100], tmp_path / "in", "zooapi_scored")
    assert len(out) == 100
    np.testing.assert_allclose(np.stack(out.prediction.values), model.predict(x[:100], verbose=0), atol=1e-5)


def test_the_default_forward_batch_is_smaller_for_inputs_with_large_decoded_rows(spark):
    from zooapi.engine.inference import DEFAULT_LARGE_ROW_BATCH, DEFAULT_PREDICT_BATCH, _inference_job
    from zooapi.feature.image_files import ImageBytesToMat

    numbers = spark.createDataFrame([([0.0] * 64,)], "features array<float>")
    files = spark.createDataFrame([(bytearray(b"png"),)], "image binary")
    images = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D()])
    assert _inference_job(mlp(), numbers, "features", None)[0].batch_size == DEFAULT_PREDICT_BATCH == 1024
    job, _ = _inference_job(images, files, "image", None, feature_preprocessing=ImageBytesToMat(8, 8))
    assert job.batch_size == DEFAULT_LARGE_ROW_BATCH == 64
    assert _inference_job(images, files, "image", 5, feature_preprocessing=ImageBytesToMat(8, 8))[0].batch_size == 5
