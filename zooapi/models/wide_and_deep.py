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
from typing import Sequence

import keras

from zooapi.checks import check_int
from zooapi.keras.models import Model
from zooapi.models.recommender import Recommender

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
        label: the label column.

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
    (the groups that have columns). `user_col` and `item_col` name the pair
    being ranked; they need not be model inputs. Before training and
    scoring, one aggregate checks that every id column holds values in
    `[0, dim - 1]`.

    `recommend_for_all_users` / `_items` take `users` and `items` as
    DataFrames carrying their feature columns; every wide and deep column
    must come from one of the two (compute user x item crosses on the pairs
    and use `recommend_for_user` instead).

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
        info = self.column_info
        ranges: dict[str, tuple[float, float]] = {}
        for cols, dims in ((info.wide_cols, info.wide_dims), (info.indicator_cols, info.indicator_dims),
                           (info.embed_cols, info.embed_in_dims)):
            ranges.update({c: (0, d - 1) for c, d in zip(cols, dims)})
        return ranges

    def _candidates(self, values, column: str):
        if not hasattr(values, "schema"):
            raise TypeError(f"WideAndDeep ranks pairs by their features: give the {column}s as a DataFrame "
                            f"with column '{column}' and its feature columns. Received: {type(values).__name__}")
        from zooapi.models.recommender import check_columns

        check_columns(values, [column], "recommend_for_all_*")
        return values
