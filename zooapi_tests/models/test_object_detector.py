"""ObjectDetector on generated shapes, on Spark: it rejects bad boxes and
arguments naming them, scores an image without objects, draws, and detects
on `local-cluster` exactly as the same model does in-process (last: it
stops the `local[2]` session). Training to a known mAP is
bench/object_detection.py's."""

from __future__ import annotations

import numpy as np
import pytest

from zooapi.models import ObjectDetector, shapes_frame
from zooapi.models.shapes import SHAPE_LABELS, draw_shapes

pytestmark = pytest.mark.both_sessions

SIZE = 64


@pytest.fixture(scope="module")
def detector():
    """An untrained detector for 64x64 images (its heads start at RetinaNet's prior: every score ~0.01)."""
    import keras

    keras.utils.set_random_seed(0)
    return ObjectDetector(SHAPE_LABELS, input_size=SIZE)


def test_bad_boxes_and_arguments_are_explained(spark, detector):
    from pyspark.sql import functions as F

    images = shapes_frame(spark, 4, size=SIZE, max_objects=1, seed=4, partitions=1)
    with pytest.raises(ValueError, match=r"has the unknown label 'hexagon'; expected one of 'circle', 'rectangle', "
                                         r"'triangle'"):
        detector.evaluate(images.withColumn("boxes", F.transform("boxes", lambda b: b.withField(
            "label", F.lit("hexagon")))))
    no_objects = images.withColumn("boxes", F.filter("boxes", lambda b: F.lit(False)))  # valid: nothing to find
    assert np.isnan(detector.evaluate(no_objects)["mAP@0.5"])  # no class has ground truth
    drawn = detector.draw(images, n=2, score_threshold=0.0)
    assert drawn.shape == (2, SIZE, SIZE, 3) and drawn.dtype == np.uint8
    with pytest.raises(TypeError, match=r"Column 'boxes' \(`boxes_col`\) has type string; expected "
                                        r"array<struct<label: string, xmin"):
        detector.evaluate(images.withColumn("boxes", F.lit("cat")))
    with pytest.raises(TypeError, match=r"Column 'id' \(`image_col`\) has type bigint; expected Spark's image"):
        detector.detect(images, image_col="id")
    with pytest.raises(ValueError, match=r"`score_threshold`, expected a number in \[0, 1\]. Received: "
                                         r"score_threshold=1.5"):
        detector.detect(images, score_threshold=1.5)
    with pytest.raises(ValueError, match=r"`max_detections`, expected a positive integer. Received: max_detections=0"):
        detector.detect(images, max_detections=0)
    with pytest.raises(ValueError, match=r"`class_names`, expected a non-empty list of distinct strings"):
        ObjectDetector(["cat", "cat"])
    with pytest.raises(ValueError, match=r"`input_size`, expected a multiple of 32. Received: input_size=100"):
        ObjectDetector(["cat"], input_size=100)


def test_fit_trains_through_the_engine_and_lowers_the_loss(spark):
    import keras

    keras.utils.set_random_seed(0)
    detector = ObjectDetector(SHAPE_LABELS, input_size=SIZE)
    train = shapes_frame(spark, 64, size=SIZE, seed=1, partitions=2).cache()
    # The targets have the model's output size per row (the engine refuses any other).
    targets = detector.training_frame(train).first()[1]
    assert len(targets) == len(detector.anchors) * (len(SHAPE_LABELS) + 4)
    losses = detector.fit(train, epochs=3, batch_size=16, num_workers=2, seed=0).history.history["loss"]
    assert len(losses) == 3 and np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    train.unpersist()


def test_detect_on_local_cluster_equals_the_model_in_process(spark_cluster, detector):
    from zooapi.models.detector_tasks import decode_one

    test = shapes_frame(spark_cluster, 8, size=SIZE, max_objects=2, seed=5, partitions=2)
    # Threshold 0: the untrained model's best 10 boxes of each image, in score order.
    got = {r.id: r.detections for r in detector.detect(test, score_threshold=0.0, max_detections=10).collect()}
    images = np.stack([draw_shapes(np.random.default_rng([5, i]), SIZE, 2)[0] for i in range(8)]).astype("float32")
    for i, raw in enumerate(detector.model.predict(images, verbose=0)):
        boxes, scores, labels = decode_one(raw, detector.anchors, 3, 0.0, 10)
        assert len(got[i]) == 10
        assert [d.label for d in got[i]] == [SHAPE_LABELS[c] for c in labels]
        np.testing.assert_allclose([[d.xmin, d.ymin, d.xmax, d.ymax] for d in got[i]], boxes.reshape(-1, 4) * SIZE,
                                   atol=1e-3)
        np.testing.assert_allclose([d.score for d in got[i]], scores, atol=1e-5)
