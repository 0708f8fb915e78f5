"""SessionRecommender on sessions from a Markov chain (`local[2]`)."""

from __future__ import annotations

import numpy as np
import pytest

from zooapi_tests.models.recommendation_data import few_shuffle_partitions

pytestmark = pytest.mark.both_sessions


@pytest.fixture
def spark(spark):
    """The `local[2]` session with few shuffle partitions."""
    with few_shuffle_partitions(spark):
        yield spark

ITEMS, LENGTH = 12, 3


def markov_sessions(n: int, seed: int):
    """Sessions of 3 items from a chain where item i is followed by
    i % 12 + 1 with probability 0.9 (else any item), and the next item."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        chain = [int(rng.integers(1, ITEMS + 1))]
        for _ in range(LENGTH):
            chain.append(chain[-1] % ITEMS + 1 if rng.random() < 0.9 else int(rng.integers(1, ITEMS + 1)))
        rows.append((chain[:LENGTH], chain[LENGTH]))
    return rows


@pytest.mark.slow
def test_session_recommender_learns_the_chain(spark):
    import keras

    from zooapi.models import SessionRecommender

    keras.utils.set_random_seed(0)
    model = SessionRecommender(ITEMS, 8, rnn_hidden_layers=(16,), session_length=LENGTH)
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    train = spark.createDataFrame(markov_sessions(1500, 0), "session array<int>, item int")
    model.fit(train, label_cols="item", epochs=8, batch_size=64, num_workers=1)
    test = spark.createDataFrame(markov_sessions(300, 1), "session array<int>, item int")
    recs = model.recommend_for_session(test, max_items=3).collect()
    assert all(len(r.recommendations) == 3 and all(x.item > 0 for x in r.recommendations) for r in recs)
    top1 = np.mean([r.recommendations[0].item == r.session[-1] % ITEMS + 1 for r in recs])
    hit = np.mean([r.item in [x.item for x in r.recommendations] for r in recs])
    assert top1 > 0.95  # the chain's own next item; a uniform guess gets 1/12
    assert hit > 0.85  # 90 % of next items follow the chain


def markov_events(users: int, steps: int, seed: int):
    """(user, item, timestamp) rows: each user walks `steps` items of the
    chain of `markov_sessions`, one item per time step."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        item = int(rng.integers(1, ITEMS + 1))
        for t in range(steps):
            rows.append((user, item, t))
            item = item % ITEMS + 1 if rng.random() < 0.9 else int(rng.integers(1, ITEMS + 1))
    return rows


@pytest.mark.slow
def test_history_model_learns_the_chain_from_add_history_sequence(spark):
    import keras

    from zooapi.feature import add_history_sequence
    from zooapi.models import SessionRecommender

    def sessions(users, seed):
        events = spark.createDataFrame(markov_events(users, 10, seed), "user int, item int, timestamp long")
        with_history = add_history_sequence(events, 6)  # the 6 items before each event, 0-padded
        return add_history_sequence(with_history, LENGTH, output_col="session", min_history=LENGTH)

    keras.utils.set_random_seed(0)
    model = SessionRecommender(ITEMS, 8, rnn_hidden_layers=(16,), session_length=LENGTH, include_history=True,
                               mlp_hidden_layers=(8,), history_length=6)
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    model.fit(sessions(200, 0), label_cols="item", epochs=6, batch_size=64, num_workers=1)
    recs = model.recommend_for_session(sessions(40, 1), max_items=3).collect()
    assert len(recs) == 40 * (10 - LENGTH)
    assert all(r.history[-LENGTH:] == r.session for r in recs)
    top1 = np.mean([r.recommendations[0].item == r.session[-1] % ITEMS + 1 for r in recs])
    assert top1 > 0.9, top1  # the chain's own next item; a uniform guess gets 1/12


def test_history_branch_builds_and_saves(tmp_path):
    import keras

    import zooapi.keras  # noqa: F401
    from zooapi.models import SessionRecommender

    model = SessionRecommender(ITEMS, 4, rnn_hidden_layers=(8, 4), session_length=LENGTH, include_history=True,
                               mlp_hidden_layers=(8,), history_length=5)
    assert model.feature_cols == ["session", "history"]
    x = [np.array([[0, 1, 2]]), np.array([[0, 0, 3, 4, 5]])]
    model.save(tmp_path / "s.keras")
    loaded = keras.models.load_model(tmp_path / "s.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert loaded.predict(x, verbose=0).shape == (1, ITEMS + 1)


def test_session_recommender_refuses_bad_sessions(spark):
    from zooapi.models import SessionRecommender

    model = SessionRecommender(ITEMS, 4, rnn_hidden_layers=(4,), session_length=LENGTH)
    short = spark.createDataFrame([([1, 2], 3)], "session array<int>, item int")
    with pytest.raises(ValueError, match=r"Column 'session' holds an array of length 2; expected length 3"):
        model.fit(short, label_cols="item")
    with pytest.raises(ValueError, match=r"Column 'item' holds the value 13; expected item ids in \[1, 12\]"):
        model.fit(spark.createDataFrame([([1, 2, 3], 13)], "session array<int>, item int"), label_cols="item")
    with pytest.raises(ValueError, match=r"Received: max_items=0"):
        model.recommend_for_session(short, 0)
    missing = spark.createDataFrame([([1, 2, 3], 4), (None, 5)], "session array<int>, item int")
    with pytest.raises(ValueError, match=r"Column 'session' holds 1 null value\(s\); expected arrays of 3 item ids"):
        model.fit(missing, label_cols="item")
    holes = spark.createDataFrame([([1, None, 3], 4)], "session array<int>, item int")
    with pytest.raises(ValueError, match=r"Column 'session' holds 1 array\(s\) with null elements; expected item "
                                         r"ids in \[0, 12\]"):
        model.recommend_for_session(holes, 3)
    with_history = SessionRecommender(ITEMS, 4, rnn_hidden_layers=(4,), session_length=LENGTH,
                                      include_history=True, mlp_hidden_layers=(4,), history_length=2)
    no_history = spark.createDataFrame([([1, 2, 3], None, 4)], "session array<int>, history array<int>, item int")
    with pytest.raises(ValueError, match=r"Column 'history' holds 1 null value\(s\); expected arrays of 2"):
        with_history.fit(no_history, label_cols="item")


@pytest.mark.parametrize("name", ["predict_user_item_pair", "recommend_for_user", "recommend_for_item",
                                  "recommend_for_all_users", "recommend_for_all_items"])
def test_pair_methods_point_at_recommend_for_session(name):
    from zooapi.models import SessionRecommender

    model = SessionRecommender(ITEMS, 4, rnn_hidden_layers=(4,), session_length=LENGTH)
    with pytest.raises(TypeError, match=rf"SessionRecommender has no `{name}`: it ranks the next item of a session"
                                        rf".*Call `recommend_for_session\(df, max_items\)`"):
        getattr(model, name)(None, 3)
