"""WideAndDeep and SessionRecommender on two executors (`local-cluster`):
each trained by two Spark barrier tasks, then ranking on the executors as
the driver's own Keras predictions rank."""

from __future__ import annotations

import numpy as np
import pytest

from zooapi_tests.models.recommendation_data import few_shuffle_partitions
from zooapi_tests.models.test_session_recommender import ITEMS, LENGTH, markov_sessions
from zooapi_tests.models.test_wide_and_deep import frame, info, planted_crosses, scores

pytestmark = pytest.mark.slow


def test_wide_and_deep_and_session_recommender_train_and_rank_on_two_executors(spark_cluster):
    import keras

    from zooapi.models import SessionRecommender, WideAndDeep

    with few_shuffle_partitions(spark_cluster):
        keras.utils.set_random_seed(0)
        wnd = WideAndDeep(1, info(), hidden_layers=(8,))
        wnd.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
        history = wnd.fit(frame(spark_cluster, planted_crosses(800, 0)), epochs=3, batch_size=64, num_workers=2)
        # 30 % of labels are 1: a constant guess costs their entropy (0.61),
        # the planted cross with its 10 % flips 0.33.
        assert history.history["loss"][-1] < 0.5, history.history["loss"]
        pairs = frame(spark_cluster, [(u, i, u % 4, i % 4, 0.5, 0) for u in range(3) for i in range(8)])
        rows = pairs.collect()
        p = scores(wnd, rows)
        best = {r.user: r.item for r in wnd.recommend_for_user(pairs, 1).collect()}
        assert best == {u: max((p[j], r.item) for j, r in enumerate(rows) if r.user == u)[1] for u in range(3)}
        assert all(best[u] % 4 == u % 4 for u in range(3))  # the planted match

        keras.utils.set_random_seed(0)
        session = SessionRecommender(ITEMS, 8, rnn_hidden_layers=(16,), session_length=LENGTH)
        session.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
        train = spark_cluster.createDataFrame(markov_sessions(600, 0), "session array<int>, item int")
        session.fit(train, label_cols="item", epochs=3, batch_size=64, num_workers=2)
        test = spark_cluster.createDataFrame(markov_sessions(50, 1), "session array<int>, item int")
        recs = session.recommend_for_session(test, max_items=2).collect()
        probs = session.predict(np.array([r.session for r in recs]), verbose=0)
        for r, p in zip(recs, probs):
            assert r.recommendations[0].item == int(np.argmax(p[1:])) + 1
        top1 = np.mean([r.recommendations[0].item == r.session[-1] % ITEMS + 1 for r in recs])
        assert top1 > 0.8  # the chain's own next item; a uniform guess gets 1/12
