"""The engine refuses what is not a Spark DataFrame, saying how to make one."""

import pytest

from zooapi import engine
from zooapi.engine.frames import require_spark_dataframe
from zooapi_tests.conftest import mlp

pytestmark = pytest.mark.both_sessions


@pytest.fixture(scope="module")
def iris_pandas():
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


@pytest.mark.parametrize("call", [
    lambda model, pdf: engine.fit(model, pdf, ["sepal length (cm)"], "target", verbose=0),
    lambda model, pdf: engine.evaluate(model, pdf, ["sepal length (cm)"], "target"),
    lambda model, pdf: engine.predict(model, pdf, ["sepal length (cm)"]),
], ids=["fit", "evaluate", "predict"])
def test_a_pandas_frame_is_refused_with_how_to_make_a_spark_one(call, iris_pandas):
    with pytest.raises(TypeError, match=r"expected a Spark DataFrame .*not a pandas DataFrame; create one with "
                                        r"`spark\.createDataFrame\(pdf\)`.*Received: df of type DataFrame"):
        call(mlp(inputs=1, classes=3), iris_pandas)


def test_a_pandas_validation_frame_is_refused_by_its_argument_name(spark, iris_pandas):
    train = spark.createDataFrame(iris_pandas)
    with pytest.raises(TypeError, match=r"Received an invalid value for `validation_df`.*createDataFrame"):
        engine.fit(mlp(inputs=1, classes=3), train, ["sepal length (cm)"], "target",
                   validation_df=iris_pandas, verbose=0)


def test_other_values_are_refused_naming_their_type():
    with pytest.raises(TypeError, match=r"Received an invalid value for `dataset`, expected a Spark DataFrame "
                                        r"\(pyspark.sql.DataFrame\)\. Received: dataset of type dict"):
        require_spark_dataframe({"x": [1]}, "dataset")
