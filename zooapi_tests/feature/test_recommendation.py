"""Recommendation helpers on DataFrames and the ranking metrics (`local[2]`)."""

from __future__ import annotations

import numpy as np
import pytest

from zooapi_tests.models.recommendation_data import few_shuffle_partitions, movielens_sample


@pytest.fixture(autouse=True)
def _few_partitions(spark):
    with few_shuffle_partitions(spark):
        yield


def test_negative_samples_are_unseen_items_and_reproducible(spark):
    from zooapi.feature import add_negative_samples

    ratings = movielens_sample(spark).select("user", "item")
    seen = {(r.user, r.item) for r in ratings.collect()}
    # Ids 0..499, of which each user has seen at most 100: room for 2 negatives a rating.
    out = add_negative_samples(ratings, item_count=499, neg_num=2, seed=7).collect()
    assert {(r.user, r.item) for r in out if r.label == 1} == seen
    negatives = [(r.user, r.item) for r in out if r.label == 0]
    assert len(negatives) == 2 * len(seen) == len(set(negatives))  # no duplicates
    assert not set(negatives) & seen  # never an item the user has seen
    assert all(0 <= item <= 499 for _, item in negatives)
    again = add_negative_samples(ratings.repartition(3), item_count=499, neg_num=2, seed=7)
    assert sorted(negatives) == sorted((r.user, r.item) for r in again.where("label = 0").collect())


def test_cross_hash_bucket_is_spark_xxhash64_on_driver_and_workers(spark):
    from pyspark.sql import functions as F

    from zooapi.feature import cross_hash_bucket

    df = spark.createDataFrame([(25, "M"), (35, "F"), (25, "M")], "age int, gender string")
    bucket = cross_hash_bucket(["age", "gender"], 1000)
    on_workers = [r.b for r in df.repartition(2).withColumn("b", bucket).orderBy("age", "gender").collect()]
    on_driver = [r.b for r in df.withColumn("b", bucket).orderBy("age", "gender").collect()]
    assert on_workers == on_driver
    assert on_workers[0] == on_workers[1] != on_workers[2]
    assert all(0 <= b < 1000 for b in on_workers)
    expected = df.select(F.pmod(F.xxhash64("age", "gender"), F.lit(1000)).alias("b")).orderBy("b").collect()
    assert sorted(on_workers) == [r.b for r in expected]
    with pytest.raises(ValueError, match="Received: num_buckets=0"):
        cross_hash_bucket(["age"], 0)


def test_leave_one_out_holds_out_each_users_latest_rating(spark):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from zooapi.feature import leave_one_out_split

    ratings = movielens_sample(spark)
    train, test = leave_one_out_split(ratings, time_col="timestamp")
    assert test.count() == 30 and test.select("user").distinct().count() == 30
    assert train.count() + test.count() == ratings.count()
    latest = ratings.withColumn("m", F.max("timestamp").over(Window.partitionBy("user")))
    assert test.join(latest.select("user", "m").distinct(), "user").where("timestamp < m").count() == 0
    _, random_test = leave_one_out_split(ratings, seed=3)
    assert random_test.count() == 30


def test_time_ordered_split_keeps_the_latest_fraction_per_user(spark):
    from zooapi.feature import time_ordered_split

    rows = [(u, i, i) for u in (1, 2) for i in range(10)]
    df = spark.createDataFrame(rows, "user int, item int, timestamp long")
    train, test = time_ordered_split(df, 0.2, "timestamp")
    assert sorted((r.user, r.item) for r in test.collect()) == [(1, 8), (1, 9), (2, 8), (2, 9)]
    assert train.count() == 16
    with pytest.raises(ValueError, match="Received: test_fraction=1.5"):
        time_ordered_split(df, 1.5, "timestamp")


def test_history_sequence_is_the_previous_items_in_time_order(spark):
    from zooapi.feature import add_history_sequence

    df = spark.createDataFrame([(1, 5, 30), (1, 7, 10), (1, 9, 20), (2, 4, 1)],
                               "user int, item int, timestamp long")
    out = {(r.user, r.item): r.history for r in add_history_sequence(df, 2).collect()}
    assert out == {(1, 7): [0, 0], (1, 9): [0, 7], (1, 5): [7, 9], (2, 4): [0, 0]}
    kept = add_history_sequence(df, 2, min_history=1, output_col="h")
    assert sorted(r.item for r in kept.collect()) == [5, 9]
    with pytest.raises(ValueError, match="Column 'timestamp' is missing"):
        add_history_sequence(df.drop("timestamp"), 2)


def test_hit_ratio_and_ndcg_agree_with_spark_ranking_evaluator(spark):
    from pyspark.ml.evaluation import RankingEvaluator
    from pyspark.sql import functions as F

    from zooapi.feature import hit_ratio_at_k, ndcg_at_k, ranking_metrics

    rng = np.random.default_rng(0)
    rows = []
    for user in range(40):  # one held-out item among 99 negatives, scores with some skill
        rows.append((user, 0, 1, float(rng.normal(1.0))))
        rows += [(user, item, 0, float(rng.normal())) for item in range(1, 100)]
    df = spark.createDataFrame(rows, "user int, item int, label int, score double")
    ours = ranking_metrics(df, 10, score_col="score")
    ranked = df.groupBy("user").agg(
        F.transform(F.sort_array(F.collect_list(F.struct(F.col("score"), F.col("item"))), asc=False),
                    lambda s: s["item"].cast("double")).alias("prediction"),
        F.array(F.max(F.when(F.col("label") == 1, F.col("item"))).cast("double")).alias("label"))
    spark_ndcg = RankingEvaluator(metricName="ndcgAtK", k=10).evaluate(ranked)
    spark_recall = RankingEvaluator(metricName="recallAtK", k=10).evaluate(ranked)
    assert 0.2 < ours["hit_ratio"] < 1.0  # neither trivial nor perfect
    assert ours["hit_ratio"] == pytest.approx(spark_recall, abs=1e-12)
    assert ours["ndcg"] == pytest.approx(spark_ndcg, abs=1e-12)
    assert hit_ratio_at_k(df, 10, score_col="score") == ours["hit_ratio"]
    assert ndcg_at_k(df, 1, score_col="score") == pytest.approx(
        hit_ratio_at_k(df, 1, score_col="score"))  # at k=1 a hit scores 1 / log2(2)
    with pytest.raises(ValueError, match="Column 'probability' is missing"):
        hit_ratio_at_k(df, 10, score_col="probability")
