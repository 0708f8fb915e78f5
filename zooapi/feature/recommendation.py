"""DataFrame helpers for recommender pipelines, where Spark has no stage of its own.

Use Spark's stages for the rest: `StringIndexer` for ids, `Bucketizer` /
`QuantileDiscretizer` for ages and years, `OneHotEncoder` for a linear
baseline. Everything here is lazy DataFrame code that runs on the executors;
nothing collects rows to the driver.

- `add_negative_samples`: per user, items the user has not seen (label 0)
  beside the interactions (label 1), reproducible from a seed.
- `cross_hash_bucket`: a crossed column's bucket from `xxhash64` (Spark's own,
  seeded and identical on the driver and every worker; never Python's
  salted `hash`).
- `leave_one_out_split`, `time_ordered_split`: per-user splits.
- `add_history_sequence`: the user's previous items as an `array<int>`.

Example:
    >>> from zooapi.feature import add_negative_samples, leave_one_out_split  # doctest: +SKIP
    >>> train, test = leave_one_out_split(ratings, time_col="timestamp")  # doctest: +SKIP
    >>> train = add_negative_samples(train, item_count=1682, neg_num=4, seed=1)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from zooapi.checks import check_int

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["add_history_sequence", "add_negative_samples", "cross_hash_bucket", "leave_one_out_split",
           "time_ordered_split"]


def _require(df: "DataFrame", *columns: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"Column '{missing[0]}' is missing from the DataFrame. Received columns: {df.columns}")


def add_negative_samples(df: "DataFrame", item_count: int, neg_num: int = 1, seed: int = 42,
                         user_col: str = "user", item_col: str = "item", label_col: str = "label",
                         first_item: int = 0, neg_per_user: int | None = None) -> "DataFrame":
    """The interactions of `df` (label 1) plus `neg_num` sampled negatives
    (label 0) per interaction (or `neg_per_user` per user): items in
    `[first_item, item_count]` that the user has not seen, drawn uniformly
    without replacement per user.

    The draw for a user depends only on `seed` and the user id, so it is the
    same whatever the partitioning. A user who has seen nearly every item
    gets as many negatives as there are unseen items.

    Args:
        df: the interactions, one row per (user, item).
        item_count: the largest item id.
        neg_num: negatives per interaction (a positive integer).
        seed: the random seed.
        user_col: the user id column.
        item_col: the item id column.
        label_col: the label column to add (1 interaction, 0 negative).
        first_item: the smallest item id (0, or 1 for 1-based ids).
        neg_per_user: negatives per user instead (the NCF protocol's 99
            candidates beside each user's held-out item).

    Returns:
        `df` with `label_col` (int) added, and the negatives' rows (user,
        item, label; other columns null).

    Example:
        >>> train = add_negative_samples(ratings.select("user", "item"), item_count=1682, neg_num=4)  # doctest: +SKIP
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    _require(df, user_col, item_col)
    item_count = check_int("item_count", item_count)
    neg_num = check_int("neg_num", neg_num)
    seed = check_int("seed", seed, minimum=0)
    first_item = check_int("first_item", first_item, minimum=0)
    per_user = check_int("neg_per_user", neg_per_user, allow=(None,))
    seen = df.groupBy(user_col).agg(F.collect_set(F.col(item_col).cast("long")).alias("_seen"))
    schema = T.StructType([T.StructField(user_col, df.schema[user_col].dataType),
                           T.StructField(item_col, T.LongType())])

    def sample(batches):
        import numpy as np
        import pandas as pd

        for batch in batches:
            users, items = [], []
            for user, seen_items in zip(batch[user_col], batch["_seen"]):
                seen_set = set(int(i) for i in seen_items)
                unseen = item_count - first_item + 1 - len(seen_set & set(range(first_item, item_count + 1)))
                want = min(per_user if per_user is not None else neg_num * len(seen_set), unseen)
                rng = np.random.default_rng([seed, int(user) & 0xFFFFFFFF])
                chosen: list[int] = []
                taken = set(seen_set)
                while len(chosen) < want:
                    for item in rng.integers(first_item, item_count + 1, size=2 * (want - len(chosen)) + 8):
                        item = int(item)
                        if item not in taken:
                            taken.add(item)
                            chosen.append(item)
                            if len(chosen) == want:
                                break
                users += [user] * len(chosen)
                items += chosen
            yield pd.DataFrame({user_col: pd.Series(users, dtype=batch[user_col].dtype),
                                item_col: pd.Series(items, dtype="int64")})

    negatives = (seen.mapInPandas(sample, schema)
                 .select(user_col, F.col(item_col).cast(df.schema[item_col].dataType).alias(item_col),
                         F.lit(0).alias(label_col)))
    return df.withColumn(label_col, F.lit(1)).unionByName(negatives, allowMissingColumns=True)


def cross_hash_bucket(columns: Sequence[str], num_buckets: int) -> "Column":
    """A crossed column: the bucket in `[0, num_buckets)` of the values of
    `columns` together, `pmod(xxhash64(columns...), num_buckets)`.

    `xxhash64` is Spark's seeded hash, the same on the driver and every
    executor and across runs (Python's `hash` of a string is salted per
    process, so it is not).

    Args:
        columns: one or more column names (any types); one column hashes
            its values into buckets.
        num_buckets: the number of buckets (a positive integer).

    Returns:
        An integer Column.

    Example:
        >>> df.withColumn("age_gender", cross_hash_bucket(["age", "gender"], 100))  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    num_buckets = check_int("num_buckets", num_buckets)
    if isinstance(columns, str) or len(columns) < 1:
        raise ValueError(f"Received an invalid value for `columns`, expected a list of column names. "
                         f"Received: columns={columns!r}")
    return F.pmod(F.xxhash64(*columns), F.lit(num_buckets)).cast("int")


def leave_one_out_split(df: "DataFrame", user_col: str = "user", time_col: str | None = None,
                        item_col: str = "item", seed: int = 42) -> tuple["DataFrame", "DataFrame"]:
    """Holds out one interaction per user: the latest by `time_col` (ties:
    the higher item id), or a random one (seeded) without `time_col`.

    Users with one interaction keep it in the training part.

    Args:
        df: interactions.
        user_col: the user column.
        time_col: the time column, or None for a random held-out row.
        item_col: the item column (breaks ties in time).
        seed: seeds the random choice without `time_col`.

    Returns:
        (train, test) DataFrames; test has one row per user.

    Example:
        >>> train, test = leave_one_out_split(ratings, time_col="timestamp")  # doctest: +SKIP
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _require(df, user_col, item_col, *([time_col] if time_col else []))
    order = ([F.desc(time_col)] if time_col else [F.desc(F.rand(seed))]) + [F.desc(item_col)]
    ranked = (df.withColumn("_rank", F.row_number().over(Window.partitionBy(user_col).orderBy(*order)))
              .withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy(user_col))))
    test = ranked.where((F.col("_rank") == 1) & (F.col("_n") > 1)).drop("_rank", "_n")
    train = ranked.where((F.col("_rank") > 1) | (F.col("_n") == 1)).drop("_rank", "_n")
    return train, test


def time_ordered_split(df: "DataFrame", test_fraction: float, time_col: str, user_col: str = "user"
                       ) -> tuple["DataFrame", "DataFrame"]:
    """Per user, the latest `test_fraction` of the interactions (by
    `time_col`) go to the test part, the rest to training.

    Args:
        df: interactions.
        test_fraction: in (0, 1).
        time_col: the time column.
        user_col: the user column.

    Returns:
        (train, test) DataFrames.

    Example:
        >>> train, test = time_ordered_split(ratings, 0.2, "timestamp")  # doctest: +SKIP
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _require(df, user_col, time_col)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"Received an invalid value for `test_fraction`, expected a number in (0, 1). "
                         f"Received: test_fraction={test_fraction!r}")
    w = Window.partitionBy(user_col).orderBy(F.col(time_col))
    ranked = df.withColumn("_pos", F.row_number().over(w)).withColumn(
        "_n", F.count(F.lit(1)).over(Window.partitionBy(user_col)))
    is_test = F.col("_pos") > F.ceil(F.col("_n") * (1 - test_fraction))
    return ranked.where(~is_test).drop("_pos", "_n"), ranked.where(is_test).drop("_pos", "_n")


def add_history_sequence(df: "DataFrame", history_length: int, user_col: str = "user", item_col: str = "item",
                         time_col: str = "timestamp", output_col: str = "history", pad: int = 0,
                         min_history: int = 0) -> "DataFrame":
    """Adds each interaction's history: the user's `history_length` previous
    items in time order (oldest first), left-padded with `pad`.

    A window function over each user's rows ordered by `time_col` (ties:
    by `item_col`); runs on the executors.

    Args:
        df: interactions.
        history_length: items per history (a positive integer).
        user_col: the user column.
        item_col: the item column.
        time_col: the time column.
        output_col: the `array<int>` column to add.
        pad: the padding id (0: keep item ids 1-based when you pad).
        min_history: drop rows with fewer previous items than this.

    Returns:
        `df` with `output_col`.

    Example:
        >>> sessions = add_history_sequence(ratings, 5, time_col="timestamp")  # doctest: +SKIP
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _require(df, user_col, item_col, time_col)
    history_length = check_int("history_length", history_length)
    min_history = check_int("min_history", min_history, minimum=0)
    w = (Window.partitionBy(user_col).orderBy(F.col(time_col), F.col(item_col))
         .rowsBetween(-history_length, -1))
    previous = F.collect_list(F.col(item_col).cast("int")).over(w)
    out = df.withColumn("_prev", previous)
    if min_history:
        out = out.where(F.size("_prev") >= min_history)
    padding = F.array_repeat(F.lit(pad).cast("int"), F.lit(history_length) - F.size("_prev"))
    return out.withColumn(output_col, F.concat(padding, F.col("_prev"))).drop("_prev")
