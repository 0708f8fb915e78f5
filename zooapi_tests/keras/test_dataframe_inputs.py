"""What the Keras-style DataFrame methods say about inputs that are not Spark DataFrames (no Spark job)."""

import keras
import numpy as np
import pandas as pd
import pytest

from zooapi.keras import Input, Sequential, layers

pytestmark = pytest.mark.both_sessions


def compiled():
    model = Sequential([Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_a_pandas_dataframe_with_dataframe_keywords_is_refused_with_how_to_make_a_spark_one():
    pdf = pd.DataFrame({"features": [[0.0, 1.0, 2.0, 3.0]], "label": [1]})
    model = compiled()
    expected = (r"Received an invalid value for `x`, expected a Spark DataFrame .*not a pandas DataFrame; "
                r"create one with `spark\.createDataFrame\(pdf\)`.* Received: x of type DataFrame")
    with pytest.raises(TypeError, match=expected):
        model.fit(pdf, feature_cols="features", label_cols="label")
    with pytest.raises(TypeError, match=expected):
        model.evaluate(pdf, feature_cols="features", label_cols="label")
    with pytest.raises(TypeError, match=expected):
        model.predict(pdf, feature_cols="features")


def test_numpy_with_dataframe_keywords_keeps_its_keras_hint_and_pandas_alone_stays_keras():
    model = compiled()
    with pytest.raises(TypeError, match=r"`feature_cols` applies only when `x` is a Spark DataFrame; received x of "
                                        r"type ndarray\. With NumPy arrays"):
        model.predict(np.zeros((2, 4)), feature_cols="features")
    # Without DataFrame keywords a pandas frame is Keras' business, as in Keras.
    pdf = pd.DataFrame(np.eye(4)[:3])
    assert model.predict(pdf, verbose=0).shape == (3, 3)
    keras.backend.clear_session()
