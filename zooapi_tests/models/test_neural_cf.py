"""NeuralCF and the Recommender API on planted data (`local[2]`)."""

from __future__ import annotations

import numpy as np
import pytest

from zooapi_tests.conftest import default_session
from zooapi_tests.models.recommendation_data import ITEMS, USERS, few_shuffle_partitions, planted_groups


@pytest.fixture(autouse=True)
def _few_partitions(spark):
    with few_shuffle_partitions(spark):
        yield


def small_ncf(class_num: int = 1, seed: int = 0, users: int = USERS, items: int = ITEMS):
    import keras

    from zooapi.models import NeuralCF

    keras.utils.set_random_seed(seed)
    model = NeuralCF(users, items, class_num=class_num, user_embed=8, item_embed=8, hidden_layers=(16, 8),
                     mf_embed=8)
    model.compile(keras.optimizers.Adam(0.01),
                  "binary_crossentropy" if class_num == 1 else "sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def planted():
    """The planted data as DataFrames and an NCF trained on it (1 worker,
    negatives from `add_negative_samples`)."""
    from zooapi.feature import add_negative_samples

    spark = default_session()
    train, held_out, candidates = planted_groups()
    train_df = spark.createDataFrame(train, "user int, item int").cache()
    fit_df = add_negative_samples(train_df, item_count=ITEMS, neg_num=4, seed=1, first_item=1)
    model = small_ncf()
    with few_shuffle_partitions(spark):
        history = model.fit(fit_df, label_cols="label", epochs=15, batch_size=64, num_workers=1, seed=0)
    return {"spark": spark, "train": train_df, "model": model, "history": history,
            "candidates": spark.createDataFrame(candidates, "user int, item int, label int")}


def all_pair_scores(model) -> np.ndarray:
    """Every (user, item) pair's score from Keras in this process:
    scores[user, item]."""
    users, items = np.meshgrid(np.arange(USERS + 1), np.arange(ITEMS + 1), indexing="ij")
    scores = model.predict([users.reshape(-1, 1), items.reshape(-1, 1)], batch_size=4096, verbose=0)
    return scores.reshape(USERS + 1, ITEMS + 1)


@pytest.mark.slow
def test_ncf_beats_popularity_on_planted_groups(planted):
    from pyspark.sql import functions as F

    from zooapi.feature import ranking_metrics

    losses = planted["history"].history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    ncf = ranking_metrics(planted["model"].predict_user_item_pair(planted["candidates"]), 5,
                          score_col="probability")
    popularity = planted["train"].groupBy("item").agg(F.count("*").cast("double").alias("popularity"))
    pop = ranking_metrics(planted["candidates"].join(popularity, "item", "left").fillna(0.0), 5,
                          score_col="popularity")
    # 1 held-out item among 20 negatives: chance is 5/21 = 0.24. Only 2 of a
    # user's 20 negatives share its group, so a model of the groups gets
    # HR@5 near 1 (0.84-0.9 seen with 15 short epochs); flat popularity stays
    # near chance (0.1 seen).
    assert ncf["hit_ratio"] >= 0.75, (ncf, pop)
    assert ncf["hit_ratio"] >= pop["hit_ratio"] + 0.4, (ncf, pop)
    assert ncf["ndcg"] >= pop["ndcg"] + 0.3, (ncf, pop)


def test_predict_user_item_pair_adds_score_columns(planted):
    model, candidates = planted["model"], planted["candidates"]
    rows = model.predict_user_item_pair(candidates).orderBy("user", "item").collect()
    assert len(rows) == candidates.count()
    scores = all_pair_scores(model)
    for row in rows[:50]:
        assert row.prediction == pytest.approx(scores[row.user, row.item], abs=1e-5)
        assert row.probability == row.prediction
        assert set(row.asDict()) == {"user", "item", "label", "prediction", "probability"}

    # check=False skips the id aggregate, not the columns or the scores
    unchecked = model.predict_user_item_pair(candidates, check=False).orderBy("user", "item").collect()
    assert [r.prediction for r in unchecked] == [r.prediction for r in rows]
    with pytest.raises(ValueError, match="Column 'item' is missing"):
        model.predict_user_item_pair(candidates.drop("item"), check=False)


def test_recommend_for_user_keeps_the_best_candidates_of_each_user(planted):
    model, candidates = planted["model"], planted["candidates"]
    top = model.recommend_for_user(candidates, max_items=3).collect()
    scores = all_pair_scores(model)
    by_user: dict[int, list[int]] = {}
    for row in top:
        by_user.setdefault(row.user, []).append(row.item)
    assert len(by_user) == USERS
    for user, cand in _candidates_by_user(candidates).items():
        expected = sorted(cand, key=lambda item: (-scores[user, item], item))[:3]
        assert sorted(by_user[user]) == sorted(expected), user
    by_item: dict[int, list[int]] = {}
    for row in model.recommend_for_item(candidates, max_users=2).collect():
        by_item.setdefault(row.item, []).append(row.user)
    expected_by_item = {item: sorted(users, key=lambda user: (-scores[user, item], user))[:2]
                        for item, users in _candidates_by_item(candidates).items()}
    assert {item: sorted(users) for item, users in by_item.items()} == \
        {item: sorted(users) for item, users in expected_by_item.items()}


def _candidates_by_user(candidates) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for row in candidates.collect():
        out.setdefault(row.user, []).append(row.item)
    return out


def _candidates_by_item(candidates) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for row in candidates.collect():
        out.setdefault(row.item, []).append(row.user)
    return out


def test_recommend_for_all_users_matches_scoring_each_pair(planted):
    model, train, spark = planted["model"], planted["train"], planted["spark"]
    users = list(range(1, 11))
    recs = model.recommend_for_all_users(4, users=users, items=list(range(1, ITEMS + 1)), exclude=train)
    assert recs.schema.simpleString() == \
        "struct<user:int,recommendations:array<struct<item:int,rating:float>>>"  # ALSModel's
    # The same pairs scored one by one through the public API.
    seen = {(r.user, r.item) for r in train.collect()}
    pairs = spark.createDataFrame([(u, i) for u in users for i in range(1, ITEMS + 1) if (u, i) not in seen],
                                  "user int, item int")
    scores = {(r.user, r.item): r.probability for r in model.predict_user_item_pair(pairs).collect()}
    got = {r.user: r.recommendations for r in recs.collect()}
    assert sorted(got) == users
    for user in users:
        allowed = [i for i in range(1, ITEMS + 1) if (user, i) not in seen]
        expected = sorted(allowed, key=lambda i: (-scores[user, i], i))[:4]
        assert [r.item for r in got[user]] == expected, user
        np.testing.assert_allclose([r.rating for r in got[user]], [scores[user, i] for i in expected], atol=1e-5)


def test_recommend_for_all_users_by_default_ranks_the_ids_training_saw(planted, tmp_path):
    import keras

    import zooapi.keras  # noqa: F401  (registers zooapi's classes)

    # The planted ids are 1-based: rows 0 of the embeddings never trained.
    model = planted["model"]
    assert (model.first_user_id, model.first_item_id) == (1, 1)
    recs = {r.user: r.recommendations for r in model.recommend_for_all_users(3).collect()}
    assert sorted(recs) == list(range(1, USERS + 1))
    scores = all_pair_scores(model)
    for user, row in recs.items():
        expected = sorted(range(1, ITEMS + 1), key=lambda i: (-scores[user, i], i))[:3]
        assert [r.item for r in row] == expected, user
    path = str(tmp_path / "ncf.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=False)
    assert (loaded.first_user_id, loaded.first_item_id) == (1, 1)


def test_first_ids_start_at_0_and_each_fit_lowers_them(spark):
    from zooapi.models import NeuralCF

    model = NeuralCF(3, 4, user_embed=2, item_embed=2, hidden_layers=(2,), mf_embed=2)
    assert sorted(r.user for r in model.recommend_for_all_users(2).collect()) == [0, 1, 2, 3]
    model.check_training_frame(spark.createDataFrame([(2, 3, 1), (3, 4, 0)], "user int, item int, label int"),
                               label_cols="label")
    assert (model.first_user_id, model.first_item_id) == (2, 3)
    model.check_training_frame(spark.createDataFrame([(3, 1, 1)], "user int, item int, label int"))
    assert (model.first_user_id, model.first_item_id) == (2, 1)
    recs = model.recommend_for_all_users(4).collect()
    assert sorted(r.user for r in recs) == [2, 3]
    assert all(sorted(x.item for x in r.recommendations) == [1, 2, 3, 4] for r in recs)
    assert model.get_config()["first_item_id"] == 1
    set_by_hand = NeuralCF(3, 4, hidden_layers=(2,), first_user_id=1, first_item_id=4)
    assert [r.item for r in set_by_hand.recommend_for_all_items(1).collect()] == [4]
    with pytest.raises(ValueError, match=r"expected None or an integer in \[0, 4\]. Received: first_item_id=5"):
        NeuralCF(3, 4, first_item_id=5)


def test_recommend_for_all_items_ranks_users_per_item(planted):
    model = planted["model"]
    recs = model.recommend_for_all_items(2, items=[1, 9], users=list(range(1, USERS + 1)))
    assert recs.schema.simpleString() == \
        "struct<item:int,recommendations:array<struct<user:int,rating:float>>>"
    scores = all_pair_scores(model)
    rows = recs.collect()
    assert sorted(row.item for row in rows) == [1, 9]
    for row in rows:
        expected = sorted(range(1, USERS + 1), key=lambda u: (-scores[u, row.item], u))[:2]
        assert [r.user for r in row.recommendations] == expected
        np.testing.assert_allclose([r.rating for r in row.recommendations], scores[expected, row.item], atol=1e-5)


def test_neural_cf_saves_and_loads_with_keras(tmp_path):
    import keras

    import zooapi.keras  # noqa: F401  (registers zooapi's classes)
    from zooapi.models import NeuralCF

    model = small_ncf(class_num=5)
    path = str(tmp_path / "ncf.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=False)
    assert isinstance(loaded, NeuralCF) and loaded.class_num == 5 and loaded.feature_cols == ["user", "item"]
    x = [np.array([[1], [50]]), np.array([[40], [0]])]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_a_rating_model_ranks_items_by_its_expected_rating(spark):
    # Classes 0-4 (ratings 1-5): the ranking score is the expected class, sum(p_i * i).
    model = small_ncf(class_num=5, seed=3)
    recs = model.recommend_for_all_users(3, users=[1, 2], items=list(range(1, 21))).collect()
    users, items = np.meshgrid([1, 2], np.arange(1, 21), indexing="ij")
    probs = model.predict([users.reshape(-1, 1), items.reshape(-1, 1)], verbose=0)
    expected = (probs * np.arange(5)).sum(axis=1).reshape(2, 20)
    assert sorted(row.user for row in recs) == [1, 2]
    for row in recs:
        best = sorted(range(20), key=lambda i: (-expected[row.user - 1, i], i))[:3]
        assert [r.item for r in row.recommendations] == [i + 1 for i in best]
        np.testing.assert_allclose([r.rating for r in row.recommendations], expected[row.user - 1, best], atol=1e-5)


# -- bad input ------------------------------------------------------------


@pytest.mark.parametrize("rows, label, message", [
    ([(1, 41, 1)], "label", "Column 'item' holds the value 41; expected values in [0, 40]"),
    ([(-1, 3, 1)], "label", "Column 'user' holds the value -1; expected values in [0, 50]"),
    ([(None, 3, 1)], "label", "Column 'user' holds 1 null value(s)"),
    ([(1, None, 1)], "label", "Column 'item' holds 1 null value(s)"),
    ([(1, 3, 2)], "label", "Column 'label' holds the value 2; expected values in [0, 1]"),
])
def test_fit_refuses_bad_ids_and_labels_before_training(spark, rows, label, message):
    df = spark.createDataFrame(rows, "user int, item int, label int")
    with pytest.raises(ValueError) as info:
        small_ncf().fit(df, label_cols=label, epochs=1)
    assert message in str(info.value)


def test_explicit_ratings_outside_the_classes_are_refused(spark):
    df = spark.createDataFrame([(1, 3, 4), (2, 3, 5)], "user int, item int, rating int")
    with pytest.raises(ValueError, match=r"Column 'rating' holds the value 5; expected values in \[0, 4\]"):
        small_ncf(class_num=5).fit(df, label_cols="rating", epochs=1)
    halves = spark.createDataFrame([(1, 3, 4.0), (2, 3, 2.5)], "user int, item int, rating double")
    with pytest.raises(ValueError, match=r"Column 'rating' holds the value 2.5; expected whole numbers in \[0, 4\]"):
        small_ncf(class_num=5).fit(halves, label_cols="rating", epochs=1)


def _no_training(*args, **kwargs):
    raise AssertionError("training started")


@pytest.mark.parametrize("estimator", ["NNEstimator", "NNClassifier"])
def test_nnframes_estimators_check_a_recommenders_ids_before_training(spark, monkeypatch, estimator):
    import zooapi.nnframes

    monkeypatch.setattr("zooapi.engine.fit", _no_training)
    df = spark.createDataFrame([(1, 3, 1), (2, 41, 0)], "u int, i int, label int")
    stage = getattr(zooapi.nnframes, estimator)(small_ncf(), loss="binary_crossentropy", featuresCol=["u", "i"],
                                                labelCol="label")
    with pytest.raises(ValueError, match=r"Column 'i' holds the value 41; expected values in \[0, 40\]"):
        stage.fit(df)


def test_nn_estimator_fits_a_recommender_that_records_its_first_ids(spark, monkeypatch):
    from zooapi.nnframes import NNEstimator

    # The fitted copy records the ids when its training frame is checked,
    # before training: a stand-in for the engine keeps the test cheap.
    monkeypatch.setattr("zooapi.engine.fit", lambda *args, **kwargs: None)
    model = small_ncf()
    df = spark.createDataFrame([(2, 3, 1), (5, 1, 0)], "u int, i int, label int")
    fitted = NNEstimator(model, loss="binary_crossentropy", featuresCol=["u", "i"], labelCol="label").fit(df)
    assert (fitted.model.first_user_id, fitted.model.first_item_id) == (2, 1)
    assert (model.first_user_id, model.first_item_id) == (None, None)  # the estimator's model is unchanged


def test_recommender_refuses_bad_arguments(spark):
    model = small_ncf()
    pairs = spark.createDataFrame([(1, 2)], "user int, item int")
    with pytest.raises(ValueError, match=r"expected a positive integer. Received: max_items=0"):
        model.recommend_for_user(pairs, max_items=0)
    with pytest.raises(ValueError, match=r"Received: num_items=-1"):
        model.recommend_for_all_users(-1)
    with pytest.raises(ValueError, match=r"Column 'item' is missing from the DataFrame .* Received columns: "
                                         r"\['user', 'movie'\]"):
        model.predict_user_item_pair(spark.createDataFrame([(1, 2)], "user int, movie int"))
    with pytest.raises(ValueError, match=r"Column 'item' holds the value 99"):
        model.recommend_for_all_users(3, items=[1, 99])
    with pytest.raises(ValueError, match=r"Column 'item' holds the value None; expected integer ids in \[0, 40\]"):
        model.recommend_for_all_users(3, items=[1, None])
    with pytest.raises(TypeError, match=r"Column 'user' must hold integer ids; received Spark type double"):
        model.recommend_for_all_users(3, users=spark.createDataFrame([(1.7,)], "user double"))
    with pytest.raises(ValueError, match=r"expected a positive integer. Received: max_users=0"):
        model.recommend_for_item(pairs, max_users=0)
    with pytest.raises(ValueError, match=r"Column 'item' holds 1 null value\(s\)"):
        model.predict_user_item_pair(spark.createDataFrame([(1, None)], "user int, item int"))
    with pytest.raises(TypeError, match=r"Column 'user' must hold integer ids; received Spark type string"):
        model.predict_user_item_pair(spark.createDataFrame([("a", 2)], "user string, item int"))
    with pytest.raises(ValueError, match=r"Received an invalid value for `hidden_layers`"):
        from zooapi.models import NeuralCF
        NeuralCF(5, 5, hidden_layers=(4, 0))


def test_embed_l2_adds_a_penalty_that_shrinks_the_embeddings_in_a_dataframe_fit(spark, tmp_path):
    import keras

    import zooapi.keras  # noqa: F401  (registers zooapi's classes)
    from zooapi.feature import add_negative_samples
    from zooapi.models import NeuralCF

    train, _, _ = planted_groups()
    fit_df = add_negative_samples(spark.createDataFrame(train, "user int, item int"), item_count=ITEMS, neg_num=2,
                                  seed=1, first_item=1).cache()
    norms = {}
    for l2 in (0.0, 0.01):
        keras.utils.set_random_seed(0)
        model = NeuralCF(USERS, ITEMS, user_embed=8, item_embed=8, hidden_layers=(16, 8), mf_embed=8, embed_l2=l2)
        # The penalty is l2 * sum(w ** 2) of each of the 4 embedding tables.
        tables = [w for w in model.weights if "embed" in w.path]
        assert len(tables) == 4 and len(model.losses) == (4 if l2 else 0)
        np.testing.assert_allclose(float(sum(model.losses)) if l2 else 0.0,
                                   l2 * sum(float(np.sum(np.square(w.numpy()))) for w in tables), rtol=1e-5)
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
        model.fit(fit_df, label_cols="label", epochs=3, batch_size=64, num_workers=1, seed=0)
        norms[l2] = sum(float(np.sum(np.square(w.numpy()))) for w in tables)
    # Unpenalised, the tables grow as they learn the groups. With the penalty,
    # every row is pulled to 0 at every step (0.02 * w, the whole table),
    # while a row's data gradient comes only from the batches that hold its
    # id: the tables must end up much smaller.
    assert norms[0.01] < 0.5 * norms[0.0], norms
    path = str(tmp_path / "ncf.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=False)
    assert loaded.get_config()["embed_l2"] == 0.01 and len(loaded.losses) == 4


def test_embed_l2_must_be_a_non_negative_number():
    from zooapi.models import NeuralCF

    with pytest.raises(ValueError, match=r"expected a number >= 0. Received: embed_l2=-0.1"):
        NeuralCF(10, 10, embed_l2=-0.1)


# -- NeuMF from pre-trained branches (He et al.'s pre-training) -----------


def _trained_branch(include_mf: bool, seed: int, **shape):
    """A one-branch NCF after two epochs on the planted data (Keras in this
    process), so that its weights are far from their initial values."""
    import keras

    from zooapi.models import NeuralCF

    train, _, _ = planted_groups()
    rng = np.random.default_rng(seed)
    users = np.array([u for u, _ in train] * 2)
    items = np.concatenate([[i for _, i in train], rng.integers(1, ITEMS + 1, len(train))])
    labels = np.concatenate([np.ones(len(train)), np.zeros(len(train))]).astype("float32")
    keras.utils.set_random_seed(seed)
    model = NeuralCF(USERS, ITEMS, include_mf=include_mf, include_mlp=not include_mf, **shape)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    model.fit([users.reshape(-1, 1), items.reshape(-1, 1)], labels, epochs=2, batch_size=64, verbose=0)
    return model


def test_from_branches_starts_from_the_alpha_weighted_logits_of_its_branches():
    import keras

    from zooapi.models import NeuralCF

    gmf = _trained_branch(True, seed=1, mf_embed=6)
    mlp = _trained_branch(False, seed=2, user_embed=5, item_embed=7, hidden_layers=(12, 4))
    assert [w.path for w in gmf.weights if "mlp" in w.path] == [] and not any("mf_" in w.path for w in mlp.weights)
    users, items = np.meshgrid(np.arange(USERS + 1), np.arange(ITEMS + 1), indexing="ij")
    x = [users.reshape(-1, 1), items.reshape(-1, 1)]

    def logits(model):
        # The score layer's input through its own kernel and bias: exact
        # where the sigmoid's output is saturated.
        score = model.get_layer("score")
        features = keras.Model(model.inputs, score.input).predict(x, batch_size=4096, verbose=0)
        kernel, bias = score.get_weights()
        return (features.astype("float64") @ kernel.astype("float64") + bias).reshape(-1)

    for alpha in (0.5, 0.2):
        neumf = NeuralCF.from_branches(gmf, mlp, alpha=alpha)
        assert (neumf.include_mf, neumf.include_mlp) == (True, True)
        assert neumf.get_config()["mf_embed"] == 6 and neumf.get_config()["hidden_layers"] == [12, 4]
        for name in ("mf_user_embed", "mf_item_embed"):
            np.testing.assert_array_equal(neumf.get_layer(name).get_weights()[0], gmf.get_layer(name).get_weights()[0])
        for name in ("mlp_user_embed", "mlp_item_embed", "mlp_dense_0", "mlp_dense_1"):
            for got, want in zip(neumf.get_layer(name).get_weights(), mlp.get_layer(name).get_weights()):
                np.testing.assert_array_equal(got, want)
        # The branches disagree (seen: 0.02-0.09 on average), so a wrong
        # weighting (0.5 for 0.2) would be off by ~0.3x that, far above atol.
        assert np.abs(logits(gmf) - logits(mlp)).mean() > 0.01
        np.testing.assert_allclose(logits(neumf), alpha * logits(gmf) + (1 - alpha) * logits(mlp), atol=1e-4)
    # It trains as any NeuralCF.
    neumf.compile(keras.optimizers.SGD(0.01), "binary_crossentropy")
    neumf.fit(x, np.zeros(len(x[0]), "float32"), epochs=1, batch_size=4096, verbose=0)


def test_from_branches_refuses_mismatched_branches():
    from zooapi.models import NeuralCF

    gmf = NeuralCF(10, 20, include_mlp=False, mf_embed=4)
    mlp = NeuralCF(10, 20, include_mf=False, user_embed=4, item_embed=4, hidden_layers=(8,))
    with pytest.raises(ValueError, match=r"Received `gmf` and `mlp` with different `item_count`, expected the same. "
                                         r"Received: gmf item_count=20, mlp item_count=30"):
        NeuralCF.from_branches(gmf, NeuralCF(10, 30, include_mf=False, hidden_layers=(8,)))
    with pytest.raises(ValueError, match=r"Received an invalid `gmf`, expected a NeuralCF with include_mf=True and "
                                         r"include_mlp=False. Received: include_mf=True, include_mlp=True"):
        NeuralCF.from_branches(NeuralCF(10, 20), mlp)
    with pytest.raises(ValueError, match=r"Received an invalid `mlp`, expected a NeuralCF with include_mf=False"):
        NeuralCF.from_branches(gmf, gmf)
    with pytest.raises(TypeError, match=r"expected a NeuralCF. Received: mlp of type str"):
        NeuralCF.from_branches(gmf, "mlp")
    with pytest.raises(ValueError, match=r"expected a number in \[0, 1\]. Received: alpha=1.5"):
        NeuralCF.from_branches(gmf, mlp, alpha=1.5)
    with pytest.raises(ValueError, match=r"Received include_mf=False and include_mlp=False, expected at least one"):
        NeuralCF(10, 20, include_mf=False, include_mlp=False)
