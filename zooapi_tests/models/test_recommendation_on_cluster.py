"""NeuralCF on two executors (`local-cluster`): explicit ratings of PySpark's
MovieLens sample as classes, trained by two Spark barrier tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zooapi_tests.models.recommendation_data import movielens_sample

pytestmark = pytest.mark.slow


def test_neural_cf_trains_on_two_executors_and_ranks_there(spark_cluster):
    import keras
    from pyspark.sql import functions as F

    from zooapi.models import NeuralCF

    ratings = movielens_sample(spark_cluster).withColumn("label", F.col("rating") - 1)  # 1-5 -> classes 0-4
    keras.utils.set_random_seed(0)
    model = NeuralCF(29, 99, class_num=5, user_embed=8, item_embed=8, hidden_layers=(16,), mf_embed=8)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    history = model.fit(ratings, label_cols="label", epochs=10, batch_size=64, num_workers=2)
    # Predicting the class frequencies (63 % of ratings are 1) costs their
    # entropy in cross-entropy; the model must learn more than that.
    freq = np.array([941, 207, 179, 99, 75]) / 1501
    entropy = -float(np.sum(freq * np.log(freq)))
    assert history.history["loss"][-1] < entropy - 0.1, (history.history["loss"], entropy)
    assert math.isfinite(history.history["loss"][0])

    # The sample's ids are 0-based: the default candidates start at 0.
    assert (model.first_user_id, model.first_item_id) == (0, 0)
    recs = model.recommend_for_all_users(3, users=[0, 1, 2]).collect()
    assert sorted(row.user for row in recs) == [0, 1, 2]
    users, items = np.meshgrid([0, 1, 2], np.arange(100), indexing="ij")
    probs = model.predict([users.reshape(-1, 1), items.reshape(-1, 1)], verbose=0)
    expected_rating = (probs * np.arange(5)).sum(axis=1).reshape(3, 100)
    for row in recs:
        best = sorted(range(100), key=lambda i: (-expected_rating[row.user, i], i))[:3]
        assert [r.item for r in row.recommendations] == best
        np.testing.assert_allclose([r.rating for r in row.recommendations],
                                   expected_rating[row.user, best], atol=1e-4)
