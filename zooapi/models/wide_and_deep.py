"""`WideAndDeep` (Cheng et al., 2016) and its `ColumnFeatureInfo`: a linear
model over one-hot base and crossed columns beside an MLP over indicator,
embedded and continuous columns, summed before the output activation.

Each column group is one model input fed by a list of DataFrame columns:
`wide` (base and cross column ids, int), `indicator` (ids, int), `embed`
(ids, int) and `continuous` (floats). The wide part is a sum of per-column
`Embedding`s of width `class_num` (a linear layer over the one-hot columns,
without building them); indicator columns are one-hot through
`CategoryEncoding`; no sparse tensors. Crossed columns are hash buckets
(`zooapi.feature.cross_hash_bucket`) computed on the DataFrame beforehand.

Example:
    >>> from zooapi.models import ColumnFeatureInfo, WideAndDeep
    >>> info = ColumnFeatureInfo(wide_base_cols=["gender"], wide_base_dims=[2], embed_cols=["user", "item"],
    ...                          embed_in_dims=[944, 1683], embed_out_dims=[16, 16], continuous_cols=["age"])
    >>> wnd = WideAndDeep(class_num=2, column_info=info)
    >>> [x.name for x in wnd.inputs]
    ['wide', 'embed', 'continuous']
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING, Sequence

import keras

from zooapi.checks import check_int
from zooapi.keras.models import Model
from zooapi.models.recommender import Recommender, check_columns, check_ids

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["ColumnFeatureInfo", "ColumnEncoding", "WideAndDeep"]

logger = logging.getLogger(__name__)

MODEL_TYPES = ("wide_n_deep", "wide", "deep")


@dataclasses.dataclass(frozen=True)
class ColumnFeatureInfo:
    """The columns of a `WideAndDeep` model, by group, with their sizes.

    Ids in a column of dimension d are in `[0, d - 1]`.

    Args:
        wide_base_cols: categorical id columns of the wide (linear) part.
        wide_base_dims: their dimensions.
        wide_cross_cols: crossed columns (hash buckets) of the wide part.
        wide_cross_dims: their bucket counts.
        indicator_cols: categorical columns one-hot into the deep part.
        indicator_dims: their dimensions.
        embed_cols: categorical columns embedded into the deep part.
        embed_in_dims: their dimensions (embedding rows).
        embed_out_dims: their embedding sizes.
        continuous_cols: numeric columns fed to the deep part as they are.
        label: the label column (`WideAndDeep.fit`'s default `label_cols`).

    Example:
        >>> ColumnFeatureInfo(indicator_cols=["gender"], indicator_dims=[2]).indicator_dims
        (2,)
    """

    wide_base_cols: Sequence[str] = ()
    wide_base_dims: Sequence[int] = ()
    wide_cross_cols: Sequence[str] = ()
    wide_cross_dims: Sequence[int] = ()
    indicator_cols: Sequence[str] = ()
    indicator_dims: Sequence[int] = ()
    embed_cols: Sequence[str] = ()
    embed_in_dims: Sequence[int] = ()
    embed_out_dims: Sequence[int] = ()
    continuous_cols: Sequence[str] = ()
    label: str = "label"

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "label":
                continue
            if isinstance(value, str):
                raise TypeError(f"Received an invalid value for `{field.name}`, expected a list. "
                                f"Received: {field.name}={value!r}")
            object.__setattr__(self, field.name, tuple(value))
        for cols, dims_names in (("wide_base_cols", ["wide_base_dims"]), ("wide_cross_cols", ["wide_cross_dims"]),
                                 ("indicator_cols", ["indicator_dims"]),
                                 ("embed_cols", ["embed_in_dims", "embed_out_dims"])):
            for dims_name in dims_names:
                dims = getattr(self, dims_name)
                if len(dims) != len(getattr(self, cols)):
                    raise ValueError(f"`{dims_name}` needs one dimension per column of `{cols}` "
                                     f"({len(getattr(self, cols))}). Received: {dims_name}={list(dims)}")
                for d in dims:
                    check_int(dims_name, d)

    @property
    def wide_cols(self) -> tuple[str, ...]:
        return self.wide_base_cols + self.wide_cross_cols

    @property
    def wide_dims(self) -> tuple[int, ...]:
        return self.wide_base_dims + self.wide_cross_dims

    def to_dict(self) -> dict:
        """The fields as plain lists (for a model's config)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


@keras.saving.register_keras_serializable(package="zooapi")
class ColumnEncoding(keras.layers.Layer):
    """Encodes an `(n, k)` group of integer id columns, column by column:
    `mode="embed"` concatenates `Embedding(dims[j], out_dims[j])` of each
    column, `mode="sum"` sums them (the wide part's linear terms),
    `mode="one_hot"` concatenates `CategoryEncoding(dims[j])` one-hots.

    Args:
        dims: each column's number of ids.
        out_dims: each column's output size (`embed`, `sum`).
        mode: "embed", "sum" or "one_hot".
        **kwargs: Keras layer arguments.

    Example:
        >>> ColumnEncoding([3, 4], mode="one_hot")(keras.ops.convert_to_tensor([[2, 0]])).shape
        TensorShape([1, 7])
    """

    def __init__(self, dims: Sequence[int], out_dims: Sequence[int] | None = None, mode: str = "embed", **kwargs):
        super().__init__(**kwargs)
        self.dims, self.mode = [int(d) for d in dims], mode
        self.out_dims = None if out_dims is None else [int(d) for d in out_dims]
        if mode == "one_hot":
            self.encoders = [keras.layers.CategoryEncoding(d, output_mode="one_hot") for d in self.dims]
        else:
            self.encoders = [keras.layers.Embedding(d, o, name=f"{self.name}_{j}")
                             for j, (d, o) in enumerate(zip(self.dims, self.out_dims))]

    def build(self, input_shape):
        for encoder in self.encoders:
            encoder.build((input_shape[0],) if self.mode != "one_hot" else (input_shape[0], 1))
        self.built = True

    def call(self, inputs):
        ops = keras.ops
        columns = [inputs[:, j] for j in range(len(self.dims))]
        if self.mode == "one_hot":
            return ops.concatenate([enc(ops.expand_dims(c, -1)) for enc, c in zip(self.encoders, columns)], axis=-1)
        parts = [enc(c) for enc, c in zip(self.encoders, columns)]
        return ops.sum(ops.stack(parts, axis=0), axis=0) if self.mode == "sum" else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        width = sum(self.dims) if self.mode == "one_hot" else (
            self.out_dims[0] if self.mode == "sum" else sum(self.out_dims))
        return (input_shape[0], width)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims, "out_dims": self.out_dims, "mode": self.mode}


@keras.saving.register_keras_serializable(package="zooapi")
class WideAndDeep(Recommender, Model):
    """Wide & Deep learning for recommendation, with the `Recommender` API.

    `feature_cols` (the default of `fit`) lists one column group per input:
    wide (`wide_base_cols + wide_cross_cols`), indicator, embed, continuous
    (the groups that have columns). `fit` on a DataFrame trains on
    `column_info.label` unless `label_cols` says otherwise. `user_col` and
    `item_col` name the pair being ranked; they need not be model inputs.
    Before training and scoring, one aggregate checks that every id column
    holds values in `[0, dim - 1]` and the user and item columns
    non-negative ids, none of them null.

    `recommend_for_all_users` / `_items` cross `users` with `items`, so each
    feature column must come from one of the two: pass a DataFrame with the
    id column and the features of its side (one row per id). A list of ids,
    or None for every id in `[0, dim - 1]` of an id input, works for a side
    whose only model input is its id column. Columns of user x item crosses
    exist only on pairs: rank pairs with `recommend_for_user` instead.

    Args:
        class_num: 1 (one sigmoid unit, `binary_crossentropy`) or the number
            of classes (softmax; `sparse_categorical_crossentropy`).
        column_info: a `ColumnFeatureInfo`.
        model_type: "wide_n_deep", "wide" or "deep".
        hidden_layers: the deep part's Dense (ReLU) sizes.
        user_col: the user id column of the ranked pairs.
        item_col: the item id column.

    Returns:
        An uncompiled `zooapi.keras.Model`.

    Example:
        >>> info = ColumnFeatureInfo(indicator_cols=["genre"], indicator_dims=[19], continuous_cols=["age"])
        >>> WideAndDeep(1, info, model_type="deep").feature_cols
        [['genre'], ['age']]
    """

    def __init__(self, class_num: int, column_info: ColumnFeatureInfo | dict, model_type: str = "wide_n_deep",
                 hidden_layers: Sequence[int] = (40, 20, 10), user_col: str = "user", item_col: str = "item",
                 **kwargs):
        from zooapi.models.neural_cf import _check_layers

        info = column_info if isinstance(column_info, ColumnFeatureInfo) else ColumnFeatureInfo(**column_info)
        if model_type not in MODEL_TYPES:
            raise ValueError(f"Received an invalid value for `model_type`, expected one of {MODEL_TYPES}. "
                             f"Received: model_type={model_type!r}")
        self._config = {"class_num": class_num, "column_info": info.to_dict(), "model_type": model_type,
                        "hidden_layers": list(hidden_layers), "user_col": user_col, "item_col": item_col}
        self.class_num = check_int("class_num", class_num)
        hidden = _check_layers("hidden_layers", hidden_layers)
        self.column_info, self.model_type = info, model_type
        self.user_col, self.item_col = user_col, item_col
        wide = model_type != "deep" and info.wide_cols
        deep = model_type != "wide" and (info.indicator_cols or info.embed_cols or info.continuous_cols)
        if not (wide or deep):
            raise ValueError(f"`column_info` gives a {model_type!r} model no columns: give wide columns "
                             f"for 'wide', indicator, embed or continuous columns for 'deep'.")
        L, units = keras.layers, self.class_num
        inputs, cols, logits = [], [], []
        if wide:
            x = keras.Input((len(info.wide_cols),), dtype="int32", name="wide")
            inputs.append(x)
            cols.append(list(info.wide_cols))
            logits.append(ColumnEncoding(info.wide_dims, [units] * len(info.wide_dims), "sum", name="wide_linear")(x))
        if deep:
            parts = []
            for name, group, encode in (
                    ("indicator", info.indicator_cols,
                     lambda x: ColumnEncoding(info.indicator_dims, mode="one_hot", name="indicator_one_hot")(x)),
                    ("embed", info.embed_cols,
                     lambda x: ColumnEncoding(info.embed_in_dims, info.embed_out_dims, "embed", name="embeddings")(x)),
                    ("continuous", info.continuous_cols, lambda x: x)):
                if group:
                    x = keras.Input((len(group),), dtype="float32" if name == "continuous" else "int32", name=name)
                    inputs.append(x)
                    cols.append(list(group))
                    parts.append(encode(x))
            h = parts[0] if len(parts) == 1 else L.Concatenate(name="deep_concat")(parts)
            for i, size in enumerate(hidden):
                h = L.Dense(size, activation="relu", name=f"deep_dense_{i}")(h)
            logits.append(L.Dense(units, name="deep_logits")(h))
        z = logits[0] if len(logits) == 1 else L.Add(name="wide_deep_sum")(logits)
        out = L.Activation("sigmoid" if units == 1 else "softmax", name="output")(z)
        self.feature_cols = cols
        kwargs.setdefault("name", "wide_and_deep")
        super().__init__(inputs, out, **kwargs)

    def get_config(self) -> dict:
        """The constructor's arguments (for `save` / `load_model`)."""
        return {"name": self.name, **self._config}

    def _id_ranges(self) -> dict[str, tuple[float, float]]:
        """The model's id input columns with their inclusive ranges."""
        info = self.column_info
        ranges: dict[str, tuple[float, float]] = {}
        for cols, dims in ((info.wide_cols, info.wide_dims), (info.indicator_cols, info.indicator_dims),
                           (info.embed_cols, info.embed_in_dims)):
            ranges.update({c: (0, d - 1) for c, d in zip(cols, dims)})
        return ranges

    def _ranges(self, columns: Sequence[str]) -> dict[str, tuple[float, float]]:
        """The id inputs among `columns`, and the user and item columns
        there that are not id inputs: non-negative ids, no nulls."""
        ranges = self._id_ranges()
        pair = {c: (0, math.inf) for c in (self.user_col, self.item_col) if c in columns and c not in ranges}
        return {**pair, **{c: r for c, r in ranges.items() if c in columns}}

    def fit(self, x=None, y=None, *args, label_cols=None, **kwargs):
        """`Recommender.fit`; on a DataFrame, `label_cols` defaults to
        `column_info.label`.

        Args:
            x: a Spark DataFrame, or what Keras' `fit` takes.
            y: Keras only.
            label_cols: the label column (DataFrame); default
                `column_info.label`.
            **kwargs: as `Recommender.fit`.

        Returns:
            Keras' `History`.

        Example:
            >>> wnd.fit(train, epochs=5, batch_size=256)  # doctest: +SKIP
        """
        from zooapi.keras import dataframe as _df

        if label_cols is None and _df.is_spark_dataframe(x):
            label_cols = self.column_info.label
        return super().fit(x, y, *args, label_cols=label_cols, **kwargs)

    def _candidates(self, values, column: str) -> "DataFrame":
        """The users (items) to cross: a DataFrame as it is, or a list of
        ids / None (every id of an id input) as one id column."""
        from zooapi.models.recommender import _as_id_frame

        argument = "users" if column == self.user_col else "items"
        if hasattr(values, "schema"):
            check_columns(values, [column], f"`{argument}`")
            return values
        ranges = self._id_ranges()
        if values is None and column not in ranges:
            raise ValueError(f"`{argument}=None` means every id of an id input, and '{column}' is not a wide, "
                             f"indicator or embed column of this model: pass `{argument}` as a DataFrame with "
                             f"column '{column}' and its feature columns.")
        count = int(ranges[column][1]) if column in ranges else 0  # only None reads it
        return _as_id_frame(values, column, count, first=0)

    def _recommend_for_all(self, key: str, other: str, k: int, name: str, keys, others, exclude) -> "DataFrame":
        """Each side's candidates reduced to the feature columns it brings,
        which together must be all of them, checked; then
        `Recommender._recommend_for_all`."""
        check_int(name, k)
        needed = self._feature_columns()
        frames = {}
        for column, values in ((key, keys), (other, others)):
            frame = self._candidates(values, column)
            frames[column] = frame.select(*dict.fromkeys([column] + [c for c in needed if c in frame.columns]))
        key_df, other_df = frames[key], frames[other]
        named = {self.user_col: "users", self.item_col: "items"}
        received = f"Received: {named[key]} columns {key_df.columns}, {named[other]} columns {other_df.columns}"
        both = [c for c in key_df.columns if c in other_df.columns]
        if both:
            raise ValueError(f"Column '{both[0]}' is in both `users` and `items`; each feature column must come "
                             f"from one side. {received}")
        missing = [c for c in needed if c not in key_df.columns and c not in other_df.columns]
        if missing:
            raise ValueError(f"Column '{missing[0]}' is in neither `users` nor `items`: the model needs columns "
                             f"{needed} from the two together. Pass each side as a DataFrame with its id column "
                             f"and its feature columns; for user x item crosses, score pairs with "
                             f"`recommend_for_user`. {received}")
        for column, frame in frames.items():
            check_ids(frame, self._ranges(frame.columns), integral=[column])
        return super()._recommend_for_all(key, other, k, name, key_df.distinct(), other_df.distinct(), exclude)
