"""Validation triggers, summaries, checkpoints and clipping through nnframes."""

import os

import keras
import pytest

from zooapi.nnframes import NNClassifier
from zooapi.optim import MaxIteration, SeveralIteration, Top1Accuracy, TrainSummary, ValidationSummary
from zooapi_tests.conftest import digits_frame, mlp

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]


def test_classifier_validates_summarises_checkpoints_and_clips(spark, digits, tmp_path):
    x, y = digits
    train, test = digits_frame(spark, x[:1000], y[:1000]).randomSplit([0.8, 0.2], seed=1)
    train_summary = TrainSummary(str(tmp_path / "logs"), "clf")
    val_summary = ValidationSummary(str(tmp_path / "logs"), "clf")
    clf = (NNClassifier(mlp(), featuresCol="features", labelCol="label", batchSize=64, numWorkers=2)
           .setValidation(SeveralIteration(5), test, [Top1Accuracy()])
           .setEndWhen(MaxIteration(18))
           .setTrainSummary(train_summary).setValidationSummary(val_summary)
           .setCheckpoint(str(tmp_path / "ckpt"), SeveralIteration(9))
           .setGradientClippingByL2Norm(1.0))
    fitted = clf.fit(train)
    assert list(val_summary.read_scalar("Top1Accuracy")[:, 0]) == [5, 10, 15]
    assert clf.getTrainSummary() is train_summary
    assert list(train_summary.read_scalar("Loss")[:, 0]) == list(range(1, 19))
    assert int(fitted.model.optimizer.iterations.numpy()) == 18
    assert fitted.model.optimizer.clipnorm == 1.0
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["ckpt-000000000018.json", "ckpt-000000000018.keras"]
    with pytest.raises(ValueError, match="symmetric range"):
        clf.setConstantGradientClipping(-1.0, 2.0)
    with pytest.raises(TypeError, match="Expected a zooapi.optim trigger"):
        clf.setEndWhen(5)


def test_keras_style_model_tensorboard_checkpoint_and_resume(spark, digits, tmp_path):
    from zooapi.keras import Input, Sequential, layers

    x, y = digits
    df = digits_frame(spark, x[:640], y[:640])
    model = Sequential([Input((64,)), layers.Dense(32, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.set_tensorboard(str(tmp_path / "logs"), "seq")
    model.set_checkpoint(str(tmp_path / "ckpt"))
    model.set_gradient_clipping_by_l2_norm(5.0)
    model.fit(df, feature_cols="features", label_cols="label", batch_size=64, epochs=2, num_workers=2, verbose=0,
              validation_data=df)
    assert model.get_train_summary("Loss").shape == (20, 3)
    assert list(model.get_validation_summary("accuracy")[:, 0]) == [10, 20]
    history = model.fit(df, feature_cols="features", label_cols="label", batch_size=64, epochs=3, num_workers=2,
                        verbose=0, resume=True)
    assert history.epoch == [2]
    assert int(model.optimizer.iterations.numpy()) == 30
    model.clear_gradient_clipping()
    assert model.optimizer.clipnorm is None
    with pytest.raises(ValueError, match="symmetric range"):
        model.set_constant_gradient_clipping(0.0, 1.0)
