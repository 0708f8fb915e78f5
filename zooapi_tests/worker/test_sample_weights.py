"""Per-row loss weights (Keras' `class_weight` and `sample_weight`) through
the engine, the Keras-style `fit` and `NNClassifier`, in `local[2]`."""

import keras
import numpy as np
import pytest
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from zooapi import engine
from zooapi.keras import Sequential
from zooapi.nnframes import NNClassifier
from zooapi.worker.sample_weights import check_class_weight, class_sample_weights

WEIGHTS = {0: 1.0, 1: 9.0}


def test_class_weights_follow_sparse_or_one_hot_labels_and_default_to_one():
    assert class_sample_weights(np.array([0, 1, 2, 1]), {1: 9.0}).tolist() == [1, 9, 1, 9]
    assert class_sample_weights(np.array([[1.0], [0.0]]), {0: 0.5}).tolist() == [1, 0.5]
    one_hot = np.eye(3)[[2, 0, 1]]
    assert class_sample_weights(one_hot, {0: 2.0, 2: 3.0}).tolist() == [3, 2, 1]


def test_bad_class_weights_are_refused_naming_what_was_expected():
    with pytest.raises(TypeError, match="expected a dict of class index to weight.*Received: class_weight of type list"):
        check_class_weight([1, 2], 1)
    with pytest.raises(ValueError, match="expected class indices.*Received: 'cat'"):
        check_class_weight({"cat": 1.0}, 1)
    with pytest.raises(ValueError, match="for class 1, expected a number >= 0. Received: -2"):
        check_class_weight({1: -2}, 1)
    with pytest.raises(ValueError, match="one output; this one has 2"):
        check_class_weight({1: 2.0}, 2)


@pytest.fixture(scope="module")
def eights():
    """Digits as 'is it an 8?': 10% positives, 400 rows."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data[:400] / 16.0).astype(np.float32)
    y = (data.target[:400] == 8).astype(np.int64)
    return x, y


def eights_frame(spark, x, y):
    rows = [(row.tolist(), int(label), float(WEIGHTS[int(label)])) for row, label in zip(x, y)]
    return spark.createDataFrame(rows, "features array<float>, label long, w double")


def logistic(seed: int = 0):
    keras.utils.set_random_seed(seed)
    model = Sequential([keras.Input((64,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy", weighted_metrics=["accuracy"])
    return model


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_batch_step_with_class_weights_equals_keras_own(spark, eights, workers):
    x, y = eights
    df = eights_frame(spark, x, y)
    expected = logistic()
    expected.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, class_weight=WEIGHTS, verbose=0)
    for kind in ("class_weight", "sample_weight"):
        model = logistic()
        weighting = {"class_weight": WEIGHTS} if kind == "class_weight" else {"sample_weight_col": "w"}
        history = engine.fit(model, df, "features", "label", batch_size=len(x), epochs=3, num_workers=workers,
                             verbose=0, seed=1, **weighting)
        for got, want in zip(model.get_weights(), expected.get_weights()):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6, err_msg=kind)
        assert len(history.history["accuracy"]) == 3  # a weighted metric, reported per epoch


@pytest.mark.slow
def test_weights_shift_predictions_toward_the_weighted_class_in_every_api(spark, eights):
    x, y = eights
    df = eights_frame(spark, x, y)
    test = df.limit(400)

    def mean_prediction(model):
        scored = engine.predict(model, test, "features")
        return scored.agg(F.mean("prediction")).first()[0]

    plain = logistic()
    plain.fit(df, feature_cols="features", label_cols="label", batch_size=40, epochs=15, num_workers=2,
              verbose=0, seed=2)
    weighted = logistic()
    weighted.fit(df, feature_cols="features", label_cols="label", batch_size=40, epochs=15, num_workers=2,
                 verbose=0, seed=2, sample_weight="w")
    # Positives (10% of rows) weighed 9x: the model scores every row higher (the
    # exact loss is checked against Keras above; this is the effect users want).
    baseline = mean_prediction(plain)
    assert baseline < 0.2
    assert mean_prediction(weighted) > baseline + 0.05

    clf = NNClassifier(logistic(), loss="binary_crossentropy", featuresCol="features", labelCol="label",
                       batchSize=40, maxEpoch=15, learningRate=0.5, optimMethod="sgd", numWorkers=2,
                       classWeight={0: 1, 1: 9})
    fitted = clf.fit(df)
    assert fitted.getClassWeight() == WEIGHTS
    probability = fitted.transform(test).select(vector_to_array("probability")[1].alias("p"))
    assert probability.agg(F.mean("p")).first()[0] > baseline + 0.05


def test_weight_arguments_are_checked_before_any_job(spark, eights):
    x, y = eights
    df = eights_frame(spark, x, y).withColumn("name", F.lit("a"))
    model = logistic()
    with pytest.raises(ValueError, match="Received both `class_weight` and `sample_weight`"):
        engine.fit(model, df, "features", "label", class_weight=WEIGHTS, sample_weight_col="w")
    with pytest.raises(TypeError, match="Sample weight column 'name' has type string; expected one number per row"):
        engine.fit(model, df, "features", "label", sample_weight_col="name")
    with pytest.raises(ValueError, match="Column 'missing'"):
        engine.fit(model, df, "features", "label", sample_weight_col="missing")
    with pytest.raises(TypeError, match="`sample_weight` names the column of per-row weights"):
        model.fit(df, feature_cols="features", label_cols="label", sample_weight=np.ones(400))
