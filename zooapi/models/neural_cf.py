"""`NeuralCF`: neural collaborative filtering (He et al., 2017), a
`zooapi.keras.Model` with the `Recommender` API.

Two branches over user and item embeddings: GMF (the element-wise product of
two embeddings, matrix factorization's score made learnable) and an MLP over
the concatenated embeddings; their outputs are concatenated into the last
layer. Either branch can be left out, and `NeuralCF.from_branches` joins a
trained GMF-only and a trained MLP-only model into one with both (He et
al.'s pre-training). One sigmoid unit (`class_num=1`) is implicit feedback
(train with binary cross-entropy on interactions and sampled negatives);
`class_num>1` is a softmax over rating classes (explicit feedback:
MovieLens' ratings 1-5 as classes 0-4).

Example:
    >>> from zooapi.models import NeuralCF
    >>> ncf = NeuralCF(user_count=10, item_count=20, hidden_layers=(8, 4), user_embed=4, item_embed=4, mf_embed=4)
    >>> ncf.compile("adam", "binary_crossentropy")
    >>> ncf.fit(train, label_cols="label", epochs=5, batch_size=256)  # doctest: +SKIP
    >>> ncf.recommend_for_all_users(10).show(3)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Sequence

import keras

from zooapi.checks import check_fraction, check_int, check_number
from zooapi.keras.models import Model
from zooapi.models.recommender import Recommender

__all__ = ["NeuralCF"]

logger = logging.getLogger(__name__)


def _check_first_id(name: str, value: int | None, count: int) -> int | None:
    value = check_int(name, value, minimum=0, allow=(None,))
    if value is not None and value > count:
        raise ValueError(f"Received an invalid value for `{name}`, expected None or an integer in [0, {count}]. "
                         f"Received: {name}={value}")
    return value


def _smallest(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def _check_layers(name: str, value: Sequence[int]) -> tuple[int, ...]:
    if isinstance(value, (int, str)) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                for v in value):
        raise ValueError(f"Received an invalid value for `{name}`, expected a sequence of positive integers. "
                         f"Received: {name}={value!r}")
    return tuple(int(v) for v in value)


@keras.saving.register_keras_serializable(package="zooapi")
class NeuralCF(Recommender, Model):
    """Neural collaborative filtering over user and item ids.

    Inputs are two integer id columns, `feature_cols=[user_col, item_col]`
    ("user", "item"). Ids may be 0-based or 1-based (Analytics Zoo's were
    1-based): the embeddings have `user_count + 1` and `item_count + 1` rows
    and any id in `[0, user_count]` / `[0, item_count]` is accepted; others
    are refused with a `ValueError` naming the column and the value. A `fit`
    on a DataFrame records the smallest ids it sees (`first_user_id`,
    `first_item_id`; saved with the model), where the default candidates of
    `recommend_for_all_users` / `_items` start: after training on 1-based
    ids, the untrained row 0 is never ranked.

    Args:
        user_count: the largest user id (a positive integer).
        item_count: the largest item id.
        class_num: 1 for implicit feedback (one sigmoid unit; compile with
            `binary_crossentropy`), or the number of rating classes
            (softmax; `sparse_categorical_crossentropy` on labels
            `0..class_num-1`).
        user_embed: the MLP branch's user embedding size.
        item_embed: the MLP branch's item embedding size.
        hidden_layers: the MLP branch's Dense (ReLU) layer sizes.
        include_mf: add the GMF branch.
        mf_embed: the GMF branch's embedding size (both sides).
        embed_l2: an L2 penalty on every embedding (Keras' `L2`:
            `embed_l2 * sum(w ** 2)` of each embedding table, added to the
            loss at each step; works in DataFrame fits too); 0 (the
            default) adds none. On MovieLens-100k with 32-wide embeddings,
            1e-5 held HR@10 near its peak over 10 epochs instead of
            falling after epoch 3, without raising the peak; smaller
            embeddings did as well (see the README's recommendation notes).
        user_col: the user id column (and the first input's name).
        item_col: the item id column (and the second input's name).
        include_mlp: add the MLP branch. `include_mlp=False` is He et al.'s
            GMF alone and `include_mf=False` their MLP alone: the two
            models to pre-train before `NeuralCF.from_branches` joins them.
        first_user_id: the smallest user id, where the default candidate
            users of `recommend_for_all_*` start. None (default): the
            smallest user id that a `fit` on a DataFrame has seen, 0 before
            any such fit; a fit that sees a smaller id lowers a set value.
        first_item_id: the same for items.

    Returns:
        An uncompiled `zooapi.keras.Model`; `fit`, `evaluate` and `predict`
        take DataFrames, and the `Recommender` methods rank pairs.

    Example:
        >>> ncf = NeuralCF(user_count=943, item_count=1682, class_num=5)
        >>> ncf.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> ncf.fit(ratings.withColumn("label", F.col("rating") - 1), label_cols="label")  # doctest: +SKIP
    """

    def __init__(self, user_count: int, item_count: int, class_num: int = 1, user_embed: int = 20,
                 item_embed: int = 20, hidden_layers: Sequence[int] = (40, 20, 10), include_mf: bool = True,
                 mf_embed: int = 20, embed_l2: float = 0.0, user_col: str = "user", item_col: str = "item",
                 include_mlp: bool = True, first_user_id: int | None = None, first_item_id: int | None = None,
                 **kwargs):
        self._config = {"user_count": user_count, "item_count": item_count, "class_num": class_num,
                        "user_embed": user_embed, "item_embed": item_embed, "hidden_layers": list(hidden_layers),
                        "include_mf": include_mf, "mf_embed": mf_embed, "embed_l2": embed_l2, "user_col": user_col,
                        "item_col": item_col, "include_mlp": include_mlp}
        self.user_count = check_int("user_count", user_count)
        self.item_count = check_int("item_count", item_count)
        self.class_num = check_int("class_num", class_num)
        self.first_user_id = _check_first_id("first_user_id", first_user_id, self.user_count)
        self.first_item_id = _check_first_id("first_item_id", first_item_id, self.item_count)
        for name, value in (("user_embed", user_embed), ("item_embed", item_embed), ("mf_embed", mf_embed)):
            check_int(name, value)
        hidden = _check_layers("hidden_layers", hidden_layers)
        if not (include_mf or include_mlp):
            raise ValueError("Received include_mf=False and include_mlp=False, expected at least one branch "
                             "(GMF, MLP or both).")
        self.include_mf, self.include_mlp = bool(include_mf), bool(include_mlp)
        l2 = check_number("embed_l2", embed_l2, positive=False)
        regularizer = keras.regularizers.L2(l2) if l2 else None
        if not (isinstance(user_col, str) and isinstance(item_col, str) and user_col != item_col):
            raise ValueError(f"Received invalid `user_col`/`item_col`, expected two different column names. "
                             f"Received: user_col={user_col!r}, item_col={item_col!r}")
        self.user_col, self.item_col = user_col, item_col
        self.feature_cols = [user_col, item_col]
        L = keras.layers
        user = keras.Input((1,), dtype="int32", name=user_col)
        item = keras.Input((1,), dtype="int32", name=item_col)

        def embedded(ids, rows, size, name):
            return L.Flatten(name=f"{name}_flat")(L.Embedding(rows, size, embeddings_regularizer=regularizer,
                                                              name=name)(ids))

        # The MLP's layers are made first, as before the GMF-only option, so a
        # seed gives the same initial weights as it did.
        branches = []
        if include_mlp:
            x = L.Concatenate(name="mlp_concat")([embedded(user, self.user_count + 1, user_embed, "mlp_user_embed"),
                                                  embedded(item, self.item_count + 1, item_embed, "mlp_item_embed")])
            for i, units in enumerate(hidden):
                x = L.Dense(units, activation="relu", name=f"mlp_dense_{i}")(x)
            branches.append(x)
        if include_mf:
            branches.insert(0, L.Multiply(name="mf_product")([
                embedded(user, self.user_count + 1, mf_embed, "mf_user_embed"),
                embedded(item, self.item_count + 1, mf_embed, "mf_item_embed")]))
        x = branches[0] if len(branches) == 1 else L.Concatenate(name="ncf_concat")(branches)
        if self.class_num == 1:
            out = L.Dense(1, activation="sigmoid", name="score")(x)
        else:
            out = L.Dense(self.class_num, activation="softmax", name="rating_class")(x)
        kwargs.setdefault("name", "neural_cf")
        super().__init__([user, item], out, **kwargs)

    @classmethod
    def from_branches(cls, gmf: "NeuralCF", mlp: "NeuralCF", alpha: float = 0.5, embed_l2: float = 0.0,
                      name: str | None = None) -> "NeuralCF":
        """NeuMF from a trained GMF-only and a trained MLP-only `NeuralCF`, as
        He et al.'s pre-training (2017, section 3.4.1).

        The new model has both branches. Its embeddings and hidden layers are
        copies of the branches' own, and its output layer concatenates
        theirs, weighted: kernel `[alpha * w_gmf; (1 - alpha) * w_mlp]`, bias
        `alpha * b_gmf + (1 - alpha) * b_mlp`. Before any further training
        its pre-activation output (the logit) is therefore exactly
        `alpha * logit_gmf + (1 - alpha) * logit_mlp`. Fine-tune it as a
        whole afterwards with a fresh optimizer at a small learning rate
        (the branches' optimizer state is not carried over): He et al. use
        plain SGD; on MovieLens-100k SGD at 1e-3 left the joined model where
        it was and Adam at 1e-4 improved it a little (README).

        Args:
            gmf: a `NeuralCF` with `include_mf=True, include_mlp=False`.
            mlp: a `NeuralCF` with `include_mf=False` (and the MLP branch).
            alpha: the GMF branch's share of the output layer, in [0, 1].
            embed_l2: the new model's `embed_l2`.
            name: the new model's name (default "neural_cf").

        Returns:
            An uncompiled `NeuralCF` with both branches, `gmf`'s `mf_embed`,
            `mlp`'s `user_embed`, `item_embed` and `hidden_layers`, and the
            smaller of the two branches' `first_user_id` / `first_item_id`.

        Raises:
            TypeError: `gmf` or `mlp` is not a `NeuralCF`.
            ValueError: a model has the wrong branches, the two differ in
                `user_count`, `item_count`, `class_num` or their id columns,
                or `alpha` is outside [0, 1].

        Example:
            >>> gmf = NeuralCF(943, 1682, include_mlp=False, mf_embed=16)
            >>> mlp = NeuralCF(943, 1682, include_mf=False, user_embed=16, item_embed=16, hidden_layers=(32, 16, 8))
            >>> # ... compile and fit each (Adam), then:
            >>> neumf = NeuralCF.from_branches(gmf, mlp, alpha=0.5)
            >>> neumf.compile(keras.optimizers.Adam(1e-4), "binary_crossentropy")
        """
        import numpy as np

        for arg, model, branches in (("gmf", gmf, (True, False)), ("mlp", mlp, (False, True))):
            if not isinstance(model, NeuralCF):
                raise TypeError(f"Received an invalid value for `{arg}`, expected a NeuralCF. "
                                f"Received: {arg} of type {type(model).__name__}")
            if (model.include_mf, model.include_mlp) != branches:
                raise ValueError(f"Received an invalid `{arg}`, expected a NeuralCF with include_mf={branches[0]} "
                                 f"and include_mlp={branches[1]}. Received: include_mf={model.include_mf}, "
                                 f"include_mlp={model.include_mlp}")
        for key in ("user_count", "item_count", "class_num", "user_col", "item_col"):
            if gmf._config[key] != mlp._config[key]:
                raise ValueError(f"Received `gmf` and `mlp` with different `{key}`, expected the same. "
                                 f"Received: gmf {key}={gmf._config[key]!r}, mlp {key}={mlp._config[key]!r}")
        alpha = check_fraction("alpha", alpha)
        config = mlp._config
        model = cls(config["user_count"], config["item_count"], class_num=config["class_num"],
                    user_embed=config["user_embed"], item_embed=config["item_embed"],
                    hidden_layers=config["hidden_layers"], include_mf=True, mf_embed=gmf._config["mf_embed"],
                    embed_l2=embed_l2, user_col=config["user_col"], item_col=config["item_col"],
                    first_user_id=_smallest(gmf.first_user_id, mlp.first_user_id),
                    first_item_id=_smallest(gmf.first_item_id, mlp.first_item_id),
                    **({"name": name} if name else {}))
        output = "score" if model.class_num == 1 else "rating_class"
        for layer in model.layers:
            if layer.weights and layer.name != output:
                source = gmf if layer.name.startswith("mf_") else mlp
                layer.set_weights(source.get_layer(layer.name).get_weights())
        (gmf_kernel, gmf_bias), (mlp_kernel, mlp_bias) = (m.get_layer(output).get_weights() for m in (gmf, mlp))
        model.get_layer(output).set_weights([np.concatenate([alpha * gmf_kernel, (1 - alpha) * mlp_kernel]),
                                             alpha * gmf_bias + (1 - alpha) * mlp_bias])
        return model

    def get_config(self) -> dict:
        """The constructor's arguments (for `save` / `load_model`), with the
        first ids that `fit` recorded."""
        return {"name": self.name, **self._config, "first_user_id": self.first_user_id,
                "first_item_id": self.first_item_id}
