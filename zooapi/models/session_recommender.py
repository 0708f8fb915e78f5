"""`SessionRecommender`: the next item of a session, from a GRU over the
session's items and, optionally, an MLP over the user's longer history
(Analytics Zoo's session recommender; Hidasi et al., 2016 for the GRU).

Item ids are 1-based and 0 pads: a session column is an `array<int>` of
length `session_length` (left-padded with 0, as
`zooapi.feature.add_history_sequence` makes it), the label the next item's
id in `[1, item_count]`. The output is a softmax over `item_count + 1` ids
(id 0 never wins once trained: it is never a label).

Example:
    >>> from zooapi.models import SessionRecommender
    >>> model = SessionRecommender(item_count=100, item_embed=16, session_length=5, rnn_hidden_layers=(32,))
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    >>> model.fit(sessions, label_cols="item", epochs=5)  # doctest: +SKIP
    >>> model.recommend_for_session(sessions, max_items=3).select("session", "recommendations").show()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

import keras

from zooapi.checks import check_int
from zooapi.keras.models import Model
from zooapi.models.recommender import check_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["SessionRecommender"]

logger = logging.getLogger(__name__)

_SCORES = "_zooapi_session_scores"


def _pairs_unsupported(name: str):
    """A `Recommender` method that a session model does not have: it raises."""

    def method(self, *args, **kwargs):
        raise TypeError(f"SessionRecommender has no `{name}`: it ranks the next item of a session, not (user, "
                        f"item) pairs. Call `recommend_for_session(df, max_items)` on a DataFrame with the "
                        f"{self.feature_cols} column(s).")

    method.__name__ = method.__qualname__ = name
    method.__doc__ = "Not supported (no user-item pairs): raises a `TypeError` naming `recommend_for_session`."
    return method


@keras.saving.register_keras_serializable(package="zooapi")
class SessionRecommender(Model):
    """Next-item recommendation from a session (and the user's history).

    Its ranking method is `recommend_for_session`. The `Recommender`
    methods of the pair models (`predict_user_item_pair`,
    `recommend_for_user` / `_item`, `recommend_for_all_users` / `_items`)
    score (user, item) pairs, which a session model does not: as in
    Analytics Zoo, they exist here only to raise a `TypeError` that points
    at `recommend_for_session`.

    Args:
        item_count: the largest item id (ids are `1..item_count`; 0 pads).
        item_embed: the item embedding size.
        rnn_hidden_layers: the GRU layers' sizes over the session.
        session_length: items per session (the `array<int>`'s length).
        include_history: add the history branch (an MLP over the mean of
            the history's item embeddings), summed into the output logits.
        mlp_hidden_layers: the history branch's Dense (ReLU) sizes.
        history_length: items per history (`include_history` only).
        session_col: the session column (and input name).
        history_col: the history column (and input name).

    Returns:
        An uncompiled `zooapi.keras.Model`; compile it with
        `sparse_categorical_crossentropy` and train on the next item's id.

    Example:
        >>> SessionRecommender(50, 8, session_length=4, include_history=True, history_length=6).feature_cols
        ['session', 'history']
    """

    def __init__(self, item_count: int, item_embed: int, rnn_hidden_layers: Sequence[int] = (40, 20),
                 session_length: int = 0, include_history: bool = False,
                 mlp_hidden_layers: Sequence[int] = (40, 20), history_length: int = 0,
                 session_col: str = "session", history_col: str = "history", **kwargs):
        from zooapi.models.neural_cf import _check_layers

        self._config = {"item_count": item_count, "item_embed": item_embed,
                        "rnn_hidden_layers": list(rnn_hidden_layers), "session_length": session_length,
                        "include_history": include_history, "mlp_hidden_layers": list(mlp_hidden_layers),
                        "history_length": history_length, "session_col": session_col, "history_col": history_col}
        self.item_count = check_int("item_count", item_count)
        check_int("item_embed", item_embed)
        self.session_length = check_int("session_length", session_length)
        rnn = _check_layers("rnn_hidden_layers", rnn_hidden_layers)
        self.include_history = bool(include_history)
        self.session_col, self.history_col = session_col, history_col
        L = keras.layers
        session = keras.Input((self.session_length,), dtype="int32", name=session_col)
        x = L.Embedding(self.item_count + 1, item_embed, mask_zero=True, name="session_embed")(session)
        for i, units in enumerate(rnn):
            x = L.GRU(units, return_sequences=i < len(rnn) - 1, name=f"session_gru_{i}")(x)
        logits = L.Dense(self.item_count + 1, name="session_logits")(x)
        inputs, self.feature_cols = [session], [session_col]
        if self.include_history:
            self.history_length = check_int("history_length", history_length)
            mlp = _check_layers("mlp_hidden_layers", mlp_hidden_layers)
            history = keras.Input((self.history_length,), dtype="int32", name=history_col)
            h = L.Embedding(self.item_count + 1, item_embed, mask_zero=True, name="history_embed")(history)
            h = L.GlobalAveragePooling1D(name="history_mean")(h)
            for i, units in enumerate(mlp):
                h = L.Dense(units, activation="relu", name=f"history_dense_{i}")(h)
            logits = L.Add(name="logits")([logits, L.Dense(self.item_count + 1, name="history_logits")(h)])
            inputs.append(history)
            self.feature_cols.append(history_col)
        out = L.Activation("softmax", name="next_item")(logits)
        kwargs.setdefault("name", "session_recommender")
        super().__init__(inputs, out, **kwargs)

    def get_config(self) -> dict:
        """The constructor's arguments (for `save` / `load_model`)."""
        return {"name": self.name, **self._config}

    def _check(self, df: "DataFrame", label_col: str | None = None) -> None:
        """One aggregate: sequences (no null arrays, no null ids) of the
        right length with ids in `[0, item_count]`, labels in
        `[1, item_count]`."""
        from pyspark.sql import functions as F

        check_columns(df, self.feature_cols + ([label_col] if label_col else []))
        lengths = {self.session_col: self.session_length}
        if self.include_history:
            lengths[self.history_col] = self.history_length
        aggs = []
        for c in lengths:
            # min, max and size skip (or return) nulls, so nulls are counted apart.
            aggs += [F.count(F.when(F.col(c).isNull(), 1)).alias(f"null_{c}"),
                     F.count(F.when(F.exists(c, lambda v: v.isNull()), 1)).alias(f"holes_{c}"),
                     F.min(F.array_min(c)).alias(f"lo_{c}"), F.max(F.array_max(c)).alias(f"hi_{c}"),
                     F.min(F.size(c)).alias(f"short_{c}"), F.max(F.size(c)).alias(f"long_{c}")]
        if label_col:
            aggs += [F.min(label_col).alias("lo_label"), F.max(label_col).alias("hi_label"),
                     F.count(F.when(F.col(label_col).isNull(), 1)).alias("null_label")]
        row = df.agg(*aggs).first()
        for c, length in lengths.items():
            if row[f"null_{c}"]:
                raise ValueError(f"Column '{c}' holds {row[f'null_{c}']} null value(s); expected arrays of "
                                 f"{length} item ids (pad with 0 on the left).")
            if row[f"holes_{c}"]:
                raise ValueError(f"Column '{c}' holds {row[f'holes_{c}']} array(s) with null elements; expected "
                                 f"item ids in [0, {self.item_count}] (0 pads).")
            for v in (row[f"short_{c}"], row[f"long_{c}"]):
                if v is not None and v != length:
                    raise ValueError(f"Column '{c}' holds an array of length {v}; expected length {length} "
                                     f"(pad with 0 on the left).")
            for v in (row[f"lo_{c}"], row[f"hi_{c}"]):
                if v is not None and not 0 <= v <= self.item_count:
                    raise ValueError(f"Column '{c}' holds the item id {v}; expected ids in [0, {self.item_count}] "
                                     f"(0 pads).")
        if label_col:
            if row["null_label"]:
                raise ValueError(f"Column '{label_col}' holds {row['null_label']} null value(s); expected item "
                                 f"ids in [1, {self.item_count}].")
            for v in (row["lo_label"], row["hi_label"]):
                if v is not None and not 1 <= v <= self.item_count:
                    raise ValueError(f"Column '{label_col}' holds the value {v}; expected item ids in "
                                     f"[1, {self.item_count}].")

    def fit(self, x=None, y=None, *args, feature_cols=None, label_cols=None, **kwargs):
        """Keras' `fit`; on a DataFrame, `feature_cols` defaults to the
        session (and history) column, and one aggregate checks the
        sequences and labels before training starts.

        Args:
            x: a Spark DataFrame, or what Keras' `fit` takes.
            y: Keras only.
            feature_cols: default the model's `feature_cols`.
            label_cols: the next item's id column.
            **kwargs: as `zooapi.keras.Model.fit`.

        Returns:
            Keras' `History`.

        Example:
            >>> model.fit(sessions, label_cols="item", epochs=5, batch_size=128)  # doctest: +SKIP
        """
        from zooapi.keras import dataframe as _df

        if _df.is_spark_dataframe(x):
            self._check(x, label_cols if isinstance(label_cols, str) else None)
            return super().fit(x, *args, feature_cols=feature_cols or self.feature_cols, label_cols=label_cols,
                               **kwargs)
        return super().fit(x, y, *args, **kwargs)

    def recommend_for_session(self, df: "DataFrame", max_items: int) -> "DataFrame":
        """The `max_items` likeliest next items of each session.

        Args:
            df: a DataFrame with the session (and history) column.
            max_items: items per session (a positive integer).

        Returns:
            `df` plus `recommendations: array<struct<item int, probability
            float>>`, likeliest first (never the padding id 0); computed on
            the executors.

        Example:
            >>> model.recommend_for_session(sessions, 5).select("recommendations").first()  # doctest: +SKIP
        """
        from pyspark.sql import functions as F

        check_int("max_items", max_items)
        self._check(df)
        scores = self.predict(df, feature_cols=self.feature_cols, prediction_col=_SCORES)
        ranked = F.sort_array(F.filter(F.transform(_SCORES, lambda p, i: F.struct(p.alias("p"), i.alias("i"))),
                                       lambda s: s["i"] > 0), asc=False)
        best = F.transform(F.slice(ranked, 1, max_items),
                           lambda s: F.struct(s["i"].cast("int").alias("item"), s["p"].alias("probability")))
        return scores.withColumn("recommendations", best).drop(_SCORES)

    predict_user_item_pair = _pairs_unsupported("predict_user_item_pair")
    recommend_for_user = _pairs_unsupported("recommend_for_user")
    recommend_for_item = _pairs_unsupported("recommend_for_item")
    recommend_for_all_users = _pairs_unsupported("recommend_for_all_users")
    recommend_for_all_items = _pairs_unsupported("recommend_for_all_items")
