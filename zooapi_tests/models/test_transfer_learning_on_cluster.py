"""Transfer learning on images end to end on two real executor JVMs
(local-cluster): a small CNN pretrained on digits 0-4 featurizes images of
digits 5-9 read from a folder (three sizes, resized on the executors), and an
NNClassifier head learns the new classes; fine_tune trains the same backbone
partly frozen on the encoded files, decoded in the training tasks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.sql import functions as F

from zooapi.models import ImageClassifier
from zooapi.nnframes import NNClassifier
from zooapi_tests.models.conftest import read_digits

pytestmark = pytest.mark.slow


def accuracy(scored) -> float:
    return MulticlassClassificationEvaluator(metricName="accuracy").evaluate(
        scored.withColumn("label", F.col("label").cast("double")))


def test_featurized_images_train_an_nnclassifier_head_to_high_held_out_accuracy(
        cluster_few_files, pretrained_cnn, transfer_folder):
    clf = ImageClassifier(pretrained_cnn, feature_layer="gap")
    assert clf.feature_dim == 64 and clf.input_shape == (16, 16, 3)
    images = read_digits(cluster_few_files, transfer_folder)
    features = clf.featurize(images).select("label", "features").cache()
    assert dict(features.dtypes)["features"] == "array<float>"
    train, test = features.randomSplit([0.8, 0.2], seed=42)

    keras.utils.set_random_seed(0)
    head = keras.Sequential([keras.Input((64,)), keras.layers.Dense(5, activation="softmax")])
    fitted = NNClassifier(head, featuresCol="features", labelCol="label", maxEpoch=20, batchSize=32,
                          learningRate=0.02, numWorkers=2).fit(train)
    held_out = accuracy(fitted.transform(test))
    features.unpersist()
    # Five classes: chance is 0.2. Plain Keras, same head and training, on six
    # random 80/20 splits of these features: 0.889-0.950; on the features of
    # the same CNN with random weights: 0.694-0.828. So 0.86 holds only if what
    # the CNN learned on digits 0-4 carries over to 5-9.
    assert held_out >= 0.86, held_out


def test_fine_tune_keeps_frozen_layers_bit_identical_on_two_executors(cluster_few_files, pretrained_cnn,
                                                                     transfer_folder):
    clf = ImageClassifier(pretrained_cnn, feature_layer="gap")
    backbone = clf.backbone.name
    before = {name: [w.copy() for w in clf.backbone.get_layer(name).get_weights()]
              for name in ("conv1", "conv2", "conv3")}
    # The files stay encoded (PNG bytes) and are decoded to 16x16 in the training
    # and prediction tasks; the decoded route is trained in test_image_classifier.
    train, test = read_digits(cluster_few_files, transfer_folder, decode=False).randomSplit([0.8, 0.2], seed=7)

    fitted = clf.fine_tune(train, num_classes=5, freeze_up_to="conv2", epochs=6, batch_size=32, num_workers=2,
                           validation_df=test, learning_rate=0.01, seed=3)

    trained = fitted.model.get_layer(backbone)
    assert {layer.name: layer.trainable for layer in trained.layers
            if not isinstance(layer, keras.layers.InputLayer)} == {
        "scale": False, "conv1": False, "pool1": False, "conv2": False, "conv3": True, "gap": True}
    for name in ("conv1", "conv2"):
        assert all(np.array_equal(a, b) for a, b in zip(before[name], trained.get_layer(name).get_weights())), name
    assert not np.array_equal(before["conv3"][0], trained.get_layer("conv3").get_weights()[0])
    # The ImageClassifier's own model is untouched: fine_tune trains a copy.
    assert all(np.array_equal(a, b) for a, b in zip(before["conv3"], clf.backbone.get_layer("conv3").get_weights()))
    assert all(layer.trainable for layer in clf.backbone.layers if layer.weights)

    assert len(fitted.history.history["val_accuracy"]) == 6
    held_out = accuracy(fitted.transform(test))
    assert held_out == pytest.approx(fitted.history.history["val_accuracy"][-1], abs=1e-6)
    # Chance is 0.2. Plain Keras with the same frozen layers and training, on
    # four random 80/20 splits: 0.922-0.950 after 6 epochs.
    assert held_out >= 0.87, held_out


def test_an_unfrozen_backbone_with_batch_normalization_fine_tunes_on_two_executors(
        cluster_few_files, pretrained_bn_cnn, transfer_folder):
    clf = ImageClassifier(pretrained_bn_cnn, feature_layer="gap")
    bn = clf.backbone.get_layer("bn3")
    before = [bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()]
    train, test = read_digits(cluster_few_files, transfer_folder, decode=False).randomSplit([0.8, 0.2], seed=7)

    fitted = clf.fine_tune(train, num_classes=5, epochs=6, batch_size=32, num_workers=2, validation_df=test,
                           learning_rate=0.003, seed=3)

    trained = fitted.model.get_layer(clf.backbone.name)
    assert all(layer.trainable for layer in trained.layers)
    # the moving statistics followed the new digits (averaged over both executors' batches)
    assert not np.allclose(before[0], trained.get_layer("bn3").moving_mean.numpy())
    assert not np.allclose(before[1], trained.get_layer("bn3").moving_variance.numpy())
    held_out = accuracy(fitted.transform(test))
    assert held_out == pytest.approx(fitted.history.history["val_accuracy"][-1], abs=1e-6)
    # Chance is 0.2. Six runs (four other splits and seeds, this one twice):
    # 0.969-0.995 after 6 epochs, and >= 0.939 from the fourth epoch on. At
    # learning_rate=0.003 the unfrozen batch norms swung between epochs (0.76-0.98
    # from one epoch to the next) and a CI run ended on a dip, 0.836.
    assert held_out >= 0.9, held_out
