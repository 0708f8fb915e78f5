"""Recommendation data with a planted answer, and PySpark's own MovieLens sample."""

from __future__ import annotations

import contextlib
import os

import numpy as np

GROUPS, ITEMS_PER_GROUP, USERS_PER_GROUP = 5, 8, 10
USERS, ITEMS = GROUPS * USERS_PER_GROUP, GROUPS * ITEMS_PER_GROUP  # 1-based ids: 1..50, 1..40
NEGATIVES = 20


def planted_groups(seed: int = 0):
    """Implicit feedback from a rank-5 model: user u and item i are in groups
    u % 5 and (i - 1) // 8, and users interact only with their group's items
    (6 of its 8, drawn at random). Item popularity is flat, so only a model
    of the user-item structure ranks well.

    Returns:
        (train pairs, held-out pair per user, candidates): the candidates are
        each user's held-out item (label 1) and 20 items the user never saw
        (label 0), as lists of (user, item[, label]) tuples.
    """
    rng = np.random.default_rng(seed)
    train, held_out, candidates = [], [], []
    for user in range(1, USERS + 1):
        group = user % GROUPS
        own = rng.permutation(np.arange(group * ITEMS_PER_GROUP + 1, (group + 1) * ITEMS_PER_GROUP + 1))[:6]
        train += [(user, int(i)) for i in own[:5]]
        held_out.append((user, int(own[5])))
        unseen = np.setdiff1d(np.arange(1, ITEMS + 1), own)
        candidates += [(user, int(own[5]), 1)] + [(user, int(i), 0) for i in
                                                 rng.choice(unseen, NEGATIVES, replace=False)]
    return train, held_out, candidates


def movielens_sample_path() -> str:
    """PySpark's `data/mllib/als/sample_movielens_ratings.txt` (1,501 ratings,
    users 0-29, items 0-99, ratings 1-5), found through the installed package."""
    import pyspark

    return os.path.join(os.path.dirname(pyspark.__file__), "data", "mllib", "als", "sample_movielens_ratings.txt")


def movielens_sample(spark):
    """The sample as (user int, item int, rating int, timestamp long)."""
    from pyspark.sql import functions as F

    parts = F.split(F.col("value"), "::")
    return spark.read.text(movielens_sample_path()).select(
        parts[0].cast("int").alias("user"), parts[1].cast("int").alias("item"),
        parts[2].cast("int").alias("rating"), parts[3].cast("long").alias("timestamp"))


@contextlib.contextmanager
def few_shuffle_partitions(spark, n: int = 4):
    """Joins, windows and aggregations of a few hundred rows in `n` shuffle
    partitions instead of Spark's 200 (whose per-task cost dominates on a
    small, busy machine); the setting is restored afterwards."""
    key = "spark.sql.shuffle.partitions"
    old = spark.conf.get(key, None)
    spark.conf.set(key, str(n))
    try:
        yield spark
    finally:
        if old is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, old)
