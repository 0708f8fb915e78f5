"""nnframes stages in Spark ML Pipelines, CrossValidator and persistence."""

import keras
import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import BinaryClassificationEvaluator, MulticlassClassificationEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder, TrainValidationSplit

from zooapi.nnframes import NNClassifier, NNClassifierModel, NNEstimator, NNModel

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]

FEATURES = [f"f{i}" for i in range(30)]


def cancer_frame(spark):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    rows = [(i, *map(float, x), float(t)) for i, (x, t) in enumerate(zip(data.data, data.target))]
    return spark.createDataFrame(rows, ", ".join(["id long"] + [f"{c} double" for c in FEATURES] + ["label double"]))


def two_class_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((30,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])


def pipeline(model):
    return Pipeline(stages=[
        VectorAssembler(inputCols=FEATURES, outputCol="raw"),
        StandardScaler(inputCol="raw", outputCol="scaled", withMean=True, withStd=True),
        NNClassifier(model, featuresCol="scaled", labelCol="label", batchSize=32, maxEpoch=20,
                     learningRate=0.01, numWorkers=2, seed=1),
    ])


def test_pipeline_on_executors_saves_and_loads_in_a_new_session(spark_cluster, tmp_path):
    from zooapi_tests.conftest import CLUSTER, _session

    train, test = cancer_frame(spark_cluster).randomSplit([0.75, 0.25], seed=3)
    fitted = pipeline(two_class_model()).fit(train)
    scored = fitted.transform(test)
    assert {"prediction", "probability", "rawPrediction", "id", "f0"} <= set(scored.columns)
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(scored)
    # Plain Keras on the same standardized split scores 0.958-0.965 over 3 seeds; 0.93 leaves
    # room for 4-5 of ~140 test rows.
    assert accuracy >= 0.93
    assert BinaryClassificationEvaluator().evaluate(scored) > 0.95  # area under ROC
    expected = scored.select("id", "prediction", "probability").toPandas().sort_values("id")
    fitted.save(str(tmp_path / "pipeline"))

    spark_cluster.stop()
    fresh = _session(CLUSTER)
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert isinstance(loaded.stages[-1], NNClassifierModel)
    again = loaded.transform(cancer_frame(fresh)).select("id", "prediction", "probability").toPandas()
    again = again[again.id.isin(expected.id)].sort_values("id")
    np.testing.assert_array_equal(again.prediction.values, expected.prediction.values)
    np.testing.assert_allclose(np.stack([v.toArray() for v in again.probability]),
                               np.stack([v.toArray() for v in expected.probability]), atol=1e-6)


def test_cross_validator_picks_the_best_of_a_grid_and_its_best_model_carries_the_winning_params(
        spark, tmp_path, capsys):
    train = cancer_frame(spark)
    pipe = pipeline(two_class_model())
    clf = pipe.getStages()[-1]
    clf.setMaxEpoch(3).setOptimMethod(keras.optimizers.Adam(beta_1=0.8))
    # Two Params set by the grid (one of them with one value): 2 maps x 2 folds + the refit = 5 fits.
    grid = ParamGridBuilder().addGrid(clf.learningRate, [1e-5, 0.01]).addGrid(clf.batchSize, [64]).build()
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    cv = CrossValidator(estimator=pipe, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2, seed=5)
    model = cv.fit(train)
    assert len(model.avgMetrics) == 2
    best = int(np.argmax(model.avgMetrics))
    assert model.avgMetrics[best] >= min(model.avgMetrics)
    assert grid[best][clf.learningRate] == 0.01  # a learning rate of 1e-5 barely moves in 3 epochs
    assert model.avgMetrics[best] > 0.9
    assert "Epoch 1/3" not in capsys.readouterr().out  # verbose=0 by default: 5 fits print nothing

    # As Spark ML models carry theirs: the Params the best model was fitted with, saved and loaded with it.
    fitted_with = {"learningRate": 0.01, "batchSize": 64, "maxEpoch": 3, "seed": 1,
                   "numWorkers": 2, "labelCol": "label", "featuresCol": "scaled", "verbose": 0}
    stage = model.bestModel.stages[-1]
    model.bestModel.save(str(tmp_path / "best"))
    loaded = PipelineModel.load(str(tmp_path / "best")).stages[-1]
    for fitted in (stage, loaded):
        assert {name: fitted.getOrDefault(name) for name in fitted_with} == fitted_with
        assert isinstance(fitted.getOptimMethod(), keras.optimizers.Adam)
        assert fitted.getOptimMethod().get_config()["beta_1"] == pytest.approx(0.8)

    split = TrainValidationSplit(estimator=pipe, estimatorParamMaps=ParamGridBuilder().addGrid(
        clf.maxEpoch, [1, 6]).build(), evaluator=evaluator, trainRatio=0.7, seed=5).fit(train)
    assert split.validationMetrics[1] >= split.validationMetrics[0] - 0.02
    assert split.bestModel.stages[-1].history.params["epochs"] in (1, 6)


def test_fit_leaves_estimator_and_model_unchanged_and_starts_each_fit_alike(spark):
    df = VectorAssembler(inputCols=FEATURES, outputCol="vec").transform(cancer_frame(spark))
    model = two_class_model()
    before = [w.copy() for w in model.get_weights()]
    est = NNClassifier(model, featuresCol="vec", maxEpoch=2, numWorkers=2, seed=9, shuffle=False)
    first = est.fit(df)
    second = est.fit(df, {est.maxEpoch: 2})
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(before, first.model.get_weights()))
    assert len(first.history.history["loss"]) == 2


def test_wrong_columns_fail_at_fit_naming_the_column(spark):
    df = cancer_frame(spark)
    with pytest.raises(ValueError, match="Column 'features' .* is not in the DataFrame"):
        NNClassifier(two_class_model()).fit(df)
    with pytest.raises(TypeError, match="Column 'x' has type map<string,double>"):
        NNClassifier(two_class_model(), featuresCol="x").fit(df.selectExpr("map('a', f0) as x", "label"))


def test_binary_sigmoid_model_honours_threshold(spark):
    df = VectorAssembler(inputCols=FEATURES, outputCol="raw").transform(cancer_frame(spark))
    df = StandardScaler(inputCol="raw", outputCol="vec", withMean=True).fit(df).transform(df)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1, activation="sigmoid")])
    fitted = NNClassifier(model, loss="binary_crossentropy", featuresCol="vec", maxEpoch=10, learningRate=0.01,
                          numWorkers=2).fit(df)
    scored = fitted.transform(df)
    assert MulticlassClassificationEvaluator(metricName="accuracy").evaluate(scored) > 0.93
    assert BinaryClassificationEvaluator(rawPredictionCol="probability").evaluate(scored) > 0.97
    positives = scored.filter("prediction = 1").count()
    fitted.setThreshold(0.999)
    assert fitted.transform(df).filter("prediction = 1").count() < positives
    fitted.setProbabilityCol("").setRawPredictionCol("")
    assert {"probability", "rawPrediction"}.isdisjoint(fitted.transform(df).columns)


def test_regression_estimator_and_streaming_transform(spark, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.3
    rows = [(i, x[i].tolist(), float(y[i])) for i in range(400)]
    df = spark.createDataFrame(rows, "id long, x array<double>, y double")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    fitted = NNEstimator(model, "mse", featuresCol="x", labelCol="y", maxEpoch=30, learningRate=0.05,
                         numWorkers=2).fit(df)
    out = fitted.transform(df)
    assert dict(out.dtypes)["prediction"] == "double"
    error = out.selectExpr("avg(abs(prediction - y)) as e").first().e
    assert error < 0.1
    source = tmp_path / "stream"
    df.write.parquet(str(source))
    stream = spark.readStream.schema(df.schema).parquet(str(source))
    query = fitted.transform(stream).writeStream.format("memory").queryName("nn_stream").start()
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    assert spark.table("nn_stream").count() == 400
    wide = NNModel(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), featuresCol="x")
    assert dict(wide.transform(df).dtypes)["prediction"] == "array<double>"
