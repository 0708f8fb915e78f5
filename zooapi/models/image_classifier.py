"""`ImageClassifier`: a `keras.applications` backbone (or your own Keras
model) with its preprocessing, to featurize images in a DataFrame or to
fine-tune into a Spark ML classifier (the stages it returns,
`ImageFeaturizer` and `ImageClassifierModel`, are in
`zooapi.models.image_stages`).

The Keras models built here take RGB pixels in 0-255, which is what zooapi's
feed makes of Spark's (BGR) image column, at the backbone's input size. The
backbone's own normalization is a layer of the model
(`zooapi.models.backbones`), and the stages resize images on the workers
(`zooapi.models.images.resize_images`), or decode encoded files there
(`ImageBytesToMat`), so any image column works: any size, grayscale or
color, decoded or still encoded.

Example:
    >>> from zooapi.models import ImageClassifier  # doctest: +SKIP
    >>> clf = ImageClassifier("MobileNetV2", weights="imagenet", input_shape=(160, 160, 3))  # doctest: +SKIP
    >>> clf.featurize(images).select("origin", "features").show(3)  # doctest: +SKIP
    >>> model = clf.fine_tune(train, num_classes=5, freeze_up_to="block_13_expand_relu")  # doctest: +SKIP
    >>> model.transform(test).select("prediction", "probability").show(3)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from zooapi.checks import check_fraction, check_int
from zooapi.models import backbones as B
from zooapi.models.image_stages import DEFAULT_IMAGE_BATCH, ImageClassifierModel, ImageFeaturizer
from zooapi.models.images import check_image_column, image_input
from zooapi.models.multilabel import check_label_column
from zooapi.nnframes.classifier import NNClassifier
from zooapi.sessions import default_parallelism

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["ImageClassifier"]

logger = logging.getLogger(__name__)


class ImageClassifier:
    """An image backbone with the right preprocessing, to featurize images in
    a Spark DataFrame or fine-tune a classifier on them.

    `backbone` is a `keras.applications` name (`ResNet50`, `MobileNetV2`,
    `EfficientNetB0`, `DenseNet121`, `InceptionV3`), built without its top,
    or your own Keras model. `model` is the Keras feature extractor: an
    `image` input of RGB pixels in 0-255 at `input_shape`, the backbone's
    `preprocess_input` as a layer, the backbone, and global pooling. Neither
    `featurize` nor `fine_tune` changes it: `fine_tune` trains a copy.

    Args:
        backbone: a name above (any case), or a functional or built
            Sequential `keras.Model` (its input must be (height, width, 1 or
            3 channels) RGB, or give `input_shape` when its height and width
            are open).
        weights: `"auto"` (the default): `"imagenet"` for a named backbone,
            the model's own weights for a `keras.Model`. `"imagenet"`
            (named backbones: keras.applications' ImageNet weights, read
            from `~/.keras/models/` or downloaded), None (random weights; a
            `keras.Model` keeps its own), or the path of a local weights
            file (`.weights.h5`, `.h5` as keras.applications downloads them,
            or `.keras`), loaded with `load_weights` (into a copy of a
            `keras.Model` backbone).
        input_shape: (height, width, channels); default 224x224x3 (299x299x3
            for InceptionV3) or the `keras.Model`'s input shape.
        pooling: "avg" or "max" global pooling of a feature map, or None to
            flatten it (backbones whose output is already a vector are used
            as they are).
        preprocessing: None for the backbone's own (`caffe` ResNet50, `tf`
            MobileNetV2 and InceptionV3, `torch` DenseNet121, `none`
            EfficientNetB0 and any `keras.Model`), one of those mode names,
            or a Keras layer applied to the 0-255 RGB input (e.g.
            `keras.layers.Rescaling(1 / 255)`).
        feature_layer: a layer of the backbone whose output are the
            features (MMLSpark's `layerNames`), e.g. the last hidden layer
            of a pretrained classifier; default the backbone's output.

    Attributes:
        model: the feature extractor (a functional `keras.Model`).
        backbone: the backbone inside it (cut at `feature_layer`).
        input_shape: (height, width, channels) of `model`'s input.
        preprocessing: the preprocessing mode name, or the Keras layer.
        weights: where the backbone's weights came from (None: as built).
        pooling: as given.

    Raises:
        ValueError: an unknown backbone name (the message lists the known
            ones), bad `weights`, `input_shape`, `pooling`, `preprocessing`
            or `feature_layer`.
        TypeError: `backbone` is neither a name nor a `keras.Model`.
        RuntimeError: `weights="imagenet"` and Keras could not get the file.

    Example:
        >>> clf = ImageClassifier("MobileNetV2", weights=None, input_shape=(96, 96, 3))  # doctest: +SKIP
        >>> clf.featurize(images_df).select("features").first()[0][:3]  # doctest: +SKIP
        >>> fitted = clf.fine_tune(train_df, num_classes=3, freeze_up_to=clf.backbone.name)  # doctest: +SKIP
    """

    def __init__(self, backbone: "str | Any", weights: str | None = "auto",
                 input_shape: Sequence[int] | None = None, pooling: str | None = "avg",
                 preprocessing: "str | Any | None" = None, feature_layer: str | None = None):
        import keras

        self.pooling = B.check_pooling(pooling)
        if not (preprocessing is None or preprocessing in B.PREPROCESSING_MODES
                or isinstance(preprocessing, keras.layers.Layer)):
            raise ValueError(f"Received an invalid value for `preprocessing`, expected one of "
                             f"{', '.join(B.PREPROCESSING_MODES)}, a Keras layer or None (the backbone's own). "
                             f"Received: preprocessing={preprocessing!r}")
        if feature_layer is not None and not isinstance(feature_layer, str):
            raise TypeError(f"Received an invalid value for `feature_layer`, expected a layer name. "
                            f"Received: feature_layer={feature_layer!r}")
        if isinstance(backbone, str):
            known = B.known_backbone(backbone)
            weights = B.check_weights("imagenet" if weights == "auto" else weights, custom=False)
            self.input_shape = B.check_input_shape(input_shape if input_shape is not None else
                                                   (known.size, known.size, 3))
            net = B.application(known, weights, self.input_shape, pooling=None)
            default_mode = known.preprocessing
        elif isinstance(backbone, keras.Model):
            weights = B.check_weights(None if weights == "auto" else weights, custom=True)
            net = B.own_backbone(backbone, weights)
            self.input_shape = B.own_input_shape(net, input_shape)
            default_mode = "none"
        else:
            raise TypeError(f"Received an invalid value for `backbone`, expected a name ({', '.join(B.BACKBONES)}) "
                            f"or a keras.Model. Received: backbone={backbone!r} of type {type(backbone).__name__}")
        self.backbone = net if feature_layer is None else B.cut_at(net, feature_layer)
        self.weights = weights
        self.preprocessing = default_mode if preprocessing is None else preprocessing
        self.model = self._feature_model(self.backbone)

    def _feature_model(self, net):
        import keras

        if isinstance(self.preprocessing, str):
            pre = B.preprocessing_layer(self.preprocessing, self.input_shape[2])
        else:
            pre = self.preprocessing
        inp = keras.Input(self.input_shape, name="image")
        x = pre(inp) if pre is not None else inp
        x = net(x)
        if isinstance(x, (list, tuple)):
            if len(x) != 1:
                raise ValueError(f"Backbone {net.name!r} has {len(x)} outputs; expected one (give `feature_layer` "
                                 "to pick the layer whose output are the features).")
            x = x[0]
        if len(x.shape) == 4 and self.pooling is not None:
            pool = keras.layers.GlobalAveragePooling2D if self.pooling == "avg" else keras.layers.GlobalMaxPooling2D
            x = pool(name=f"{self.pooling}_pool")(x)
        elif len(x.shape) != 2:
            x = keras.layers.Flatten(name="flatten_features")(x)
        return keras.Model(inp, x, name=f"{net.name}_features")

    # -- what it is ------------------------------------------------------

    @property
    def name(self) -> str:
        """The backbone's name: its nested model's name in `model`, the
        name `freeze_up_to` takes to freeze all of it."""
        return self.backbone.name

    @property
    def layer_names(self) -> list[str]:
        """Every layer of `model` in topological order, nested backbone
        included: the names `freeze_up_to` accepts."""
        from zooapi.keras import graph

        return [layer.name for layer in graph.flattened_layers(self.model, include_container=True)]

    @property
    def feature_dim(self) -> int:
        """The length of a feature vector."""
        return int(np.prod(self.model.outputs[0].shape[1:]))

    # -- featurize -------------------------------------------------------

    def featurizer(self, input_col: str = "image", output_col: str = "features",
                   batch_size: int = DEFAULT_IMAGE_BATCH) -> ImageFeaturizer:
        """The feature extractor as a Spark ML Transformer (for a Pipeline).

        Args:
            input_col: the image column (Spark's image schema, any size).
            output_col: the features column to add (`array<float>`).
            batch_size: images per forward pass on a worker.

        Returns:
            An `ImageFeaturizer` holding `model` (it shares its weights).

        Example:
            >>> Pipeline(stages=[clf.featurizer(), LogisticRegression()])  # doctest: +SKIP
        """
        return ImageFeaturizer(self.model, featuresCol=input_col, predictionCol=output_col,
                               batchSize=check_int("batch_size", batch_size))

    def featurize(self, df: "DataFrame", input_col: str = "image", output_col: str = "features",
                  batch_size: int = DEFAULT_IMAGE_BATCH) -> "DataFrame":
        """`df` with the backbone's pooled output for each image as an
        `array<float>` column, computed on the executors (minibatched, the
        model loaded once per Python worker). Every column is kept.

        Args:
            df: a DataFrame with an image column (batch or streaming).
            input_col: the image column: Spark's image schema (BGR as
                `NNImageReader` reads it, any size or channel count), or
                encoded image files (binary, `readImages(...,
                decode=False)`; decoded where the model runs, the fastest).
            output_col: the new column.
            batch_size: images per forward pass on a worker.

        Returns:
            A DataFrame (lazy).

        Example:
            >>> ImageClassifier("ResNet50").featurize(images, output_col="embedding")  # doctest: +SKIP
        """
        check_image_column(df, input_col, "input_col", encoded=True)
        return self.featurizer(input_col, output_col, batch_size).transform(df)

    # -- fine-tune -------------------------------------------------------

    def classifier(self, num_classes: int, multi_label: bool = False, freeze_up_to: "str | Sequence[str] | None" = None,
                   dropout: float = 0.0, seed: int | None = None):
        """A new Keras classifier: a copy of `model` (same weights) with a
        dense head, compiled with Adam. The head is softmax over
        `num_classes` with sparse categorical cross-entropy, or with
        `multi_label` one sigmoid per class with binary cross-entropy.

        Args:
            num_classes: the classes (at least 2; 1 with `multi_label`).
            multi_label: sigmoid head for multi-hot labels.
            freeze_up_to: a layer name (or list) of the backbone: it and
                every layer before it are frozen (see `layer_names`); the
                backbone's own name freezes all of it. None trains every
                layer (the built-in preprocessing layers have no trainable
                weights).
            dropout: dropout rate before the head.
            seed: seeds the head's initial weights and its dropout.

        Returns:
            A compiled `keras.Model` (`image` input, `predictions` output).

        Example:
            >>> clf.classifier(10, freeze_up_to=clf.backbone.name).summary()  # doctest: +SKIP
        """
        model = self._head_model(num_classes, multi_label, freeze_up_to, dropout, seed)
        model.compile(optimizer="adam", loss=_loss(multi_label), metrics=_metrics(multi_label, num_classes))
        return model

    def _head_model(self, num_classes: int, multi_label: bool, freeze_up_to, dropout: float, seed: int | None):
        """`classifier` before `compile`."""
        import keras

        from zooapi.keras import graph

        num_classes = check_int("num_classes", num_classes)
        if not multi_label and num_classes < 2:
            raise ValueError(f"Received num_classes={num_classes} for a single-label (softmax) classifier; "
                             "expected at least 2 (or multi_label=True for one sigmoid output).")
        dropout = check_fraction("dropout", dropout, include_one=False)
        features = keras.models.clone_model(self.model)
        features.set_weights(self.model.get_weights())
        x = features.outputs[0]
        if dropout:
            x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
        out = keras.layers.Dense(num_classes, activation="sigmoid" if multi_label else "softmax", name="predictions",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(x)
        model = keras.Model(features.inputs[0], out, name=f"{self.name}_classifier")
        if freeze_up_to is not None:
            names = [freeze_up_to] if isinstance(freeze_up_to, str) else freeze_up_to
            if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
                raise TypeError("Received an invalid value for `freeze_up_to`, expected a layer name, a list of "
                                f"layer names or None. Received: freeze_up_to={freeze_up_to!r}")
            B.check_layer_names(model, list(names), "freeze_up_to", self.name)
            graph.freeze_up_to(model, list(names))
        return model

    def fine_tune(self, df: "DataFrame", num_classes: int, label_col: str = "label", input_col: str = "image",
                  freeze_up_to: "str | Sequence[str] | None" = None, multi_label: bool = False,
                  class_names: Sequence[str] | None = None, epochs: int = 5, batch_size: int = 32,
                  num_workers: int | None = None, validation_df: "DataFrame | None" = None,
                  optimizer: Any = "adam", learning_rate: float | None = None, dropout: float = 0.0,
                  seed: int = 42, train_summary: Any = None, validation_summary: Any = None) -> ImageClassifierModel:
        """Trains `classifier(...)` on `df` with synchronous data-parallel
        training (`NNClassifier`, `num_workers` barrier tasks); `model`
        stays as it was.

        Images are resized on the workers to `input_shape` (encoded files
        in a binary column are decoded there too, every epoch); frozen
        layers keep their weights bit for bit.

        Args:
            df: the training DataFrame.
            num_classes: the classes; see `classifier`.
            label_col: a class index 0..num_classes-1 (numeric), or with
                `multi_label` a multi-hot `array<float>` or Vector of
                `num_classes` values (`multi_hot_labels` makes one from
                'A|B' strings).
            input_col: the image column.
            freeze_up_to: see `classifier`.
            multi_label: sigmoid head and binary cross-entropy.
            class_names: names of the classes, kept in the fitted model.
            epochs: passes over `df`.
            batch_size: the global batch size.
            num_workers: barrier tasks; default all of the session's.
            validation_df: evaluated every epoch (`history` gets `val_...`).
            optimizer: a Keras optimizer name or instance.
            learning_rate: default 1e-3 for a name; an instance keeps its own.
            dropout: dropout rate before the head.
            seed: seeds the head's initialisation, dropout and shuffling.
            train_summary: a `zooapi.optim.TrainSummary` recording Loss,
                LearningRate and Throughput per iteration (TensorBoard).
            validation_summary: a `zooapi.optim.ValidationSummary` recording
                each validation of `validation_df`.

        Returns:
            An `ImageClassifierModel` (its `history` is the Keras History).

        Example:
            >>> fitted = clf.fine_tune(train, 14, label_col="labels", multi_label=True,
            ...                        freeze_up_to=clf.backbone.name, epochs=3)  # doctest: +SKIP
            >>> per_class_auc(fitted.transform(test), fitted.getClassNames(), label_col="labels")  # doctest: +SKIP
        """

        frames = [df] if validation_df is None else [df, validation_df]
        kinds = [check_image_column(frame, input_col, "input_col", encoded=True) for frame in frames]
        for frame in frames:
            check_label_column(frame, label_col, multi_label)
        if len(set(kinds)) > 1:
            what = {"image": "Spark images", "binary": "encoded image files"}
            raise TypeError(f"Column '{input_col}' (`input_col`) holds {what[kinds[0]]} in `df` but "
                            f"{what[kinds[1]]} in `validation_df`; expected the same kind in both (read both with "
                            "the same `decode` setting).")
        names = [] if class_names is None else list(class_names)
        if names and (len(names) != num_classes or not all(isinstance(n, str) for n in names)
                      or len(set(names)) != len(names)):
            raise ValueError(f"Received an invalid value for `class_names`, expected {num_classes} distinct "
                             f"strings (one per class). Received: class_names={class_names!r}")
        epochs = check_int("epochs", epochs)
        batch_size = check_int("batch_size", batch_size)
        if num_workers is not None:
            num_workers = check_int("num_workers", num_workers)
        # Uncompiled: NNClassifier compiles its copy with this loss and these metrics
        # (a compiled, never trained model makes Keras warn about optimizer state).
        model = self._head_model(num_classes, multi_label, freeze_up_to, dropout, seed)
        height, width, channels = self.input_shape
        workers = num_workers or default_parallelism(df.sparkSession)
        train, _, decode = image_input(df.select(input_col, label_col), input_col, "input_col", height, width,
                                       channels)
        params: dict[str, Any] = dict(featuresCol=input_col, labelCol=label_col, batchSize=batch_size,
                                      maxEpoch=epochs, optimMethod=optimizer, numWorkers=workers, seed=seed)
        if validation_df is not None:
            params["validationDf"] = image_input(validation_df.select(input_col, label_col), input_col, "input_col",
                                                 height, width, channels)[0]
        if learning_rate is not None:
            params["learningRate"] = learning_rate
        params["validationMetrics"] = _metrics(multi_label, num_classes)
        if train_summary is not None:
            params["trainSummary"] = train_summary
        if validation_summary is not None:
            params["validationSummary"] = validation_summary
        estimator = NNClassifier(model, loss=_loss(multi_label), feature_preprocessing=decode, **params)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        logger.info("Fine-tuning %s: %d classes%s, %d trainable parameters, %d epochs", model.name, num_classes,
                    " (multi-label)" if multi_label else "", trainable, epochs)
        fitted = estimator.fit(train)
        result = ImageClassifierModel(fitted.model, featuresCol=input_col, multiLabel=bool(multi_label),
                                      classNames=names)
        result.history = fitted.history
        return result


def _loss(multi_label: bool) -> str:
    return "binary_crossentropy" if multi_label else "sparse_categorical_crossentropy"


def _metrics(multi_label: bool, num_classes: int) -> list:
    import keras

    if multi_label:
        return [keras.metrics.BinaryAccuracy(name="accuracy"),
                keras.metrics.AUC(multi_label=True, num_labels=num_classes, name="auc")]
    return ["accuracy"]
