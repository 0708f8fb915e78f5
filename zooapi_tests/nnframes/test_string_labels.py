"""NNClassifier on string labels (iris species names): indexed as StringIndexer would, named back as
IndexToString would, saved with the model; the Keras-style fit refuses them."""

import keras
import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StandardScaler, VectorAssembler

from zooapi.nnframes import NNClassifier, NNClassifierModel

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]

MEASURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_frame(spark):
    from sklearn.datasets import load_iris

    data = load_iris()
    rows = [(i, *map(float, x), str(data.target_names[t])) for i, (x, t) in enumerate(zip(data.data, data.target))]
    schema = ", ".join(["id long"] + [f"{c} double" for c in MEASURES] + ["species string"])
    return spark.createDataFrame(rows, schema)


def stringindexer_order(pdf) -> list[str]:
    """Most frequent first, ties alphabetical: StringIndexer's frequencyDesc."""
    counts = pdf.species.value_counts()
    return sorted(counts.index, key=lambda name: (-counts[name], name))


def test_string_labels_train_predict_their_names_and_reload_in_a_pipeline(spark, tmp_path, capsys):
    train, test = iris_frame(spark).randomSplit([0.7, 0.3], seed=11)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    clf = NNClassifier(model, featuresCol="scaled", labelCol="species", batchSize=16, maxEpoch=40,
                       learningRate=0.02, numWorkers=2, seed=1, verbose=2)
    features = [VectorAssembler(inputCols=MEASURES, outputCol="raw"),
                StandardScaler(inputCol="raw", outputCol="scaled", withMean=True)]
    # Validation rows need the features the pipeline computes; their labels are indexed as the training ones.
    clf.setValidation(val_df=Pipeline(stages=features).fit(train).transform(test))
    fitted = Pipeline(stages=features + [clf]).fit(train)
    printed = capsys.readouterr().out
    assert "Epoch 1/40" in printed and "Epoch 40/40" in printed  # verbose=2 reaches the engine

    stage = fitted.stages[-1]
    assert isinstance(stage, NNClassifierModel)
    assert stage.getLabels() == stringindexer_order(train.select("species").toPandas())
    assert "val_loss" in stage.history.history
    scored = fitted.transform(test).select("id", "species", "prediction", "predictedLabel").toPandas()
    # predictedLabel is the label at the predicted index, as IndexToString gives it.
    assert list(scored.predictedLabel) == [stage.getLabels()[int(p)] for p in scored.prediction]
    # Plain Keras on this standardized split: 0.93-0.98 over seeds; 0.9 allows 4 of ~45 test rows wrong.
    assert (scored.predictedLabel == scored.species).mean() >= 0.9

    fitted.save(str(tmp_path / "iris"))
    loaded = PipelineModel.load(str(tmp_path / "iris"))
    assert loaded.stages[-1].getLabels() == stage.getLabels()
    again = loaded.transform(test).select("id", "predictedLabel").toPandas()
    assert list(again.sort_values("id").predictedLabel) == list(scored.sort_values("id").predictedLabel)

    stage.setPredictedLabelCol("")
    assert "predictedLabel" not in stage.transform(fitted.stages[1].transform(
        fitted.stages[0].transform(test))).columns


def test_keras_style_fit_refuses_a_string_label_column_naming_string_indexer(spark):
    from zooapi.keras import Input, Sequential, layers

    df = VectorAssembler(inputCols=MEASURES, outputCol="features").transform(iris_frame(spark))
    model = Sequential([Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    message = (r"Label column 'species' \(`label_cols` in `fit`\) holds strings; expected numeric labels .*"
               r"`pyspark\.ml\.feature\.StringIndexer\(inputCol='species', outputCol='species_index'\)`.*"
               r"Received: species of type string")
    with pytest.raises(TypeError, match=message):
        model.fit(df, feature_cols="features", label_cols="species")
    with pytest.raises(TypeError, match=r"Label column 'species' \(`label_cols` in `evaluate`\) holds strings"):
        model.evaluate(df, feature_cols="features", label_cols=["species"])
