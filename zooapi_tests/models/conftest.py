"""Image data with known answers for the zooapi.models tests: scikit-learn's
8x8 digits drawn as colored images of several sizes, and a small CNN
pretrained on digits 0-4 (the "backbone" whose features transfer to 5-9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SIZE = 16  # the small backbones' input: 16x16x3


def colored(digit: np.ndarray, size: int) -> np.ndarray:
    """An 8x8 digit in [0, 16] as a `size` x `size` RGB uint8 image whose three
    channels differ (so a channel-order mistake changes the features)."""
    from PIL import Image

    big = np.kron(digit / 16.0 * 255.0, np.ones((4, 4)))
    rgb = np.stack([big, big * 0.5 + 60, 255 - big], axis=-1).round().astype(np.uint8)
    if size != rgb.shape[0]:
        rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BILINEAR))
    return rgb


@pytest.fixture(scope="session")
def digit_images():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target


@pytest.fixture(scope="session")
def pretrained_cnn(digit_images):
    """A small CNN trained (in this process, plain Keras) on digits 0-4 drawn at
    16x16: conv1 -> pool1 -> conv2 -> conv3 -> gap (64 features) -> 5 classes.
    Tests must not change it: ImageClassifier never does."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255, name="scale"),
        keras.layers.Conv2D(16, 3, activation="relu", padding="same", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(32, 3, activation="relu", padding="same", name="conv2"),
        keras.layers.Conv2D(64, 3, activation="relu", name="conv3"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(5, activation="softmax", name="digits_0_4"),
    ], name="digits_cnn")
    return trained_on_low_digits(model, digit_images)


def trained_on_low_digits(model, digit_images):
    """`model` compiled and trained (plain Keras, 15 epochs) on digits 0-4 at 16x16."""
    import keras

    images, labels = digit_images
    low = np.flatnonzero(labels < 5)
    x = np.stack([colored(images[i], SIZE) for i in low]).astype("float32")
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, labels[low], batch_size=32, epochs=15, verbose=0)
    return model


@pytest.fixture(scope="session")
def pretrained_bn_cnn(digit_images):
    """The same CNN with batch normalisation after conv2 and conv3 (as every
    keras.applications backbone has), trained on digits 0-4."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255, name="scale"),
        keras.layers.Conv2D(16, 3, activation="relu", padding="same", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv2"),
        keras.layers.BatchNormalization(momentum=0.9, name="bn2"), keras.layers.ReLU(name="relu2"),
        keras.layers.Conv2D(64, 3, use_bias=False, name="conv3"),
        keras.layers.BatchNormalization(momentum=0.9, name="bn3"), keras.layers.ReLU(name="relu3"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(5, activation="softmax", name="digits_0_4"),
    ], name="digits_bn_cnn")
    return trained_on_low_digits(model, digit_images)


@pytest.fixture(scope="session")
def transfer_folder(tmp_path_factory, digit_images) -> Path:
    """Digits 5-9 as color PNGs of 16, 24 and 32 pixels, one folder per class
    (`root/<digit>/<index>.png`, so a listing comes sorted by class)."""
    from PIL import Image

    images, labels = digit_images
    root = tmp_path_factory.mktemp("digits_5_9")
    for k, i in enumerate(np.flatnonzero(labels >= 5)):
        folder = root / str(labels[i])
        folder.mkdir(exist_ok=True)
        Image.fromarray(colored(images[i], (16, 24, 32)[k % 3])).save(folder / f"{i:04d}.png")
    return root


def _few_file_partitions(spark):
    # Spark counts 4 MB per file when it packs files into partitions, so ~900
    # tiny PNGs come in ~30 partitions, and each task costs seconds on a busy
    # 2-core machine. Two partitions read them in a tenth of the time.
    key = "spark.sql.files.maxPartitionNum"
    old = spark.conf.get(key, None)
    spark.conf.set(key, "2")
    yield spark
    if old is None:
        spark.conf.unset(key)
    else:
        spark.conf.set(key, old)


@pytest.fixture
def spark_few_files(spark):
    """The `local[2]` session, packing small files into two partitions."""
    yield from _few_file_partitions(spark)


@pytest.fixture
def cluster_few_files(spark_cluster):
    """The `local-cluster` session, packing small files into two partitions."""
    yield from _few_file_partitions(spark_cluster)


def read_digits(spark, root: Path, decode: bool = True):
    """The folder as (origin, image, label 0-4): `image` Spark's image struct,
    or with `decode=False` the PNG files' bytes."""
    from pyspark.sql import functions as F

    from zooapi.nnframes import NNImageReader

    return (NNImageReader.readImages(str(root), spark, decode=decode)
            .withColumn("label", F.regexp_extract("origin", r"/(\d)/\d+\.png$", 1).cast("int") - 5))
