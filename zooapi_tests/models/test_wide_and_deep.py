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
    model.fit(frame(spark, planted_crosses(2000, 0)), label_cols="label", epochs=8, batch_size=64, num_workers=1)
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
