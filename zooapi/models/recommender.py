"""`Recommender`: the ranking API that every recommendation model shares.

A recommender scores (user, item) pairs. `predict_user_item_pair` adds
`prediction` and `probability` to the pairs of a DataFrame;
`recommend_for_user` / `recommend_for_item` keep the top-k pairs of each
user (item) with a window function; `recommend_for_all_users` /
`recommend_for_all_items` score the user x item cross product on the
workers and return Spark ALS's shape, `(user, recommendations:
array<struct<item, rating>>)`, so code written for
`ALSModel.recommendForAllUsers` works unchanged. By default they cross
the ids from the smallest one `fit` has seen (`first_user_id` /
`first_item_id`) to `user_count` / `item_count`, so a model trained on
1-based ids never ranks the untrained id 0 (ALS ranks only the ids it was
trained on; an id inside the range that no training row held is still
ranked here: pass `users` / `items` to leave such ids out).

The score that ranks pairs is `rating`: the positive class's probability
for one sigmoid unit (implicit feedback), the expected class index
`sum_k k * p_k` for a softmax over rating classes (explicit feedback).

Scaling of `recommend_for_all_users`: the cross product is never built on
the driver. The (small) users list is spread over the session's default
parallelism and joined with the broadcast items, so every partition holds
all pairs of its users and scores them in batches on its worker; each
partition keeps only its top-k rows per user while it scores (memory:
one Arrow batch plus k rows per user of the partition), and only those
U x k rows are shuffled to the final per-user merge. Work grows as
U x I model evaluations spread over the executors; the shuffle and the
output as U x k.

Example:
    >>> from zooapi.models import NeuralCF  # doctest: +SKIP
    >>> ncf = NeuralCF(user_count=943, item_count=1682)  # doctest: +SKIP
    >>> ncf.recommend_for_all_users(10).show(3)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import numbers
from typing import TYPE_CHECKING, Any, Sequence

from zooapi.checks import check_int
from zooapi.sessions import default_parallelism

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["Recommender", "check_columns", "check_ids"]

logger = logging.getLogger(__name__)

_SCORES = "_zooapi_scores"
_INTEGER_TYPES = ("ByteType", "ShortType", "IntegerType", "LongType")


def check_columns(df: "DataFrame", columns: Sequence[str], what: str = "the model") -> None:
    """A `ValueError` naming the first of `columns` that `df` lacks, and the
    columns it has."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"Column '{missing[0]}' is missing from the DataFrame ({what} needs columns "
                         f"{list(columns)}). Received columns: {df.columns}")


def check_ids(df: "DataFrame", ranges: dict[str, tuple[float, float]], integral: Sequence[str] = (),
              whole: Sequence[str] = ()) -> dict[str, tuple[Any, Any]]:
    """One aggregate over `df`: a `ValueError` naming the column and the value
    when a column of `ranges` holds a null or a value outside its inclusive
    `[low, high]`, or when a column of `whole` (a subset of `ranges`, of any
    numeric type) holds a value that is not a whole number (a class index of
    2.5); a `TypeError` when a column of `integral` is not an integer column.

    Returns:
        The `(min, max)` of each column of `ranges` (`(None, None)` when `df`
        is empty).
    """
    from pyspark.sql import functions as F

    check_columns(df, list(ranges))
    types = {f.name: type(f.dataType).__name__ for f in df.schema.fields}
    for name in integral:
        if types[name] not in _INTEGER_TYPES:
            raise TypeError(f"Column '{name}' must hold integer ids; received Spark type "
                            f"{df.schema[name].dataType.simpleString()}.")
    fractional = [name for name in whole if types[name] not in _INTEGER_TYPES]
    aggregates = []
    for name in ranges:
        aggregates += [F.min(name).alias(f"min_{name}"), F.max(name).alias(f"max_{name}"),
                       F.count(F.when(F.col(name).isNull(), 1)).alias(f"nulls_{name}")]
    for name in fractional:
        column = F.col(name)
        aggregates.append(F.min(F.when(column % 1 != 0, column)).alias(f"fraction_{name}"))
    row = df.agg(*aggregates).first()
    for name, (low, high) in ranges.items():
        if row[f"nulls_{name}"]:
            raise ValueError(f"Column '{name}' holds {row[f'nulls_{name}']} null value(s); expected values "
                             f"in [{low:g}, {high:g}].")
        for value in (row[f"min_{name}"], row[f"max_{name}"]):
            if value is not None and not low <= value <= high:
                raise ValueError(f"Column '{name}' holds the value {value!r}; expected values in "
                                 f"[{low:g}, {high:g}].")
        if name in fractional and row[f"fraction_{name}"] is not None:
            raise ValueError(f"Column '{name}' holds the value {row[f'fraction_{name}']!r}; expected whole "
                             f"numbers in [{low:g}, {high:g}].")
    return {name: (row[f"min_{name}"], row[f"max_{name}"]) for name in ranges}


def _positive(name: str, value: Any) -> int:
    return check_int(name, value, minimum=1)


def _id_value(column: str, value: Any, count: int) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"Column '{column}' holds the value {value!r}; expected integer ids in [0, {count}].")


def _as_id_frame(values: "DataFrame | Sequence[int] | None", column: str, count: int, first: int) -> "DataFrame":
    """The candidate ids to cross: one `int` column without duplicates.
    `values` is a DataFrame with `column` or a list of ids, refused unless
    they are integer ids in `[0, count]` (a `TypeError` for a non-integer
    column, as `predict_user_item_pair`); None is every id in `[first, count]`."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    if values is None:
        return SparkSession.active().range(first, count + 1).select(F.col("id").cast("int").alias(column))
    if hasattr(values, "schema"):
        check_columns(values, [column], "recommend_for_all_*")
        frame = values.select(column)
        check_ids(frame, {column: (0, count)}, integral=[column])
        return frame.select(F.col(column).cast("int").alias(column)).distinct()
    ids = dict.fromkeys(_id_value(column, v, count) for v in values)
    frame = SparkSession.active().createDataFrame([(v,) for v in ids], f"{column} long")
    check_ids(frame, {column: (0, count)})
    return frame.select(F.col(column).cast("int").alias(column))


class Recommender:
    """The ranking API of the recommendation models (a mixin of
    `zooapi.keras.Model`).

    A subclass sets `user_col`, `item_col`, `user_count`, `item_count`,
    `class_num` and `feature_cols` (the columns that feed its inputs, in
    input order). Ids are in `[0, user_count]` / `[0, item_count]`, so both
    0-based and 1-based ids work.

    `first_user_id` / `first_item_id` are where the default candidates of
    `recommend_for_all_users` / `_items` start: the smallest id that a
    `fit` on a DataFrame has seen (every fit may lower it), or 0 before any
    such fit. So a model trained on 1-based ids (MovieLens) never ranks the
    untrained id 0 by default.
    """

    user_col: str = "user"
    item_col: str = "item"
    first_user_id: int | None = None
    first_item_id: int | None = None

    # -- checks -----------------------------------------------------------

    def _id_ranges(self) -> dict[str, tuple[float, float]]:
        """The integer columns to check before scoring, with their inclusive ranges."""
        return {self.user_col: (0, self.user_count), self.item_col: (0, self.item_count)}

    def _ranges(self, columns: Sequence[str]) -> dict[str, tuple[float, float]]:
        """The id columns to check in a DataFrame of `columns`, with their
        inclusive ranges (a model whose user and item need not be inputs
        checks only those it finds)."""
        return self._id_ranges()

    def _feature_columns(self) -> list[str]:
        """The model's input columns, flat, in input order, each once (a
        column may feed two inputs)."""
        return list(dict.fromkeys(c for group in self.feature_cols
                                  for c in ([group] if isinstance(group, str) else group)))

    def _required_columns(self) -> list[str]:
        """The columns a DataFrame of pairs must have: the user and item
        columns and the model's inputs."""
        return list(dict.fromkeys([self.user_col, self.item_col] + self._feature_columns()))

    def _check(self, df: "DataFrame") -> None:
        """Columns present (the user and item columns too), and one aggregate
        over the id columns' ranges."""
        check_columns(df, self._required_columns())
        ids = [c for c in (self.user_col, self.item_col) if c in df.columns]
        check_ids(df, self._ranges(df.columns), integral=ids)

    def _bound_columns(self, feature_cols) -> dict[str, str] | None:
        """Each of the model's own feature columns -> the column of
        `feature_cols` in its place (the engine binds column groups to the
        inputs in order); None when the two are not shaped alike."""
        def groups(cols):
            return [[g] if isinstance(g, str) else list(g) for g in ([cols] if isinstance(cols, str) else cols)]

        own, given = groups(self.feature_cols), groups(feature_cols)
        if [len(g) for g in own] != [len(g) for g in given]:
            return None
        return {a: b for own_group, given_group in zip(own, given) for a, b in zip(own_group, given_group)}

    def check_training_frame(self, df: "DataFrame", feature_cols=None, label_cols=None) -> None:
        """Checks a training DataFrame with one aggregate before training
        starts, and records its smallest ids.

        Refuses null or out-of-range ids and, for a label column, values
        outside `[0, 1]` (`class_num=1`) or other than the class indices
        `0..class_num-1`. Then lowers `first_user_id` / `first_item_id` to
        the smallest ids of `df` (sets them where they are None). `fit` on
        a DataFrame calls it, and so does `zooapi.nnframes.NNEstimator`
        before it trains a model that has this method.

        Args:
            df: the training DataFrame.
            feature_cols: the columns feeding the model's inputs, in input
                order (default the model's `feature_cols`); the ids are
                checked in the columns in the user's and the item's places.
                A spec shaped otherwise is left to the engine to refuse.
            label_cols: the label column; None or a list is not checked.

        Raises:
            ValueError: a column is missing, or holds a null or a bad value
                (the message names the column and the value).
            TypeError: an id column is not an integer column.

        Example:
            >>> ncf.check_training_frame(train, label_cols="label")  # doctest: +SKIP
            >>> ncf.first_user_id, ncf.first_item_id  # doctest: +SKIP
            (1, 1)
        """
        bound = self._bound_columns(self.feature_cols if feature_cols is None else feature_cols)
        if bound is None:
            return
        check_columns(df, list(dict.fromkeys(bound.values())))
        own = {given: mine for mine, given in bound.items()}
        ranges = {bound.get(c, c): r for c, r in self._ranges([own.get(c, c) for c in df.columns]).items()}
        whole = []
        if isinstance(label_cols, str):
            ranges[label_cols] = (0, 1) if self.class_num == 1 else (0, self.class_num - 1)
            whole = [label_cols] if self.class_num > 1 else []
        ids = [bound.get(c, c) for c in (self.user_col, self.item_col)]
        seen = check_ids(df, ranges, integral=[c for c in ids if c in df.columns], whole=whole)
        for attr, column in (("first_user_id", ids[0]), ("first_item_id", ids[1])):
            smallest, current = seen.get(column, (None,))[0], getattr(self, attr)
            if smallest is not None:
                setattr(self, attr, int(smallest) if current is None else min(current, int(smallest)))

    def fit(self, x=None, y=None, *args, feature_cols=None, label_cols=None, **kwargs):
        """Keras' `fit`; on a DataFrame, `feature_cols` defaults to the
        model's `feature_cols`, and `check_training_frame` checks the id and
        label columns with one aggregate before training starts (ids in
        range, no nulls; labels in `[0, 1]` for `class_num=1`, whole class
        indices `0..class_num-1` else) and records the smallest ids.

        Args:
            x: a Spark DataFrame, or what Keras' `fit` takes.
            y: Keras only.
            feature_cols: default the model's `feature_cols`.
            label_cols: the label column (DataFrame).
            **kwargs: as `zooapi.keras.Model.fit`.

        Returns:
            Keras' `History`.

        Example:
            >>> ncf.fit(train, label_cols="label", epochs=5, batch_size=256)  # doctest: +SKIP
        """
        from zooapi.keras import dataframe as _df

        if _df.is_spark_dataframe(x):
            feature_cols = self.feature_cols if feature_cols is None else feature_cols
            self.check_training_frame(x, feature_cols, label_cols)
            return super().fit(x, *args, feature_cols=feature_cols, label_cols=label_cols, **kwargs)
        return super().fit(x, y, *args, **kwargs)

    # -- scoring ----------------------------------------------------------

    def _scored(self, df: "DataFrame", batch_size: int | None = None) -> "DataFrame":
        """`df` plus `prediction`, `probability` and `rating` (the ranking score)."""
        from pyspark.sql import functions as F

        options = {} if batch_size is None else {"batch_size": batch_size}
        scored = self.predict(df, feature_cols=self.feature_cols, prediction_col=_SCORES, **options)
        s = F.col(_SCORES)
        if self.class_num == 1:
            scored = scored.withColumns({"prediction": s, "probability": s, "rating": s.cast("float")})
        else:
            best = F.array_max(s)
            expected = F.aggregate(F.transform(s, lambda p, i: p * i), F.lit(0.0),  # p * i is a double
                                   lambda acc, v: acc + v)
            scored = scored.withColumns({"prediction": (F.array_position(s, best) - 1).cast("double"),
                                         "probability": best.cast("double"), "rating": expected.cast("float")})
        return scored.drop(_SCORES)

    def predict_user_item_pair(self, df: "DataFrame", check: bool = True) -> "DataFrame":
        """Scores the pairs of `df`.

        Args:
            df: a DataFrame with the model's `feature_cols`.
            check: run one aggregate first that refuses null or
                out-of-range ids with a `ValueError` naming the column and
                value (False skips that Spark job).

        Returns:
            `df`'s columns plus `prediction` (the score for `class_num=1`,
            else the class index, 0-based) and `probability` (the score,
            or the predicted class's probability), both `double` (lazy).

        Example:
            >>> ncf.predict_user_item_pair(pairs).show(3)  # doctest: +SKIP
        """
        if check:
            self._check(df)
        else:
            check_columns(df, self._required_columns())
        return self._scored(df).drop("rating")

    def _top_k(self, df: "DataFrame", key: str, other: str, k: int, name: str) -> "DataFrame":
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        _positive(name, k)
        self._check(df)
        window = Window.partitionBy(key).orderBy(F.desc("rating"), F.asc(other))
        return (self._scored(df).withColumn("_rank", F.row_number().over(window))
                .where(F.col("_rank") <= k).drop("_rank", "rating"))

    def recommend_for_user(self, df: "DataFrame", max_items: int) -> "DataFrame":
        """The `max_items` best candidate pairs of each user in `df`.

        Args:
            df: candidate pairs with the model's `feature_cols`.
            max_items: pairs to keep per user (a positive integer).

        Returns:
            `df`'s columns plus `prediction` and `probability` (as in
            `predict_user_item_pair`), the best pairs of each user (ties:
            the lower item id first).

        Example:
            >>> ncf.recommend_for_user(candidates, max_items=10).show()  # doctest: +SKIP
        """
        return self._top_k(df, self.user_col, self.item_col, max_items, "max_items")

    def recommend_for_item(self, df: "DataFrame", max_users: int) -> "DataFrame":
        """The `max_users` best candidate pairs of each item in `df`.

        Args:
            df: candidate pairs with the model's `feature_cols`.
            max_users: pairs to keep per item (a positive integer).

        Returns:
            As `recommend_for_user`, ranked per item.

        Example:
            >>> ncf.recommend_for_item(candidates, max_users=10).show()  # doctest: +SKIP
        """
        return self._top_k(df, self.item_col, self.user_col, max_users, "max_users")

    # -- the cross product ------------------------------------------------

    def _candidates(self, values: "DataFrame | Sequence[int] | None", column: str) -> "DataFrame":
        """The users (items) to cross: one id column, checked. A subclass
        whose inputs are more than the two ids overrides this."""
        if column == self.user_col:
            return _as_id_frame(values, column, self.user_count, self.first_user_id or 0)
        return _as_id_frame(values, column, self.item_count, self.first_item_id or 0)

    def _recommend_for_all(self, key: str, other: str, k: int, name: str, keys, others,
                           exclude) -> "DataFrame":
        from pyspark.sql import functions as F

        _positive(name, k)
        key_df, other_df = self._candidates(keys, key), self._candidates(others, other)
        # Spread the keys over the cluster and broadcast the others: each
        # partition then holds every pair of its keys.
        pairs = key_df.repartition(default_parallelism(key_df.sparkSession)).crossJoin(F.broadcast(other_df))
        if exclude is not None:
            check_columns(exclude, [self.user_col, self.item_col], "`exclude`")
            pairs = pairs.join(exclude.select(self.user_col, self.item_col), [self.user_col, self.item_col],
                               "left_anti")
        scored = self._scored(pairs).select(key, other, "rating")
        partial = scored.mapInPandas(_partial_top_k(key, other, k), scored.schema)
        best = F.slice(F.sort_array(F.collect_list(F.struct(F.col("rating"), (-F.col(other)).alias("neg"))),
                                    asc=False), 1, k)
        return (partial.groupBy(key).agg(best.alias("recommendations"))
                .select(F.col(key).cast("int").alias(key),
                        F.transform("recommendations", lambda r: F.struct(
                            (-r["neg"]).cast("int").alias(other), r["rating"].alias("rating")))
                        .alias("recommendations")))

    def recommend_for_all_users(self, num_items: int, users: "DataFrame | Sequence[int] | None" = None,
                                items: "DataFrame | Sequence[int] | None" = None,
                                exclude: "DataFrame | None" = None) -> "DataFrame":
        """The `num_items` best items of every user, in Spark ALS's shape.

        Scores the users x items cross product in batches on the workers and
        keeps each user's top `num_items` (see the module's note on scaling).

        Args:
            num_items: items per user (a positive integer).
            users: a DataFrame with the user column (an integer column), or
                a list of ids; default every id in `[first_user_id,
                user_count]` (`first_user_id`: the smallest user id `fit`
                has seen, 0 before any fit).
            items: the candidate items, likewise; default every id in
                `[first_item_id, item_count]`.
            exclude: a DataFrame of (user, item) pairs not to recommend
                (what each user already has); broadcast by Spark when small.

        Returns:
            A DataFrame `(user int, recommendations array<struct<item int,
            rating float>>)`, best first (ties: the lower item id first),
            as `ALSModel.recommendForAllUsers`.

        Example:
            >>> ncf.recommend_for_all_users(10, exclude=train.select("user", "item")).show(3)  # doctest: +SKIP
        """
        return self._recommend_for_all(self.user_col, self.item_col, num_items, "num_items", users, items,
                                       exclude)

    def recommend_for_all_items(self, num_users: int, items: "DataFrame | Sequence[int] | None" = None,
                                users: "DataFrame | Sequence[int] | None" = None,
                                exclude: "DataFrame | None" = None) -> "DataFrame":
        """The `num_users` best users of every item, in Spark ALS's shape
        (`ALSModel.recommendForAllItems`).

        Args:
            num_users: users per item (a positive integer).
            items: a DataFrame with the item column (an integer column), or
                a list of ids; default every id in `[first_item_id,
                item_count]` (the smallest item id `fit` has seen, 0 before
                any fit).
            users: the candidate users, likewise; default every id in
                `[first_user_id, user_count]`.
            exclude: (user, item) pairs not to recommend.

        Returns:
            A DataFrame `(item int, recommendations array<struct<user int,
            rating float>>)`, best first.

        Example:
            >>> ncf.recommend_for_all_items(5, items=[1, 2, 3]).show()  # doctest: +SKIP
        """
        return self._recommend_for_all(self.item_col, self.user_col, num_users, "num_users", items, users,
                                       exclude)


def _partial_top_k(key: str, other: str, k: int):
    """A `mapInPandas` function that keeps, over a partition's batches, the k
    best rows of each key it has seen (memory: one batch plus k rows a key)."""

    def top_k(batches):
        import pandas as pd

        kept = None
        for batch in batches:
            both = batch if kept is None else pd.concat([kept, batch], ignore_index=True)
            kept = (both.sort_values([key, "rating", other], ascending=[True, False, True], kind="stable")
                    .groupby(key, sort=False).head(k))
        if kept is not None:
            yield kept

    return top_k
