"""Transform of models with several outputs, and `predicted_class` on prediction columns."""

import keras
import numpy as np
import pytest

from zooapi.nnframes import NNClassifierModel, NNModel, predicted_class

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]


def two_output_model():
    """A 3-class softmax head named `species` and a 1-unit linear head named `size`."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,), name="measures")
    hidden = keras.layers.Dense(8, activation="relu")(inp)
    return keras.Model(inp, [keras.layers.Dense(3, activation="softmax", name="species")(hidden),
                             keras.layers.Dense(1, name="size")(hidden)])


def measures_frame(spark, n=40):
    x = np.random.default_rng(3).normal(size=(n, 4)).astype(np.float32)
    return x, spark.createDataFrame([(i, x[i].tolist()) for i in range(n)], "id long, x array<float>")


def test_several_outputs_become_one_struct_column_with_a_field_per_output_in_order(spark):
    model = two_output_model()
    x, df = measures_frame(spark)
    species, size = model.predict(x, verbose=0)

    out = NNModel(model, featuresCol="x").transform(df)
    assert out.columns == ["id", "x", "prediction"]
    assert out.schema["prediction"].dataType.simpleString() == "struct<species:array<double>,size:double>"
    rows = out.orderBy("id").select("prediction.species", "prediction.size").toPandas()
    np.testing.assert_allclose(np.stack(rows.species.values), species, atol=1e-5)
    np.testing.assert_allclose(rows["size"].values, size[:, 0], atol=1e-5)

    scored = NNClassifierModel(model, featuresCol="x", predictionCol="heads").transform(df).orderBy("id")
    assert scored.columns == ["id", "x", "heads", "rawPrediction", "probability"]
    classes = scored.select("heads.species", "heads.size", "probability.species").toPandas()
    np.testing.assert_array_equal(classes.iloc[:, 0].values, np.argmax(species, axis=1))
    np.testing.assert_array_equal(classes.iloc[:, 1].values, (size[:, 0] > 0.5).astype(float))
    np.testing.assert_allclose(np.stack([v.toArray() for v in classes.iloc[:, 2]]), species, atol=1e-5)


def test_predicted_class_is_numpys_argmax_or_a_threshold(spark):
    scores = [[0.1, 0.7, 0.2], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.9]]
    df = spark.createDataFrame([(i, s, float(s[-1])) for i, s in enumerate(scores)], "id long, p array<float>, q double")
    out = df.select(predicted_class("p").alias("k"), predicted_class(df.q, threshold=0.4).alias("b")).toPandas()
    assert list(out.k) == [int(np.argmax(s)) for s in scores] == [1, 0, 2, 0]  # the first of equal maxima
    assert list(out.b) == [0, 0, 1, 1]
    assert dict(df.select(predicted_class("p").alias("k")).dtypes)["k"] == "int"
    with pytest.raises(TypeError, match=r"expected a column name or a Column\. Received: col of type int"):
        predicted_class(3)
    with pytest.raises(TypeError, match=r"expected a number\. Received: threshold='0.5'"):
        predicted_class("q", threshold="0.5")
