"""Every documented round trip of an nnframes stage (`zooapi.nnframes.persistence`):
saved, loaded back, and equal in Params, weights and behaviour."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zooapi.feature.preprocessing import Preprocessing, register_preprocessing
from zooapi.nnframes import NNClassifier, NNEstimator, NNModel, SeqToTensor

pytestmark = pytest.mark.both_sessions


@register_preprocessing
class Doubled(Preprocessing):
    """A user's preprocessing class, registered so that it saves as JSON."""

    def __init__(self, factor: float = 2.0):
        self.factor = factor

    def __call__(self, batch):
        return np.asarray(batch, np.float32) * self.factor

    def get_config(self):
        return {"factor": self.factor}


def _model(seed: int = 0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])


def _same_weights(a, b) -> None:
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("make", [
    lambda: NNEstimator(_model(), "mse", featuresCol="f", labelCol="y", batchSize=16, maxEpoch=7,
                        learningRate=0.03),
    lambda: NNClassifier(_model(), featuresCol="f", labelCol="y", batchSize=16, maxEpoch=7, learningRate=0.03),
], ids=["NNEstimator", "NNClassifier"])
def test_an_unfitted_estimator_saves_and_loads_with_its_params_and_model(spark, tmp_path, make):
    stage = make()
    stage.save(str(tmp_path / "stage"))
    loaded = type(stage).load(str(tmp_path / "stage"))
    assert type(loaded) is type(stage) and loaded.uid == stage.uid
    assert (loaded.getFeaturesCol(), loaded.getLabelCol(), loaded.getBatchSize(), loaded.getMaxEpoch()) == (
        "f", "y", 16, 7)
    assert loaded.getLearningRate() == pytest.approx(0.03)
    _same_weights(loaded.model, stage.model)


def test_a_plain_nnmodel_with_a_registered_preprocessing_class_saves_loads_and_predicts_alike(spark, tmp_path):
    from pyspark.sql import functions as F

    model = NNModel(_model(3), feature_preprocessing=Doubled(0.5) * SeqToTensor([4]), featuresCol="f",
                    predictionCol="scores")
    rng = np.random.default_rng(0)
    df = spark.createDataFrame([(i, rng.normal(size=4).tolist()) for i in range(20)], "id int, f array<double>")
    model.save(str(tmp_path / "model"))
    loaded = NNModel.load(str(tmp_path / "model"))
    assert type(loaded.feature_preprocessing).__name__ == "ChainedPreprocessing"
    assert isinstance(loaded.feature_preprocessing.steps[0], Doubled)
    assert loaded.feature_preprocessing.steps[0].factor == 0.5
    assert loaded.getPredictionCol() == "scores"
    _same_weights(loaded.model, model.model)
    ours = {r.id: r.scores for r in loaded.transform(df).select("id", "scores").collect()}
    theirs = {r.id: r.scores for r in model.transform(df).select("id", "scores").collect()}
    x = np.array([r.f for r in df.orderBy("id").select("f").collect()], np.float32)
    expected = model.model.predict(x * 0.5, verbose=0)  # the preprocessing halves the features
    for i in range(20):
        np.testing.assert_allclose(ours[i], theirs[i], atol=1e-6)
        np.testing.assert_allclose(ours[i], expected[i], atol=1e-5)
    assert df.select(F.count("*")).first()[0] == 20
