"""`Model` and `Sequential`: Keras 3 models that also train, evaluate and
predict on Spark DataFrames, and know how to freeze and cut their graph.

They are Keras models in every other respect: `compile`, `summary`, `save`,
`get_weights` and `set_weights` are Keras' own, and `fit` / `evaluate` /
`predict` on NumPy arrays or a `tf.data.Dataset` call Keras' own methods
unchanged. Both classes are registered with Keras (package `zooapi`), so
`keras.models.load_model` returns them once `zooapi.keras` is imported.

Example:
    >>> from zooapi.keras import Input, Model, layers
    >>> inp = Input((64,))
    >>> model = Model(inp, layers.Dense(10, activation="softmax")(layers.Dense(32, activation="relu")(inp)))
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.fit(df, feature_cols="features", label_cols="label", epochs=5, num_workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import keras

from zooapi.keras import control as _control
from zooapi.keras import dataframe as _df
from zooapi.keras import graph as _graph
from zooapi.worker.keras_internals import functional_init_arguments, functional_model_class

_KerasFunctional = functional_model_class()

logger = logging.getLogger(__name__)

# Keras' Model class inherits its backend's trainer first; `Model.__init__`
# runs that trainer's `__init__` before the functional one (keras/src/models/model.py).
_Trainer = keras.Model.__bases__[0]


def _inject_functional(cls: type) -> type:
    """Puts our `Functional` in place of `Model` among `cls`'s ancestors, as
    Keras does with its own `Functional` for a subclass built from
    `inputs`/`outputs`, but without ever changing `Model` itself."""
    if cls is Model:
        return Functional
    if cls is object or not issubclass(cls, Model) or issubclass(cls, _KerasFunctional):
        return cls
    cls.__bases__ = tuple(_inject_functional(base) for base in cls.__bases__)
    return cls


@keras.saving.register_keras_serializable(package="zooapi")
class Model(keras.Model, _control.TrainingControlMethods):
    """A Keras model that also runs on Spark DataFrames.

    Build it as any Keras model: from `inputs` and `outputs` (functional), or
    subclass it and write `call`. With a Spark DataFrame as `x`, `fit`,
    `evaluate` and `predict` run on the cluster through `zooapi.engine`;
    with anything else they are Keras' own.

    Args:
        inputs: the input KerasTensor(s) (functional use).
        outputs: the output KerasTensor(s) (functional use).
        name: the model's name.

    Returns:
        A functional `Model` (its exact type is `zooapi.keras.models.Functional`,
        a subclass of both this class and Keras' functional model), or an
        instance of your subclass.

    Example:
        >>> inp = Input((64,))
        >>> model = Model(inp, layers.Dense(10, activation="softmax")(inp))
        >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> history = model.fit(df, feature_cols="features", label_cols="label")  # doctest: +SKIP
    """

    def __new__(cls, *args, **kwargs):
        # Mirrors keras.Model, which returns a `Functional` when called with inputs/outputs.
        if cls is Model and functional_init_arguments(args, kwargs):
            return Functional.__new__(Functional, *args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args, **kwargs):
        if functional_init_arguments(args, kwargs) and not isinstance(self, keras.Sequential):
            # keras.Model.__init__ would rewrite the bases of every class up
            # to Model, ours included, making later subclasses functional-only.
            _inject_functional(type(self))
            _Trainer.__init__(self)
            _KerasFunctional.__init__(self, *args, **kwargs)
        else:
            super().__init__(*args, **kwargs)

    # ---- DataFrames ----------------------------------------------------------------------------

    def fit(self, x=None, y=None, *args, feature_cols=None, label_cols=None, num_workers: int | None = None,
            seed: int | None = None, resume: bool = False, end_trigger=None, validation_trigger=None,
            feature_preprocessing=None, label_preprocessing=None, **kwargs):
        """Trains the model, on the cluster when `x` is a Spark DataFrame.

        Takes Keras' arguments (`batch_size` 32 by default, `epochs`,
        `verbose`, `callbacks`, `validation_data`, `validation_split`,
        `shuffle`, `initial_epoch`). With a DataFrame, `validation_data` is a
        DataFrame, `validation_split` holds out a random fraction of the
        rows, and callbacks run on the driver at each epoch end;
        `class_weight` is a dict as in Keras, `sample_weight` names a
        numeric column of per-row loss weights (neither weighs validation
        rows, as in Keras), and the `*_steps` arguments are refused.

        Args:
            x: a Spark DataFrame, or anything Keras' `fit` takes.
            y: labels, for Keras' own `fit` only.
            feature_cols: DataFrame only: the column(s) feeding the input(s):
                a name, a list of names, or one name or list per input.
            label_cols: DataFrame only: the label column(s), the same way.
            num_workers: DataFrame only: Spark barrier tasks to train on
                (default: the session's default parallelism).
            seed: DataFrame only: seeds shuffling, initialisation and
                `validation_split`.
            resume: DataFrame only: continue from the newest checkpoint
                (see `set_checkpoint`).
            end_trigger: DataFrame only: a `zooapi.optim` trigger that ends
                training early (`epochs` stays the limit).
            validation_trigger: DataFrame only: when to validate (default
                every epoch).
            feature_preprocessing: DataFrame only: applied to each decoded
                batch of features on the workers, every epoch, before the
                model sees it: a `zooapi.feature` chain (e.g. image resize,
                normalization and seeded augmentation), a Keras
                preprocessing layer, or a function of a NumPy batch.
            label_preprocessing: DataFrame only: the same for labels.

        Returns:
            A `keras.callbacks.History`.

        Example:
            >>> model.fit(train_df, feature_cols="features", label_cols="label",
            ...           batch_size=64, epochs=5, validation_data=test_df, num_workers=2)  # doctest: +SKIP
        """
        if not _df.is_spark_dataframe(x):
            _df.check_not_dataframe_only(x, feature_cols=feature_cols, label_cols=label_cols,
                                         num_workers=num_workers, seed=seed, end_trigger=end_trigger,
                                         validation_trigger=validation_trigger, resume=resume or None,
                                         feature_preprocessing=feature_preprocessing,
                                         label_preprocessing=label_preprocessing)
            if _df.is_spark_dataframe(kwargs.get("validation_data")):
                raise TypeError("`validation_data` is a Spark DataFrame but `x` is not; "
                                f"received x of type {type(x).__name__}. Pass both as DataFrames.")
            return super().fit(x, y, *args, **kwargs)
        arguments = _df.keras_arguments(keras.Model.fit, self, x, y, *args, **kwargs)
        control = {**_control.control_of(self).engine_options(), "resume": resume, "end_trigger": end_trigger,
                   "validation_trigger": validation_trigger, "feature_preprocessing": feature_preprocessing,
                   "label_preprocessing": label_preprocessing}
        return _df.fit(self, x, arguments, feature_cols, label_cols, num_workers, seed, control)

    def evaluate(self, x=None, y=None, *args, feature_cols=None, label_cols=None,
                 num_workers: int | None = None, feature_preprocessing=None, label_preprocessing=None,
                 **kwargs):
        """Computes the loss and metrics, on the cluster when `x` is a Spark DataFrame.

        On a DataFrame the result is exact over all rows (metric states are
        summed across partitions). `batch_size` is rows per forward pass;
        callbacks get `on_test_begin` and `on_test_end` only.

        Args:
            x: a Spark DataFrame, or anything Keras' `evaluate` takes.
            y: labels, for Keras' own `evaluate` only.
            feature_cols: DataFrame only: the column(s) feeding the input(s).
            label_cols: DataFrame only: the label column(s).
            num_workers: DataFrame only: partitions to evaluate in (default:
                the DataFrame's own).
            feature_preprocessing: DataFrame only: as in `fit`.
            label_preprocessing: DataFrame only: as in `fit`.

        Returns:
            As Keras: the loss, or `[loss, metric...]`, or a dict with
            `return_dict=True`.

        Example:
            >>> loss, accuracy = model.evaluate(test_df, feature_cols="features", label_cols="label")  # doctest: +SKIP
        """
        if not _df.is_spark_dataframe(x):
            _df.check_not_dataframe_only(x, feature_cols=feature_cols, label_cols=label_cols,
                                         num_workers=num_workers, feature_preprocessing=feature_preprocessing,
                                         label_preprocessing=label_preprocessing)
            return super().evaluate(x, y, *args, **kwargs)
        arguments = _df.keras_arguments(keras.Model.evaluate, self, x, y, *args, **kwargs)
        return _df.evaluate(self, x, arguments, feature_cols, label_cols, num_workers,
                            feature_preprocessing=feature_preprocessing, label_preprocessing=label_preprocessing)

    def predict(self, x, *args, feature_cols=None, prediction_col: str | Sequence[str] | None = None,
                num_workers: int | None = None, feature_preprocessing=None, **kwargs):
        """Predicts, on the cluster when `x` is a Spark DataFrame.

        On a DataFrame the result is the DataFrame with the prediction
        column(s) added (lazy: nothing runs until an action): `double` for
        one value per row, else `array<float>`; one column per output.

        Args:
            x: a Spark DataFrame (batch or streaming), or anything Keras'
                `predict` takes.
            feature_cols: DataFrame only: the column(s) feeding the input(s).
            prediction_col: DataFrame only: the new column's name
                ("prediction"), or one name per output.
            num_workers: DataFrame only: partitions to predict in (default:
                the DataFrame's own; fewer are merged without a shuffle).
            feature_preprocessing: DataFrame only: as in `fit`.

        Returns:
            A DataFrame for a DataFrame `x`, else what Keras returns.

        Example:
            >>> model.predict(df, feature_cols="features").select("label", "prediction").show()  # doctest: +SKIP
        """
        if not _df.is_spark_dataframe(x):
            _df.check_not_dataframe_only(x, feature_cols=feature_cols, prediction_col=prediction_col,
                                         num_workers=num_workers, feature_preprocessing=feature_preprocessing)
            return super().predict(x, *args, **kwargs)
        arguments = _df.keras_arguments(keras.Model.predict, self, x, *args, **kwargs)
        return _df.predict(self, x, arguments, feature_cols, prediction_col, num_workers,
                           feature_preprocessing=feature_preprocessing)

    # ---- trainable state and graph -------------------------------------------------------------

    def freeze(self, names: str | Sequence[str] | None = None) -> None:
        """Makes the named layers (every layer when None) non-trainable.

        Names reach layers inside nested models. As in Keras, call
        `compile` again after changing trainable flags of a model that was
        already trained (Keras' traced train step otherwise keeps the old
        variable list); a DataFrame `fit` always uses the current flags.

        Args:
            names: a layer name, a list of names, or None for every layer.

        Example:
            >>> model.freeze(["conv1", "conv2"])  # doctest: +SKIP
        """
        _graph.freeze(self, names)

    def unfreeze(self, names: str | Sequence[str] | None = None) -> None:
        """Makes the named layers (every layer when None) trainable again,
        and the nested models that hold them, without unfreezing their
        other layers.

        Args:
            names: a layer name, a list of names, or None for every layer.

        Example:
            >>> model.unfreeze("block_16_project")  # doctest: +SKIP
        """
        _graph.unfreeze(self, names)

    def freeze_up_to(self, names: str | Sequence[str]) -> None:
        """Freezes every layer on any path from the inputs up to and
        including the named layers; the layers after them are left as they are.

        Args:
            names: a layer name or a list of names (possibly inside nested models).

        Example:
            >>> model.freeze_up_to("conv2")  # doctest: +SKIP
        """
        _graph.freeze_up_to(self, names)

    def flattened_layers(self, include_container: bool = False) -> list:
        """All layers, nested models expanded, in topological order (input
        layers left out).

        Args:
            include_container: also list each nested model before its layers.

        Returns:
            A list of Keras layers.

        Example:
            >>> [layer.name for layer in model.flattened_layers()]  # doctest: +SKIP
        """
        return _graph.flattened_layers(self, include_container)

    def new_graph(self, outputs: str | Sequence[str], name: str | None = None) -> Model:
        """A new model from this model's inputs to the named layer(s)'
        outputs, sharing the same layer objects (and weights); this model
        keeps predicting as before.

        Args:
            outputs: a layer name, or a list of names; one name (alone or
                in a list of one) gives a single output, several names one
                output each.
            name: the new model's name.

        Returns:
            A `zooapi.keras.Model` (not compiled), itself usable as a layer.

        Example:
            >>> base = model.new_graph("flatten")  # doctest: +SKIP
            >>> head = Model(inp, layers.Dense(5, activation="softmax")(base(inp)))  # doctest: +SKIP
        """
        return _graph.new_graph(self, outputs, name)


@keras.saving.register_keras_serializable(package="zooapi")
class Functional(Model, _KerasFunctional):
    """A functional `zooapi.keras.Model`: what `Model(inputs, outputs)` returns.

    Not constructed directly; see `Model`.
    """


@keras.saving.register_keras_serializable(package="zooapi")
class Sequential(Model, keras.Sequential):
    """A Keras `Sequential` model that also runs on Spark DataFrames and has
    `Model`'s freeze / new_graph helpers.

    Args:
        layers: the layers, in order (start with `Input(shape)` to build it now).
        trainable: whether the model is trainable.
        name: the model's name.

    Example:
        >>> model = Sequential([Input((64,)), layers.Dense(32, activation="relu"),
        ...                     layers.Dense(10, activation="softmax")])
        >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> history = model.fit(df, feature_cols="features", label_cols="label")  # doctest: +SKIP
    """


def as_zooapi_model(model: Any, custom_objects: dict[str, Any] | None = None) -> Model:
    """`model` as a `zooapi.keras` model over the same layer objects (weights
    shared), keeping its compile state; zooapi models come back unchanged.

    A built subclassed Keras model with one input is wrapped: the result is
    a functional `Model` whose only layer is that model.

    Args:
        model: a Keras functional, Sequential or built subclassed model.
        custom_objects: custom losses or metrics its compile state refers to.

    Returns:
        A `zooapi.keras.Model` (a `Sequential` for a Sequential).

    Example:
        >>> model = as_zooapi_model(keras.applications.MobileNetV2(weights=None))  # doctest: +SKIP
    """
    if isinstance(model, Model):
        return model
    if isinstance(model, keras.Sequential):
        head = []
        if model.built and getattr(model, "_functional", None) is not None:
            first = model.inputs[0]
            head = [keras.Input(batch_shape=first.shape, dtype=first.dtype, name=first.name)]
        converted = Sequential(head + model.layers, trainable=model.trainable, name=model.name)
    elif isinstance(model, _KerasFunctional):
        converted = Model(inputs=model.input, outputs=model.output, name=model.name)
        if not model.trainable:
            converted.trainable = False
    else:
        converted = _wrap_subclassed(model)
    with keras.saving.custom_object_scope(custom_objects or {}):
        _copy_compile_state(model, converted)
    return converted


def _wrap_subclassed(model) -> Model:
    """A functional `Model` calling a built subclassed model once, as its
    only layer: the input shape comes from the model's build config."""
    shape = (model.get_build_config() or {}).get("input_shape") if model.built else None
    if not shape or not all(d is None or isinstance(d, int) for d in shape):
        raise TypeError(
            f"Expected a functional or Sequential Keras model, or a built subclassed model with one "
            f"input; received a {type(model).__name__} ({model.name!r}) with input shape {shape!r}. "
            "Build it first (`model.build(input_shape)`), or subclass `zooapi.keras.Model` instead.")
    inputs = keras.Input(shape=tuple(shape[1:]))  # a model built by a call records that batch size
    return Model(inputs=inputs, outputs=model(inputs), name=model.name)


def _copy_compile_state(source, target) -> None:
    """Compiles `target` as `source` was, with `source`'s own optimizer
    object (and so its state: iterations, moments)."""
    if not getattr(source, "compiled", False) or getattr(source, "optimizer", None) is None:
        return
    config = source.get_compile_config()
    if not config:
        return
    arguments = keras.saving.deserialize_keras_object(config)
    arguments["optimizer"] = source.optimizer
    target.compile(**arguments)
