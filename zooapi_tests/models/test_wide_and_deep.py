"""WideAndDeep and ColumnFeatureInfo (`local[2]`)."""

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


def planted_crosses(n: int, seed: int):
    """A user's group (0-3) and an item's genre (0-3); the pair is liked
    (label 1) when they match, with 10 % of labels flipped. Neither column
    alone says anything: only their cross does."""
    rng = np.random.default_rng(seed)
    group, genre = rng.integers(0, 4, n), rng.integers(0, 4, n)
    label = (group == genre) ^ (rng.random(n) < 0.1)
    users, items = rng.integers(0, 30, n), rng.integers(0, 30, n)
    return [(int(u), int(i), int(a), int(g), float(rng.random()), int(y))
            for u, i, a, g, y in zip(users, items, group, genre, label)]


def info():
    from zooapi.models import ColumnFeatureInfo

    return ColumnFeatureInfo(wide_base_cols=["group", "genre"], wide_base_dims=[4, 4],
                             wide_cross_cols=["group_genre"], wide_cross_dims=[64],
                             indicator_cols=["group", "genre"], indicator_dims=[4, 4],
                             embed_cols=["user", "item"], embed_in_dims=[30, 30], embed_out_dims=[4, 4],
                             continuous_cols=["noise"])


def frame(spark, rows):
    from zooapi.feature import cross_hash_bucket

    df = spark.createDataFrame(rows, "user int, item int, group int, genre int, noise double, label int")
    return df.withColumn("group_genre", cross_hash_bucket(["group", "genre"], 64))


@pytest.mark.slow
def test_wide_and_deep_learns_a_planted_cross(spark):
    import keras
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    from zooapi.models import WideAndDeep

    keras.utils.set_random_seed(0)
    model = WideAndDeep(1, info(), hidden_layers=(16, 8))
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    model.fit(frame(spark, planted_crosses(2000, 0)), epochs=8, batch_size=64, num_workers=1)  # column_info.label
    scored = model.predict_user_item_pair(frame(spark, planted_crosses(500, 1)))
    auc = BinaryClassificationEvaluator(rawPredictionCol="probability", labelCol="label").evaluate(
        scored.withColumn("label", scored["label"].cast("double")))
    assert auc > 0.85  # labels flip 10 % of the time: the best AUC is about 0.9


def test_model_types_build_their_inputs_and_save():
    import keras

    import zooapi.keras  # noqa: F401
    from zooapi.models import WideAndDeep

    assert [x.name for x in WideAndDeep(2, info(), "wide").inputs] == ["wide"]
    assert [x.name for x in WideAndDeep(2, info(), "deep").inputs] == ["indicator", "embed", "continuous"]
    model = WideAndDeep(3, info(), hidden_layers=(8,))
    assert model.feature_cols == [["group", "genre", "group_genre"], ["group", "genre"], ["user", "item"], ["noise"]]
    x = [np.array([[1, 2, 60]]), np.array([[1, 2]]), np.array([[3, 29]]), np.array([[0.5]], "float32")]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        model.save(f"{folder}/wnd.keras")
        loaded = keras.models.load_model(f"{folder}/wnd.keras")  # safe mode: no Lambda layers
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert loaded.predict(x, verbose=0).shape == (1, 3)


def test_column_info_and_wide_and_deep_refuse_bad_values(spark):
    from zooapi.models import ColumnFeatureInfo, WideAndDeep

    with pytest.raises(ValueError, match=r"`embed_out_dims` needs one dimension per column of `embed_cols` \(2\)"):
        ColumnFeatureInfo(embed_cols=["user", "item"], embed_in_dims=[3, 3], embed_out_dims=[2])
    with pytest.raises(ValueError, match="Received: model_type='linear'"):
        WideAndDeep(1, info(), model_type="linear")
    with pytest.raises(ValueError, match="gives a 'wide' model no columns"):
        WideAndDeep(1, ColumnFeatureInfo(continuous_cols=["noise"]), model_type="wide")
    bad = frame(spark, [(1, 2, 3, 4, 0.5, 1)])  # genre 4 of 0..3
    with pytest.raises(ValueError, match=r"Column 'genre' holds the value 4; expected values in \[0, 3\]"):
        WideAndDeep(1, info()).fit(bad, label_cols="label")


def test_null_labels_and_ids_are_refused_by_column(spark):
    from zooapi.models import ColumnFeatureInfo, WideAndDeep

    unlabelled = frame(spark, [(1, 2, 3, 3, 0.5, None)])
    with pytest.raises(ValueError, match=r"Column 'label' holds 1 null value\(s\); expected values in \[0, 1\]"):
        WideAndDeep(1, info()).fit(unlabelled)  # the label column of `column_info`
    clicked = ColumnFeatureInfo(indicator_cols=["genre"], indicator_dims=[4], label="clicked")
    with pytest.raises(ValueError, match=r"Column 'clicked' is missing from the DataFrame"):
        WideAndDeep(1, clicked).fit(unlabelled)
    # 'user' is not a model input here, and still names the pair.
    no_user = frame(spark, [(1, 2, 3, 3, 0.5, 1), (None, 2, 3, 3, 0.5, 1)])
    with pytest.raises(ValueError, match=r"Column 'user' holds 1 null value\(s\); expected values in \[0, inf\]"):
        WideAndDeep(1, clicked).predict_user_item_pair(no_user)


def scores(model, rows) -> np.ndarray:
    """The model's probabilities for `rows` of `frame`, computed on the driver."""
    x = np.array([[r.group, r.genre, r.group_genre, r.user, r.item] for r in rows])
    return model.predict([x[:, :3], x[:, :2], x[:, 3:], np.array([[r.noise] for r in rows], "float32")],
                         verbose=0)[:, 0]


def test_recommend_for_user_and_item_keep_each_ones_best_pairs(spark):
    import keras

    from zooapi.models import WideAndDeep

    keras.utils.set_random_seed(0)
    model = WideAndDeep(1, info(), hidden_layers=(8,))  # untrained: random but fixed scores
    pairs = frame(spark, [(u, i, u % 4, i % 4, (u * 10 + i) / 40, 0) for u in range(4) for i in range(10)])
    rows = pairs.collect()
    p = scores(model, rows)
    for ranked, key, other, k in ((model.recommend_for_user(pairs, 3), "user", "item", 3),
                                  (model.recommend_for_item(pairs, max_users=2), "item", "user", 2)):
        kept = sorted((r[key], r[other], r.probability) for r in ranked.collect())
        expected = []
        for value in sorted({r[key] for r in rows}):
            mine = sorted(((-p[j], r[other]) for j, r in enumerate(rows) if r[key] == value))[:k]
            expected += sorted((value, o, -q) for q, o in mine)
        assert [(a, b) for a, b, _ in kept] == [(a, b) for a, b, _ in expected], key
        np.testing.assert_allclose([c for *_, c in kept], [c for *_, c in expected], atol=1e-5)


def side_info():
    """A user side that brings 'user' and 'group', an item side that brings only 'item'."""
    from zooapi.models import ColumnFeatureInfo

    return ColumnFeatureInfo(wide_base_cols=["group"], wide_base_dims=[4], indicator_cols=["group"],
                             indicator_dims=[4], embed_cols=["user", "item"], embed_in_dims=[30, 30],
                             embed_out_dims=[4, 4])


def test_recommend_for_all_crosses_the_candidate_frames(spark):
    import keras

    from zooapi.models import WideAndDeep

    keras.utils.set_random_seed(0)
    model = WideAndDeep(1, side_info(), hidden_layers=(8,))
    chosen = [2, 5, 11]
    users = spark.createDataFrame([(u, u % 4, "x") for u in chosen], "user int, group int, city string")
    u, i = np.meshgrid(chosen, np.arange(30), indexing="ij")
    g = (u % 4).reshape(-1, 1)
    p = model.predict([g, g, np.stack([u.ravel(), i.ravel()], 1)], verbose=0).reshape(3, 30)

    by_user = {r.user: r.recommendations for r in model.recommend_for_all_users(3, users=users).collect()}
    assert sorted(by_user) == chosen
    for row, user in enumerate(chosen):  # items=None: every item id 0..29
        best = np.argsort(-p[row], kind="stable")[:3]
        assert [r.item for r in by_user[user]] == best.tolist()
        np.testing.assert_allclose([r.rating for r in by_user[user]], p[row, best], atol=1e-5)

    by_item = {r.item: r.recommendations for r in model.recommend_for_all_items(2, items=[0, 7], users=users).collect()}
    for item in (0, 7):
        best = np.argsort(-p[:, item], kind="stable")[:2]
        assert [r.user for r in by_item[item]] == [chosen[j] for j in best]


def test_recommend_for_all_refuses_candidates_it_cannot_score(spark):
    from zooapi.models import ColumnFeatureInfo, WideAndDeep

    model = WideAndDeep(1, side_info(), hidden_layers=(8,))
    with pytest.raises(ValueError, match=r"Column 'group' is in neither `users` nor `items`: the model needs "
                                         r"columns \['group', 'user', 'item'\]"):
        model.recommend_for_all_users(3)  # every user id, but without their groups
    with pytest.raises(ValueError, match=r"`users=None` means every id of an id input, and 'user' is not"):
        WideAndDeep(1, ColumnFeatureInfo(indicator_cols=["genre"], indicator_dims=[4])).recommend_for_all_users(3)
    users = spark.createDataFrame([(1, 0), (2, 4)], "user int, group int")
    with pytest.raises(ValueError, match=r"Column 'group' holds the value 4; expected values in \[0, 3\]"):
        model.recommend_for_all_users(3, users=users)
    users = spark.createDataFrame([(1, 0), (None, 1)], "user int, group int")
    with pytest.raises(ValueError, match=r"Column 'user' holds 1 null value\(s\)"):
        model.recommend_for_all_items(3, users=users)
    items = spark.createDataFrame([(1, 0)], "item int, group int")
    with pytest.raises(ValueError, match=r"Column 'group' is in both `users` and `items`"):
        model.recommend_for_all_users(3, users=users, items=items)
