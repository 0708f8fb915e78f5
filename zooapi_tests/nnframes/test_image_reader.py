"""NNImageReader.readImages on a generated folder of digit images (PNG and
JPEG, color and grayscale, a subfolder, corrupt files), and its output
feeding a Keras CNN through engine.predict with image preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from zooapi.nnframes import NNImageReader
from zooapi.sessions import classic_context
from zooapi_tests.conftest import partition_count

pytestmark = [pytest.mark.slow, pytest.mark.both_sessions]

N_COLOR, N_GRAY = 24, 2
CORRUPT = ("broken-0.png", "truncated-1.jpg")


def _color(digit: np.ndarray) -> np.ndarray:
    """An 8x8 digit in [0, 16] as a 32x32 RGB uint8 image (nearest-neighbour x4)."""
    big = np.kron(digit / 16.0 * 255.0, np.ones((4, 4)))
    return np.stack([big, big * 0.5 + 60, 255 - big], axis=-1).round().astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Color digits as PNG (even) and JPEG (odd), a third of them in `sub/`,
    two grayscale PNGs in `gray/`, and two corrupt files."""
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    root = tmp_path_factory.mktemp("digits")
    (root / "sub").mkdir()
    (root / "gray").mkdir()
    sources, labels = {}, {}
    for i in range(N_COLOR):
        name = f"digit-{data.target[i]}-{i:04d}.{'png' if i % 2 == 0 else 'jpg'}"
        path = root / ("sub" if i % 3 == 0 else ".") / name
        Image.fromarray(_color(data.images[i])).save(path)
        sources[name], labels[name] = _color(data.images[i]), int(data.target[i])
    for i in range(N_COLOR, N_COLOR + N_GRAY):
        name = f"digit-{data.target[i]}-{i:04d}.png"
        Image.fromarray(_color(data.images[i])[..., 0]).save(root / "gray" / name)
        labels[name] = int(data.target[i])
    (root / CORRUPT[0]).write_text("this is not an image")
    jpeg = next(root.rglob("digit-*.jpg")).read_bytes()
    (root / CORRUPT[1]).write_bytes(jpeg[: len(jpeg) // 2])
    return root, sources, labels


def test_reads_a_folder_into_spark_image_schema_with_bgr_pixels_and_labels(spark, folder):
    from pyspark.ml.image import ImageSchema

    root, sources, labels = folder
    df = NNImageReader.readImages(str(root), spark, min_partitions=3)
    assert df.schema["image"].dataType == ImageSchema.imageSchema["image"].dataType
    rows = df.select("origin", F.col("image.origin").alias("image_origin"), "image.height", "image.width",
                     "image.nChannels", "image.mode", "image.data").collect()
    assert len(rows) == N_COLOR + N_GRAY
    assert df.dropped_files.value == len(CORRUPT)
    assert sorted(Path(r.origin).name for r in df.dropped_files.files.collect()) == sorted(CORRUPT)
    assert partition_count(df) >= 3  # after `value`: each computation of the images adds to the accumulator
    by_name = {Path(r.origin).name: r for r in rows}
    assert all(r.origin == r.image_origin and r.origin.startswith("file:") for r in rows)
    for name, r in by_name.items():
        gray = name not in sources
        assert (r.height, r.width, r.nChannels, r.mode) == (32, 32, 1 if gray else 3, 0 if gray else 16), name
    png = next(n for n in sources if n.endswith(".png"))
    stored = np.frombuffer(by_name[png].data, np.uint8).reshape(32, 32, 3)
    np.testing.assert_array_equal(stored, sources[png][..., ::-1])  # BGR, exactly (PNG is lossless)
    jpg = next(n for n in sources if n.endswith(".jpg"))
    stored = np.frombuffer(by_name[jpg].data, np.uint8).reshape(32, 32, 3).astype(float)
    # JPEG is lossy (chroma subsampling blurs these saturated colors), but the
    # BGR reading is far closer than the RGB one.
    bgr_error, rgb_error = (np.abs(stored - sources[jpg][..., order]).mean() for order in ([2, 1, 0], [0, 1, 2]))
    assert bgr_error < 16 and rgb_error > 4 * bgr_error, (bgr_error, rgb_error)

    # Labels from the file name, checked against a CSV in the chest X-ray data
    # set's layout (`Image Index, Finding Labels`) joined on the file name.
    csv = root.parent / f"{root.name}-labels.csv"
    csv.write_text("Image Index,Finding Labels\n" + "".join(f"{n},{y}\n" for n, y in labels.items()))
    truth = spark.read.csv(str(csv), header=True).select(
        F.col("Image Index").alias("file"), F.col("Finding Labels").cast("int").alias("truth"))
    labelled = (df.withColumn("label", F.regexp_extract("origin", r"digit-(\d)-\d+\.", 1).cast("int"))
                .withColumn("file", F.element_at(F.split("origin", "/"), -1)))
    joined = labelled.join(truth, "file").select("label", "truth").collect()
    assert len(joined) == N_COLOR + N_GRAY and all(r.label == r.truth for r in joined)


def test_resize_codec_glob_and_recursion(spark, folder):
    root, _, _ = folder
    small = NNImageReader.readImages(str(root), spark, resize_height=16, resize_width=12, image_codec=1)
    dims = {tuple(r) for r in small.select("image.height", "image.width", "image.nChannels", "image.mode").collect()}
    assert dims == {(16, 12, 3, 16)}
    gray = NNImageReader.readImages(str(root / "sub"), spark, image_codec=0)
    assert {tuple(r) for r in gray.select("image.nChannels", "image.mode").distinct().collect()} == {(1, 0)}
    pngs = NNImageReader.readImages(str(root), spark, path_glob_filter="*.png")
    assert pngs.count() == N_COLOR // 2 + N_GRAY
    top_level = NNImageReader.readImages(str(root), spark, recursive=False, path_glob_filter="digit-*")
    assert top_level.count() == sum(1 for p in root.iterdir() if p.name.startswith("digit-"))


def test_small_files_are_packed_into_at_most_max_partitions(spark, folder):
    root, _, _ = folder
    listed = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(str(root))
    assert partition_count(listed) > 1  # Spark's own packing of these small files
    packed = NNImageReader.readImages(str(root), spark, max_partitions=1)
    assert partition_count(packed) == 1 and packed.count() == N_COLOR + N_GRAY
    assert partition_count(NNImageReader.readImages(str(root), spark, min_partitions=3, max_partitions=1)) >= 3
    with pytest.raises(ValueError, match="`max_partitions`, expected a positive integer or None. Received: max_partitions=0"):
        NNImageReader.readImages(str(root), spark, max_partitions=0)


def test_invalid_files_fail_the_job_naming_the_file(spark, folder):
    import keras

    from zooapi import engine
    from zooapi.feature.image import ImageMatToTensor

    root, _, _ = folder
    df = NNImageReader.readImages(str(root / CORRUPT[0]), spark, drop_invalid=False)
    with pytest.raises(Exception, match=r"ValueError: Cannot decode image file '[^']*broken-0\.png'") as info:
        df.count()  # Spark's own action: a PythonException carrying the worker's ValueError
    assert "drop_invalid=True" in str(info.value)

    # Through zooapi, the worker's ValueError reaches the caller as a ValueError.
    everything = NNImageReader.readImages(str(root), spark, image_codec=1, drop_invalid=False).withColumn(
        "label", F.lit(1))
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    bad_file = r"Cannot decode image file '[^']*(broken-0\.png|truncated-1\.jpg)'"
    with pytest.raises(ValueError, match=bad_file):
        engine.fit(model, everything, "image", "label", epochs=1, num_workers=1, verbose=0,
                   feature_preprocessing=ImageMatToTensor())
    with pytest.raises(ValueError, match=bad_file):
        engine.evaluate(model, everything, "image", "label", feature_preprocessing=ImageMatToTensor())


def test_bad_arguments_are_refused(spark, folder):
    root, _, _ = folder
    with pytest.raises(ValueError, match="both be positive .* Received: resize_height=32, resize_width=-1"):
        NNImageReader.readImages(str(root), spark, resize_height=32)
    with pytest.raises(ValueError, match=r"`image_codec`, expected one of \[-1, 0, 1\].*Received: image_codec=2"):
        NNImageReader.readImages(str(root), spark, image_codec=2)
    with pytest.raises(ValueError, match="`min_partitions`, expected a positive integer. Received: min_partitions=0"):
        NNImageReader.readImages(str(root), spark, min_partitions=0)
    with pytest.raises(ValueError, match="`path`"):
        NNImageReader.readImages([], spark)
    with pytest.raises(TypeError, match="`spark` must be a SparkSession"):
        NNImageReader.readImages(str(root), classic_context(spark) or "local[2]")  # the SparkContext, a usual slip


def test_images_feed_a_cnn_through_predict_with_image_preprocessing(spark, folder):
    import keras

    from zooapi import engine
    from zooapi.feature.image import ImageChannelNormalize, ImageMatToTensor

    root, _, _ = folder
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
    df = NNImageReader.readImages(str(root), spark, image_codec=1, min_partitions=2)
    out = engine.predict(model, df, "image", feature_preprocessing=ImageChannelNormalize(
        123.0, 117.0, 104.0, 58.4, 57.1, 57.4) * ImageMatToTensor())
    rows = out.select("origin", "prediction").collect()
    assert len(rows) == N_COLOR + N_GRAY
    probs = np.array([r.prediction for r in rows])
    assert probs.shape == (N_COLOR + N_GRAY, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_encoded_files_keep_their_bytes_and_predict_as_the_decoded_images_do(spark, folder, tmp_path):
    import keras

    from zooapi import engine
    from zooapi.feature.image import ImageChannelNormalize
    from zooapi.feature.image_files import ImageBytesToMat

    root, _, _ = folder
    encoded = NNImageReader.readImages(str(root), spark, decode=False, min_partitions=2)
    assert encoded.schema.simpleString() == "struct<origin:string,image:binary>"
    rows = {Path(r.origin).name: bytes(r.image) for r in encoded.collect()}
    # Both corrupt files fail Pillow's header check (the JPEG is cut before its frame header).
    assert len(rows) == N_COLOR + N_GRAY and not set(CORRUPT) & set(rows)
    assert encoded.dropped_files.value == 2
    assert sorted(Path(r.origin).name for r in encoded.dropped_files.files.collect()) == sorted(CORRUPT)
    for path in root.rglob("digit-*"):
        assert rows[path.name] == path.read_bytes()

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((24, 24, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
    normalize = ImageChannelNormalize(123.0, 117.0, 104.0, 58.4, 57.1, 57.4)
    fast = engine.predict(model, encoded, "image", feature_preprocessing=ImageBytesToMat(24, 24) * normalize)
    decoded = NNImageReader.readImages(str(root), spark, resize_height=24, resize_width=24, image_codec=1)
    slow = engine.predict(model, decoded, "image", feature_preprocessing=normalize)
    expected = {Path(r.origin).name: r.prediction for r in slow.select("origin", "prediction").collect()}
    got = {Path(r.origin).name: r.prediction for r in fast.select("origin", "prediction").collect()}
    assert got.keys() == expected.keys() and len(got) == N_COLOR + N_GRAY
    for name in got:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)

    # A JPEG whose header is whole but whose pixel data is cut passes the reader
    # and fails where it is decoded.
    jpeg = next(root.rglob("digit-*.jpg")).read_bytes()
    (tmp_path / "late-cut.jpg").write_bytes(jpeg[:-len(jpeg) // 4])
    cut = NNImageReader.readImages(str(tmp_path), spark, decode=False)
    assert cut.count() == 1
    with pytest.raises(Exception, match=r"ValueError: ImageBytesToMat cannot decode row 0 of the batch \(\d+ bytes\): "
                                        r"OSError: image file is truncated"):
        engine.predict(model, cut, "image", feature_preprocessing=ImageBytesToMat(24, 24)).collect()


def test_encoded_reading_refuses_non_images_and_pixel_options(spark, folder):
    root, _, _ = folder
    strict = NNImageReader.readImages(str(root / CORRUPT[0]), spark, decode=False, drop_invalid=False)
    with pytest.raises(Exception, match=r"ValueError: Cannot read image file '[^']*broken-0\.png'"):
        strict.count()
    with pytest.raises(ValueError, match=r"With decode=False the files stay encoded.*ImageBytesToMat\(height, "
                                         r"width, image_codec\). Received: resize_height=8, resize_width=8"):
        NNImageReader.readImages(str(root), spark, decode=False, resize_height=8, resize_width=8)
    with pytest.raises(ValueError, match=r"With decode=False .* image_codec=1"):
        NNImageReader.readImages(str(root), spark, decode=False, image_codec=1)
    with pytest.raises(TypeError, match=r"`decode` must be True or False. Received: decode='no'"):
        NNImageReader.readImages(str(root), spark, decode="no")


def test_local_files_are_read_by_the_task_and_other_listings_bring_their_contents(spark, folder):
    import pyarrow as pa

    from zooapi.nnframes.image_reader import check_partition, decode_partition, lists_local_files, local_file_path

    root, _, _ = folder
    assert lists_local_files(spark, [str(root), "relative/images", f"file://{root}", "file:/data/*.png"])
    assert not lists_local_files(spark, [str(root), "hdfs://namenode/images"])
    assert not lists_local_files(spark, ["s3a://bucket/images"])
    assert local_file_path("file:/data/a b.png") == "/data/a b.png"
    assert local_file_path("file:///data/a.png") == "/data/a.png"
    assert local_file_path("file://localhost/data/a.png") == "/data/a.png"
    assert local_file_path("hdfs://namenode/data/a.png") is None

    files = sorted(root.rglob("digit-*"))
    urls = [f"file:{p}" for p in files]
    listed = pa.RecordBatch.from_arrays([pa.array(urls)], ["path"])
    # What binaryFile gives for a remote file system: the bytes in `content`.
    remote = pa.RecordBatch.from_arrays([pa.array([u.replace("file:", "hdfs://nn") for u in urls]),
                                         pa.array([p.read_bytes() for p in files], pa.binary())], ["path", "content"])
    local_bytes = pa.Table.from_batches(check_partition(iter([listed]), drop_invalid=False))
    remote_bytes = pa.Table.from_batches(check_partition(iter([remote]), drop_invalid=False))
    assert local_bytes.column("image").to_pylist() == remote_bytes.column("image").to_pylist() \
        == [p.read_bytes() for p in files]
    local_pixels = pa.Table.from_batches(decode_partition(iter([listed]), 1, 16, 16, drop_invalid=False))
    remote_pixels = pa.Table.from_batches(decode_partition(iter([remote]), 1, 16, 16, drop_invalid=False))
    assert local_pixels.column("image").to_pylist() == [
        {**row, "origin": row["origin"].replace("hdfs://nn", "file:")}
        for row in remote_pixels.column("image").to_pylist()]
    assert local_pixels.num_rows == len(files)

