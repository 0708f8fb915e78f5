"""The Spark ML contract of the nnframes stages, without training."""

import keras
import numpy as np
import pytest

from zooapi.nnframes import (
    ArrayToTensor, ChainedPreprocessing, MLlibVectorToTensor, NNClassifier, NNClassifierModel, NNEstimator,
    NNModel, ScalarToTensor, SeqToTensor,
)
from zooapi.feature.preprocessing import preprocessing_from_json, preprocessing_to_json

pytestmark = pytest.mark.both_sessions


def small_model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("stage", [NNEstimator(small_model(), "mse"), NNClassifier(small_model()),
                                   NNModel(small_model()), NNClassifierModel(small_model())])
def test_every_param_has_a_doc_and_a_default(stage):
    for param in stage.params:
        assert param.doc, param.name
        assert stage.hasDefault(param), param.name
    assert "featuresCol" in stage.explainParams()


def test_params_are_camel_case_with_getters_setters_and_copy():
    est = NNClassifier(small_model(), featuresCol="vec", maxEpoch=3)
    assert est.getFeaturesCol() == "vec" and est.getMaxEpoch() == 3
    assert est.setBatchSize(64) is est and est.getBatchSize() == 64
    copied = est.copy({est.learningRate: 0.5})
    assert copied.getLearningRate() == 0.5 and est.getLearningRate() == 1e-3
    assert copied.uid == est.uid and copied.model is est.model
    assert est.getProbabilityCol() == "probability" and est.getThreshold() == 0.5
    est.setFeaturesCol(["a", "b"])
    assert est.getFeaturesCol() == ["a", "b"]


def test_bad_param_values_are_refused():
    with pytest.raises(ValueError, match="NNEstimator has no Param 'epochs'"):
        NNEstimator(small_model(), "mse", epochs=3)
    with pytest.raises(TypeError, match="Expected a column name or a list of column names"):
        NNEstimator(small_model(), "mse", featuresCol=3)
    with pytest.raises(TypeError, match="Expected a Keras optimizer name"):
        NNEstimator(small_model(), "mse", optimMethod=object())
    with pytest.raises(TypeError, match="Expected a Keras model"):
        NNEstimator("not a model")


def test_integer_params_name_themselves_when_refused():
    with pytest.raises(ValueError, match=r"^Received an invalid value for `batchSize`, expected a positive integer\. "
                                         r"Received: batchSize=0$"):
        NNEstimator(small_model(), "mse").setBatchSize(0)
    with pytest.raises(ValueError, match=r"^Received an invalid value for `maxEpoch`, expected a positive integer\. "
                                         r"Received: maxEpoch=-1$"):
        NNClassifier(small_model(), maxEpoch=-1)
    with pytest.raises(ValueError, match=r"^Received an invalid value for `numWorkers`, expected a non-negative "
                                         r"integer\. Received: numWorkers=-2$"):
        NNEstimator(small_model(), "mse").setNumWorkers(-2)
    with pytest.raises(ValueError, match=r"^Received an invalid value for `batchSize`, expected a positive integer\. "
                                         r"Received: batchSize=0$"):
        NNModel(small_model()).setBatchSize(0)
    assert NNEstimator(small_model(), "mse", numWorkers=0, batchSize=8.0).getBatchSize() == 8


def test_converters_shape_batches():
    assert SeqToTensor([2, 2])(np.ones((5, 4))).shape == (5, 2, 2)
    assert MLlibVectorToTensor([4, 1])(np.ones((5, 4))).shape == (5, 4, 1)
    assert ScalarToTensor()(np.arange(5.0)).shape == (5, 1)
    assert (ScalarToTensor() * ArrayToTensor([1, 1]))(np.ones(3)).shape == (3, 1, 1)
    with pytest.raises(ValueError, match=r"SeqToTensor\(\[3\]\) received rows of 4 values; expected 3"):
        SeqToTensor([3])(np.ones((2, 4)))
    with pytest.raises(ValueError, match="Received an invalid value for `shape`"):
        ArrayToTensor([0, 2])


def test_preprocessing_saves_as_json_and_pickles_only_with_consent():
    chain = ChainedPreprocessing([SeqToTensor([2, 2]), keras.layers.Rescaling(0.5)])
    spec = preprocessing_to_json(chain)
    assert spec["kind"] == "zooapi"
    back = preprocessing_from_json(spec)
    np.testing.assert_allclose(np.asarray(back(np.ones((1, 4)))), np.full((1, 2, 2), 0.5))
    pickled = preprocessing_to_json(lambda x: x * 2)
    assert pickled["kind"] == "pickle"
    with pytest.raises(ValueError, match=r"pickled Python function.*enable_unsafe_deserialization"):
        preprocessing_from_json(pickled)
    keras.config.enable_unsafe_deserialization()
    try:
        assert preprocessing_from_json(pickled)(3) == 6
    finally:
        from keras.src.backend.common import global_state

        global_state.set_global_attribute("safe_mode_saving", None)


def test_verbose_param_is_quiet_by_default_and_refuses_other_levels():
    est = NNClassifier(small_model())
    assert est.getVerbose() == 0
    assert est.setVerbose(2).getVerbose() == 2
    with pytest.raises(ValueError, match=r"Received an invalid value for `verbose`, expected 0 \(silent\), 1 "
                                         r"\(progress bar\) or 2 \(one line per epoch\)\. Received: verbose=3"):
        NNEstimator(small_model(), "mse", verbose=3)


def test_models_carry_training_params_with_the_estimators_defaults():
    est, model = NNClassifier(small_model()), NNClassifierModel(small_model())
    for name in ("labelCol", "maxEpoch", "learningRate", "optimMethod", "numWorkers", "shuffle", "seed", "verbose"):
        assert model.getOrDefault(name) == est.getOrDefault(name), name
    assert model.getBatchSize() == 1024  # an unfitted model predicts in large batches
    assert model.getLabels() == [] and model.getPredictedLabelCol() == "predictedLabel"
    assert not NNModel(small_model()).hasParam("labels")


def test_a_pandas_dataframe_is_refused_with_how_to_make_a_spark_one():
    import pandas as pd

    pdf = pd.DataFrame({"features": [[0.0] * 4], "label": [1.0]})
    expected = r"expected a Spark DataFrame .*not a pandas DataFrame; create one with `spark\.createDataFrame\(pdf\)`"
    with pytest.raises(TypeError, match=rf"`dataset`, {expected}"):
        NNClassifier(small_model()).fit(pdf)
    with pytest.raises(TypeError, match=rf"`dataset`, {expected}"):
        NNModel(small_model()).transform(pdf)
    with pytest.raises(TypeError, match=rf"`dataset`, {expected}"):
        NNClassifierModel(small_model()).transform(pdf)


def test_set_validation_refuses_a_batch_size_other_than_the_training_one():
    clf = NNClassifier(small_model(), batchSize=16)
    with pytest.raises(ValueError, match=r"^Received an invalid value for `batch_size`, expected None: validation "
                                         r"runs with the training `batchSize` \(16; set it with setBatchSize\)\. "
                                         r"Received: batch_size=64$"):
        clf.setValidation(batch_size=64)
    assert clf.setValidation(batch_size=16) is clf and clf.setValidation() is clf
