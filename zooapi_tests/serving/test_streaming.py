"""Streaming inference end to end: a folder of JSON files, a saved model,
`engine.predict` on the stream, a Parquet sink with a checkpoint; stopped and
restarted, every input row is scored exactly once."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zooapi import engine
from zooapi.keras import Net
from zooapi_tests.conftest import mlp

pytestmark = pytest.mark.slow  # Spark session and two streaming runs


def _write_json(folder, name, ids, x):
    folder.mkdir(exist_ok=True)
    with open(folder / name, "w") as f:
        for i in ids:
            f.write(json.dumps({"id": int(i), "features": x[i].tolist()}) + "\n")


def _run_once(spark, model_path, source, sink, checkpoint):
    model = Net.load(model_path)
    stream = spark.readStream.schema("id long, features array<float>").json(source)
    scored = engine.predict(model, stream, "features").select("id", "prediction")
    query = (scored.writeStream.format("parquet").option("path", sink).option("checkpointLocation", checkpoint)
             .trigger(availableNow=True).start())
    query.awaitTermination(300)
    assert query.exception() is None, query.exception()
    return query


def test_a_restarted_query_scores_every_row_exactly_once(spark, digits, tmp_path):
    x, _ = digits
    model = mlp()
    model.save(tmp_path / "digits.keras")
    source, sink, checkpoint = tmp_path / "in", str(tmp_path / "out"), str(tmp_path / "checkpoint")
    _write_json(source, "part-0.json", range(0, 40), x)
    _write_json(source, "part-1.json", range(40, 70), x)
    first = _run_once(spark, str(tmp_path / "digits.keras"), str(source), sink, checkpoint)
    assert first.lastProgress is not None
    assert spark.read.parquet(sink).count() == 70
    # New files arrive while the query is stopped; one was already there and must not be scored again.
    _write_json(source, "part-2.json", range(70, 100), x)
    _write_json(source, "part-3.json", range(100, 120), x)
    _run_once(spark, str(tmp_path / "digits.keras"), str(source), sink, checkpoint)
    out = spark.read.parquet(sink).toPandas().sort_values("id")
    assert out.id.tolist() == list(range(120))  # every row once: no loss, no duplicate
    np.testing.assert_allclose(np.stack(out.prediction.values), model.predict(x[:120], verbose=0), atol=1e-5)
