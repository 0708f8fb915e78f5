"""ImageClassifier on `local[2]`: backbones and their preprocessing, weights,
featurize on images of any size and channel count, multi-label fine-tuning
with per-class AUC, the label helpers, persistence and every public error."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from pyspark.sql import functions as F

from zooapi.models import (ImageClassifier, ImageClassifierModel, ImageFeaturizer, distinct_labels,
                           multi_hot_labels, per_class_auc, resize_images)
from zooapi.models.backbones import BACKBONES, preprocessing_layer
from zooapi.models.images import conform_pixels
from zooapi.nnframes import NNImageReader
from zooapi_tests.models.conftest import SIZE, colored

APPLICATION_MODULES = {"ResNet50": "resnet50", "MobileNetV2": "mobilenet_v2", "EfficientNetB0": "efficientnet",
                       "DenseNet121": "densenet", "InceptionV3": "inception_v3"}


def small_cnn(seed: int = 0, channels: int = 3, size: int = SIZE) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((size, size, channels)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv2"),
    ], name="small_cnn")


# -- backbones, preprocessing, weights (no Spark) ---------------------------------------------------

def test_each_backbone_gets_its_applications_preprocess_input_as_a_layer():
    x = np.random.default_rng(0).uniform(0, 255, (4, 6, 5, 3)).astype("float32")
    assert set(BACKBONES) == set(APPLICATION_MODULES)
    assert {name: b.size for name, b in BACKBONES.items()} == {
        "ResNet50": 224, "MobileNetV2": 224, "EfficientNetB0": 224, "DenseNet121": 224, "InceptionV3": 299}
    for name, module in APPLICATION_MODULES.items():
        expected = getattr(keras.applications, module).preprocess_input(x.copy())
        layer = preprocessing_layer(BACKBONES[name].preprocessing)
        got = x if layer is None else np.asarray(layer(x))
        # float32 round-off of x / 255 / std (torch) or x / 127.5 (tf); caffe is exact.
        np.testing.assert_allclose(got, expected, atol=2e-6, err_msg=name)


@pytest.mark.slow
def test_resnet50_feature_model_equals_keras_applications_on_preprocessed_rgb():
    clf = ImageClassifier("ResNet50", weights=None, input_shape=(32, 32, 3))
    assert [layer.name for layer in clf.model.layers[1:]] == ["caffe_preprocessing", "resnet50", "avg_pool"]
    assert clf.feature_dim == 2048 and clf.layer_names[:3] == ["caffe_preprocessing", "resnet50", "conv1_pad"]
    reference = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    reference.set_weights(clf.backbone.get_weights())
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    expected = reference.predict(keras.applications.resnet50.preprocess_input(x.copy()), verbose=0)
    np.testing.assert_allclose(clf.model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)
    assert not clf.model.get_layer("caffe_preprocessing").trainable


def test_feature_models_with_each_preprocessing_load_in_keras_safe_mode(tmp_path):
    x = np.random.default_rng(2).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    for mode in ("caffe", "tf", "torch", "none"):
        clf = ImageClassifier(small_cnn(), preprocessing=mode)
        clf.model.save(tmp_path / f"{mode}.keras")
        loaded = keras.models.load_model(tmp_path / f"{mode}.keras", safe_mode=True)
        assert type(loaded) is keras.Model or isinstance(loaded, keras.Model)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), clf.model.predict(x, verbose=0), atol=1e-6)


def test_local_weights_files_load_and_missing_imagenet_weights_are_explained(tmp_path, monkeypatch):
    first = ImageClassifier("MobileNetV2", weights=None, input_shape=(96, 96, 3))
    path = tmp_path / "mobilenet_v2.weights.h5"
    first.backbone.save_weights(path)
    again = ImageClassifier("mobilenetv2", weights=str(path), input_shape=(96, 96, 3))
    assert all(np.array_equal(a, b) for a, b in zip(first.backbone.get_weights(), again.backbone.get_weights()))

    cnn = small_cnn(seed=1)
    cnn.save_weights(tmp_path / "cnn.weights.h5")
    own = [w.copy() for w in small_cnn(seed=2).get_weights()]
    other = small_cnn(seed=2)
    loaded = ImageClassifier(other, weights=tmp_path / "cnn.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(loaded.backbone.get_weights(), cnn.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), own))  # the user's model is untouched

    from keras.src.utils import file_utils

    def offline(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(RuntimeError, match=r"Could not get the ImageNet weights of MobileNetV2 .*URL fetch failure"
                                           r".*~/.keras/models/.*weights=None"):
        ImageClassifier("MobileNetV2", input_shape=(96, 96, 3))


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"unknown value for `backbone`, expected one of ResNet50, MobileNetV2, "
                                         r"EfficientNetB0, DenseNet121, InceptionV3 or a keras.Model. Did you mean "
                                         r"'ResNet50'\? Received: backbone='ResNet5'"):
        ImageClassifier("ResNet5")
    with pytest.raises(TypeError, match=r"invalid value for `backbone`.*Received: backbone=42 of type int"):
        ImageClassifier(42)
    with pytest.raises(ValueError, match=r"invalid value for `weights`, expected 'auto', 'imagenet'.*"
                                         r"Received: weights='/nowhere/w.weights.h5'"):
        ImageClassifier("MobileNetV2", weights="/nowhere/w.weights.h5", input_shape=(96, 96, 3))
    with pytest.raises(ValueError, match=r"weights='imagenet' with a keras.Model backbone"):
        ImageClassifier(small_cnn(), weights="imagenet")
    with pytest.raises(ValueError, match=r"invalid value for `pooling`, expected 'avg', 'max' or None. "
                                         r"Received: pooling='mean'"):
        ImageClassifier(small_cnn(), pooling="mean")
    with pytest.raises(ValueError, match=r"invalid value for `input_shape`.*Received: input_shape=\(96, 96\)"):
        ImageClassifier("MobileNetV2", weights=None, input_shape=(96, 96))
    with pytest.raises(ValueError, match=r"Received input_shape=\(32, 32, 3\), but backbone 'small_cnn' takes "
                                         r"images of shape \(16, 16, 3\)"):
        ImageClassifier(small_cnn(), input_shape=(32, 32, 3))
    open_cnn = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3)], name="open_cnn")
    with pytest.raises(ValueError, match=r"Backbone 'open_cnn' takes images of shape \(None, None, 3\); give "
                                         r"`input_shape`"):
        ImageClassifier(open_cnn)
    assert ImageClassifier(open_cnn, input_shape=(20, 20, 3)).feature_dim == 4
    with pytest.raises(ValueError, match=r"invalid value for `preprocessing`, expected one of caffe, tf, torch, "
                                         r"none, a Keras layer or None.*Received: preprocessing='imagenet'"):
        ImageClassifier(small_cnn(), preprocessing="imagenet")
    with pytest.raises(ValueError, match=r"preprocessing='caffe' normalizes 3 ImageNet color channels; the images "
                                         r"have 1"):
        ImageClassifier(small_cnn(channels=1), preprocessing="caffe")
    with pytest.raises(ValueError, match=r"invalid value for `feature_layer`: backbone 'small_cnn' has no layer "
                                         r"named 'conv3'. Close matches: conv2, conv1"):
        ImageClassifier(small_cnn(), feature_layer="conv3")
    with pytest.raises(TypeError, match=r"invalid value for `feature_layer`, expected a layer name. "
                                        r"Received: feature_layer=2"):
        ImageClassifier(small_cnn(), feature_layer=2)
    unbuilt = keras.Sequential([keras.layers.Conv2D(4, 3)], name="unbuilt")
    with pytest.raises(ValueError, match=r"Expected a backbone with one image input \(a functional model, or a "
                                         r"Sequential model started with keras.Input\). Received: model 'unbuilt'"):
        ImageClassifier(unbuilt)
    two = keras.Input((SIZE, SIZE, 3))
    two_outputs = keras.Model(two, [keras.layers.Conv2D(2, 3)(two), keras.layers.Conv2D(3, 3)(two)], name="two")
    with pytest.raises(ValueError, match=r"Backbone 'two' has 2 outputs; expected one"):
        ImageClassifier(two_outputs)

    clf = ImageClassifier(small_cnn())
    with pytest.raises(ValueError, match=r"invalid value for `freeze_up_to`: backbone 'small_cnn' has no layer "
                                         r"named 'conv_2'. Close matches: conv2, conv1"):
        clf.classifier(3, freeze_up_to="conv_2")
    with pytest.raises(TypeError, match=r"invalid value for `freeze_up_to`.*Received: freeze_up_to=7"):
        clf.classifier(3, freeze_up_to=7)
    with pytest.raises(ValueError, match=r"Received num_classes=1 for a single-label \(softmax\) classifier"):
        clf.classifier(1)
    with pytest.raises(ValueError, match=r"invalid value for `num_classes`, expected a positive integer. "
                                         r"Received: num_classes=0"):
        clf.classifier(0, multi_label=True)
    with pytest.raises(ValueError, match=r"invalid value for `dropout`, expected a number in \[0, 1\). "
                                         r"Received: dropout=1.5"):
        clf.classifier(3, dropout=1.5)


def test_classifier_freezes_up_to_a_backbone_layer_on_a_copy():
    clf = ImageClassifier(small_cnn(), pooling="max")
    model = clf.classifier(4, multi_label=True, freeze_up_to="conv1", dropout=0.2, seed=0)
    backbone = model.get_layer("small_cnn")
    assert [(layer.name, layer.trainable) for layer in backbone.layers] == [("conv1", False), ("conv2", True)]
    assert model.loss == "binary_crossentropy" and model.outputs[0].shape[1:] == (4,)
    assert [layer.name for layer in model.layers[1:]] == ["small_cnn", "max_pool", "dropout", "predictions"]
    assert all(layer.trainable for layer in clf.backbone.layers)  # the original is untouched
    assert backbone is not clf.backbone
    assert all(np.array_equal(a, b) for a, b in zip(backbone.get_weights(), clf.backbone.get_weights()))
    whole = clf.classifier(4, freeze_up_to=clf.backbone.name)
    assert not any(layer.trainable for layer in whole.get_layer("small_cnn").layers)
    assert whole.get_layer("predictions").trainable


# -- featurize on Spark --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, digit_images):
    """Eight digits as PNGs: color at the backbone's size, color 20x12, grayscale
    24x24 and color with alpha; returns the folder and each file's RGB(A) pixels."""
    from PIL import Image

    images, _ = digit_images
    root = tmp_path_factory.mktemp("mixed")
    sources = {}
    for i in range(8):
        rgb = colored(images[i], SIZE)
        kind = i % 4
        if kind == 1:
            rgb = np.asarray(Image.fromarray(colored(images[i], 32)).resize((12, 20)))
        elif kind == 2:
            rgb = colored(images[i], 24)[..., 0]
        elif kind == 3:
            rgb = np.concatenate([rgb, np.full((SIZE, SIZE, 1), 200, np.uint8)], axis=-1)
        name = f"image-{i}.png"
        Image.fromarray(rgb).save(root / name)
        sources[name] = rgb
    return root, sources


def expected_input(pixels: np.ndarray) -> np.ndarray:
    """What the model should see for a file's pixels: resized and channel-
    converted as Spark stores them (BGR), then RGB as the feed gives them."""
    bgr = pixels if pixels.ndim == 2 else pixels[..., [2, 1, 0] + list(range(3, pixels.shape[2]))]
    bgr = bgr[..., None] if bgr.ndim == 2 else bgr
    return conform_pixels(bgr, SIZE, SIZE, 3)[..., ::-1].astype("float32")


@pytest.mark.slow
def test_featurize_feeds_rgb_pixels_of_any_size_and_channel_count(spark, mixed_folder):
    root, sources = mixed_folder
    df = NNImageReader.readImages(str(root), spark).repartition(2)
    assert {r.nChannels for r in df.select("image.nChannels").collect()} == {1, 3, 4}
    # caffe preprocessing swaps channels: features would differ if any step confused RGB and BGR.
    clf = ImageClassifier(small_cnn(), preprocessing="caffe")
    out = clf.featurize(df, output_col="embedding", batch_size=3)
    assert out.columns == ["origin", "image", "embedding"]
    assert dict(out.dtypes)["embedding"] == "array<float>"
    rows = out.select("origin", "image.height", "image.width", "embedding").collect()
    assert len(rows) == 8
    for row in rows:
        pixels = sources[Path(row.origin).name]
        assert (row.height, row.width) == pixels.shape[:2]  # the image column is kept as it was
        expected = clf.model.predict(expected_input(pixels)[None], verbose=0)[0]
        np.testing.assert_allclose(row.embedding, expected, rtol=1e-5, atol=1e-5, err_msg=row.origin)

    featurizer = clf.featurizer(output_col="embedding")
    assert isinstance(featurizer, ImageFeaturizer) and featurizer.getBatchSize() == 64
    assert (featurizer.getFeaturesCol(), featurizer.getPredictionCol()) == ("image", "embedding")


@pytest.mark.slow
def test_encoded_image_files_featurize_as_the_decoded_images_do(spark, mixed_folder):
    root, sources = mixed_folder
    clf = ImageClassifier(small_cnn(), preprocessing="caffe")
    decoded = clf.featurize(NNImageReader.readImages(str(root), spark), batch_size=3)
    encoded = NNImageReader.readImages(str(root), spark, decode=False)
    out = clf.featurize(encoded, batch_size=3)
    assert out.columns == ["origin", "image", "features"] and dict(out.dtypes)["image"] == "binary"
    expected = {r.origin: r.features for r in decoded.select("origin", "features").collect()}
    got = {r.origin: r.features for r in out.select("origin", "features").collect()}
    assert got.keys() == expected.keys() and len(got) == len(sources)
    for origin in got:  # color, grayscale, alpha and another size: the same input pixels either way
        np.testing.assert_allclose(got[origin], expected[origin], rtol=1e-5, atol=1e-5, err_msg=origin)
    model = ImageClassifierModel(clf.classifier(3, seed=0), featuresCol="image")
    probabilities = model.transform(encoded).select("probability").collect()
    assert len(probabilities) == len(sources)
    assert all(abs(sum(r.probability) - 1) < 1e-5 for r in probabilities)


@pytest.mark.slow
def test_mobilenet_v2_with_random_weights_featurizes_96_pixel_images(spark, mixed_folder):
    root, sources = mixed_folder
    clf = ImageClassifier("MobileNetV2", weights=None, input_shape=(96, 96, 3))
    assert clf.preprocessing == "tf" and clf.feature_dim == 1280
    df = NNImageReader.readImages(str(root), spark, path_glob_filter="image-[01].png")
    rows = clf.featurize(df).select("origin", "features").collect()
    assert len(rows) == 2
    for row in rows:
        pixels = sources[Path(row.origin).name]
        bgr = conform_pixels(pixels[..., ::-1], 96, 96, 3)
        expected = clf.model.predict(bgr[None, ..., ::-1].astype("float32"), verbose=0)[0]
        assert len(row.features) == 1280
        np.testing.assert_allclose(row.features, expected, rtol=1e-4, atol=1e-4)


def test_resize_images_and_featurize_refuse_what_is_not_an_image(spark, mixed_folder):
    root, _ = mixed_folder
    df = spark.createDataFrame([(1, "a")], "id int, name string")
    clf = ImageClassifier(small_cnn())
    with pytest.raises(TypeError, match=r"Column 'name' \(`input_col`\) has type string; expected Spark's image "
                                        r"struct.*, or binary image files \(`readImages\(..., decode=False\)`\)"):
        clf.featurize(df, input_col="name")
    with pytest.raises(TypeError, match=r"Column 'name' \(`input_col`\) has type string; expected Spark's image "
                                        r"struct \(origin, height, width, nChannels, mode, data\), as "
                                        r"`NNImageReader.readImages` or spark.read.format\('image'\) give.$"):
        resize_images(df, "name", 8, 8)
    with pytest.raises(ValueError, match=r"Column 'image' \(`input_col`\) is not in the DataFrame. Its columns "
                                         r"are: id, name"):
        resize_images(df, "image", 8, 8)
    with pytest.raises(TypeError, match=r"invalid value for `input_col`, expected a column name. "
                                        r"Received: input_col=\['name'\]"):
        resize_images(df, ["name"], 8, 8)
    with pytest.raises(ValueError, match=r"ImageFeaturizer has no model"):
        ImageFeaturizer().transform(df)
    with pytest.raises(TypeError, match=r"Column 'name' \(`featuresCol`\) has type string"):
        ImageClassifierModel(clf.classifier(2), featuresCol="name").transform(df)
    images = NNImageReader.readImages(str(root), spark)
    vectors = keras.Sequential([keras.Input((64,)), keras.layers.Dense(2, activation="softmax")], name="mlp")
    with pytest.raises(ValueError, match=r"Expected a model with one image input of a known \(height, width, 1 or 3 "
                                         r"channels\) shape. Received: model 'mlp' with input shape\(s\) "
                                         r"\[\(None, 64\)\]"):
        ImageClassifierModel(vectors).transform(images)


def test_resize_images_error_paths(spark, mixed_folder):
    root, _ = mixed_folder
    df = NNImageReader.readImages(str(root), spark)
    with pytest.raises(ValueError, match=r"invalid value for `channels`, expected 1 or 3. Received: channels=4"):
        resize_images(df, "image", 8, 8, channels=4)
    with pytest.raises(ValueError, match=r"invalid value for `height`, expected a positive integer. "
                                         r"Received: height=0"):
        resize_images(df, "image", 0, 8)
    with pytest.raises(ValueError, match=r"Column 'origin' already exists in the DataFrame; choose another "
                                         r"`output_col`"):
        resize_images(df, "image", 8, 8, output_col="origin")
    gray = resize_images(df, "image", 4, 6, channels=1).select("image.height", "image.width", "image.nChannels",
                                                                 "image.mode").distinct().collect()
    assert [tuple(r) for r in gray] == [(4, 6, 1, 0)]
    from pyspark.ml.image import ImageSchema

    floats = spark.createDataFrame([(("file:/f.exr", 2, 2, 1, 5, bytearray(16)),)], ImageSchema.imageSchema)
    with pytest.raises(Exception, match=r"Column 'image' has an image of OpenCV mode 5 with 1 channel\(s\) at row 0 "
                                        r"of its partition; expected 8-bit images"):
        resize_images(floats, "image", 8, 8).collect()
    broken = spark.createDataFrame([(("file:/x.png", 4, 4, 3, 16, bytearray(b"xx")),)], ImageSchema.imageSchema)
    with pytest.raises(Exception, match=r"Column 'image' has 2 bytes of image data at row 0 of its partition; "
                                        r"expected height\*width\*nChannels = 4\*4\*3 = 48"):
        resize_images(broken, "image", 8, 8).collect()


# -- multi-label ---------------------------------------------------------------------------------

def test_multi_hot_labels_and_distinct_labels_read_finding_label_strings(spark):
    csv = spark.createDataFrame([("a.png", "Cardiomegaly|Effusion"), ("b.png", "No Finding"),
                                 ("c.png", " Effusion "), ("d.png", "Hernia|Cardiomegaly"), ("e.png", "")],
                                "`Image Index` string, `Finding Labels` string")
    classes = distinct_labels(csv, "Finding Labels")
    assert classes == ["Cardiomegaly", "Effusion", "Hernia"]
    hot = multi_hot_labels(csv, "Finding Labels", classes)
    assert dict(hot.dtypes)["label"] == "array<float>"
    assert {r[0]: r[1] for r in hot.select("Image Index", "label").collect()} == {
        "a.png": [1.0, 1.0, 0.0], "b.png": [0.0, 0.0, 0.0], "c.png": [0.0, 1.0, 0.0],
        "d.png": [1.0, 0.0, 1.0], "e.png": [0.0, 0.0, 0.0]}

    two = ["Cardiomegaly", "Effusion"]
    with pytest.raises(Exception, match=r"Column 'Finding Labels' has the label\(s\) Hernia in value "
                                        r"'Hernia\|Cardiomegaly', which are not in `classes` \(Cardiomegaly, "
                                        r"Effusion\); expected only those or 'No Finding'"):
        multi_hot_labels(csv, "Finding Labels", two).collect()
    skipped = multi_hot_labels(csv, "Finding Labels", two, handle_invalid="skip")
    assert sorted(r[0] for r in skipped.select("Image Index").collect()) == ["a.png", "b.png", "c.png", "e.png"]
    ignored = multi_hot_labels(csv, "Finding Labels", two, output_col="y", handle_invalid="ignore")
    assert ignored.where(F.col("Image Index") == "d.png").first()["y"] == [1.0, 0.0]

    with pytest.raises(ValueError, match=r"invalid value for `classes`, expected a non-empty list of distinct"):
        multi_hot_labels(csv, "Finding Labels", ["A", "A"])
    with pytest.raises(ValueError, match=r"invalid value for `handle_invalid`, expected one of error, skip, "
                                         r"ignore. Received: handle_invalid='keep'"):
        multi_hot_labels(csv, "Finding Labels", two, handle_invalid="keep")
    with pytest.raises(ValueError, match=r"invalid value for `separator`, expected a non-empty string"):
        distinct_labels(csv, "Finding Labels", separator="")
    with pytest.raises(TypeError, match=r"Column 'label' \(`input_col`\) has Spark type array<float>; expected a string"):
        distinct_labels(hot, "label")
    with pytest.raises(ValueError, match=r"Column 'Labels' \(`input_col`\) is not in the DataFrame"):
        multi_hot_labels(csv, "Labels", two)
    with pytest.raises(TypeError, match=r"invalid value for `input_col`, expected a column name. Received: "
                                        r"input_col=3"):
        multi_hot_labels(csv, 3, two)
    with pytest.raises(ValueError, match=r"invalid value for `output_col`, expected a column name. Received: "
                                         r"output_col=''"):
        multi_hot_labels(csv, "Finding Labels", two, output_col="")


@pytest.mark.slow
def test_per_class_auc_equals_scikit_learn_and_is_nan_for_a_constant_class(spark):
    from pyspark.ml.functions import array_to_vector
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    labels = (rng.random((400, 3)) < [0.3, 0.5, 0.0]).astype(float)
    scores = np.clip(labels * [0.2, 0.5, 0.0] + rng.random((400, 3)) * 0.8, 0, 1).round(3)  # ties too
    df = spark.createDataFrame([(y.tolist(), s.tolist()) for y, s in zip(labels, scores)],
                               "label array<float>, scores array<double>").repartition(3)
    names = ["a", "b", "never"]
    result = per_class_auc(df.withColumn("probability", array_to_vector("scores")), names)
    assert list(result) == names
    for i, name in enumerate(names[:2]):
        assert result[name] == pytest.approx(roc_auc_score(labels[:, i], scores[:, i]), abs=1e-9), name
    assert math.isnan(result["never"])
    assert per_class_auc(df, names, probability_col="scores")["b"] == pytest.approx(result["b"], abs=1e-12)
    with pytest.raises(Exception, match=r"Columns 'label' and 'scores' must hold 2 values per row \(one per class "
                                        r"name\); found 3 and 3"):
        per_class_auc(df, ["a", "b"], probability_col="scores")
    with pytest.raises(TypeError, match=r"Column 'x' \(`label_col`\) has type int; expected an array<numeric> or "
                                        r"an ML Vector"):
        per_class_auc(df.withColumn("x", F.lit(1)), names, label_col="x", probability_col="scores")
    with pytest.raises(ValueError, match=r"invalid value for `class_names`, expected a non-empty list"):
        per_class_auc(df, "abc", probability_col="scores")


CLASSES = ["zero", "one", "two", "three"]


@pytest.fixture(scope="module")
def grid_folder(tmp_path_factory, digit_images):
    """800 grayscale 16x16 images, each a 2x2 grid of cells holding a random
    digit (0-9) or nothing; the 'Finding Labels' of an image name which of the
    digits 0-3 appear ('No Finding' when none): the answer is known."""
    from PIL import Image

    images, labels = digit_images
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("grids")
    rows = []
    for k in range(800):
        grid = np.zeros((16, 16), np.uint8)
        found = set()
        for cell in range(4):
            if rng.random() < 0.6:
                j = int(rng.integers(len(labels)))
                r, c = divmod(cell, 2)
                grid[r * 8:(r + 1) * 8, c * 8:(c + 1) * 8] = (images[j] * 255 / 16).round()
                if labels[j] < 4:
                    found.add(int(labels[j]))
        name = f"{k:05d}.png"
        Image.fromarray(grid).save(root / name)
        rows.append((name, "|".join(CLASSES[d] for d in sorted(found)) or "No Finding"))
    return root, rows


@pytest.mark.slow
def test_multi_label_fine_tune_learns_which_digits_appear(spark_few_files, grid_folder, tmp_path):
    spark = spark_few_files
    root, rows = grid_folder
    csv = spark.createDataFrame(rows, "`Image Index` string, `Finding Labels` string")
    images = (NNImageReader.readImages(str(root), spark)
              .withColumn("Image Index", F.regexp_extract("origin", r"([^/]+)$", 1)))
    data = multi_hot_labels(images.join(csv, "Image Index"), "Finding Labels", CLASSES, output_col="labels")
    train, test = data.randomSplit([0.8, 0.2], seed=1)

    keras.utils.set_random_seed(0)
    cnn = keras.Sequential([keras.Input((SIZE, SIZE, 3)),
                            keras.layers.Conv2D(16, 3, activation="relu", padding="same", name="conv1"),
                            keras.layers.Conv2D(32, 3, activation="relu", padding="same", name="conv2"),
                            keras.layers.MaxPooling2D(name="pool"),
                            keras.layers.Conv2D(64, 3, activation="relu", name="conv3")], name="grid_cnn")
    clf = ImageClassifier(cnn, pooling="max", preprocessing=keras.layers.Rescaling(1 / 255, name="scale"))
    fitted = clf.fine_tune(train, num_classes=4, label_col="labels", multi_label=True, class_names=CLASSES,
                           epochs=10, batch_size=32, num_workers=2, learning_rate=0.005, seed=0)
    assert fitted.getMultiLabel() and fitted.getClassNames() == CLASSES
    history = fitted.history.history
    assert len(history["loss"]) == 10 and history["loss"][-1] < history["loss"][0]
    assert history["auc"][-1] >= 0.95  # Keras' multi-label AUC, states summed over both workers

    scored = fitted.transform(test).cache()
    aucs = per_class_auc(scored, CLASSES, label_col="labels")
    # Chance is 0.5. Plain Keras, same CNN and training, three random 80/20 splits
    # of these 800 images: the lowest class AUC was 0.988-0.999 (0.939-0.984 with
    # 600 images and 8 epochs; digit 1 is the hardest class).
    assert all(auc >= 0.95 for auc in aucs.values()), aucs
    first = scored.select("labels", "prediction", "probability").first()
    assert len(first.prediction) == 4 and set(first.prediction) <= {0.0, 1.0}
    assert first.prediction == [float(p > 0.5) for p in first.probability]
    hits = scored.select(F.expr("aggregate(zip_with(labels, prediction, (a, b) -> int(a = b)), 0, (s, x) -> s + x)")
                         .alias("hits")).agg(F.avg("hits")).first()[0] / 4
    # Per-label accuracy at threshold 0.5 (measured 0.977-0.988); predicting no
    # label at all would score about 0.78 (a class is in 22% of the images).
    assert hits >= 0.9, hits

    from pyspark.ml import PipelineModel

    PipelineModel(stages=[fitted]).save(str(tmp_path / "multilabel"))
    again = PipelineModel.load(str(tmp_path / "multilabel")).stages[0]
    assert isinstance(again, ImageClassifierModel)
    assert again.getMultiLabel() and again.getClassNames() == CLASSES and again.getFeaturesCol() == "image"
    some = scored.orderBy("Image Index").limit(5).select("Image Index", "image", "probability").collect()
    reloaded = again.transform(spark.createDataFrame(some, scored.select("Image Index", "image", "probability")
                                                     .schema).drop("probability"))
    after = {r["Image Index"]: r.probability.toArray() for r in reloaded.collect()}
    for row in some:
        np.testing.assert_allclose(after[row["Image Index"]], row.probability.toArray(), atol=1e-6)
    scored.unpersist()


def test_fine_tune_checks_columns_before_any_job(spark, grid_folder):
    root, _ = grid_folder
    images = NNImageReader.readImages(str(root), spark).withColumn("label", F.lit(1))
    clf = ImageClassifier(small_cnn())
    with pytest.raises(TypeError, match=r"Column 'label' \(`label_col`\) has type int; expected a multi-hot "
                                        r"array<float> or Vector with multi_label=True"):
        clf.fine_tune(images, 3, multi_label=True)
    with pytest.raises(ValueError, match=r"Column 'y' \(`label_col`\) is not in the DataFrame"):
        clf.fine_tune(images, 3, label_col="y")
    with pytest.raises(TypeError, match=r"invalid value for `label_col`, expected a column name. "
                                        r"Received: label_col=None"):
        clf.fine_tune(images, 3, label_col=None)
    with pytest.raises(ValueError, match=r"invalid value for `class_names`, expected 3 distinct strings"):
        clf.fine_tune(images, 3, class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"invalid value for `epochs`, expected a positive integer. "
                                         r"Received: epochs=0"):
        clf.fine_tune(images, 3, epochs=0)
    encoded = NNImageReader.readImages(str(root), spark, decode=False).withColumn("label", F.lit(1))
    with pytest.raises(TypeError, match=r"Column 'image' \(`input_col`\) holds Spark images in `df` but encoded image "
                                        r"files in `validation_df`; expected the same kind in both"):
        clf.fine_tune(images, 3, validation_df=encoded)
