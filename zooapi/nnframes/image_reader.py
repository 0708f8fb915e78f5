"""Image folders as DataFrames in Spark's image schema, decoded on the workers.

`NNImageReader.readImages` lists files with Spark's `binaryFile` source (so
local paths and every Hadoop-compatible URL work, with the session's
credentials) and decodes them with Pillow inside `mapInArrow`: file bytes
arrive as Arrow, images leave as Arrow, and nothing is collected or pickled
row by row. Local files (`file:` URLs) are read by the Python task itself:
Spark then only lists them, and their bytes do not pass through the JVM on
the way in.

Example:
    >>> from zooapi.nnframes import NNImageReader  # doctest: +SKIP
    >>> df = NNImageReader.readImages("hdfs:///data/xray", spark, resize_height=224, resize_width=224)  # doctest: +SKIP
    >>> df.select("origin", "image.height", "image.nChannels").show(3)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import pyarrow as pa

from zooapi.checks import check_int
from zooapi.sessions import classic_context, default_parallelism, is_connect
from zooapi.feature.image_files import IMAGE_CODECS, decode_pixels
from zooapi.feature.spark_image import MODES, image_type, swap_red_blue

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["DroppedFiles", "NNImageReader"]

logger = logging.getLogger(__name__)

# Images decoded per output batch: bounds the decoded bytes a task holds at once.
_ROWS_PER_OUTPUT_BATCH = 64


def decode_image(content: bytes, codec: int = -1, height: int = -1, width: int = -1) -> tuple[np.ndarray, int]:
    """One encoded image as Spark stores it: `(pixels, mode)`, `pixels` the
    `(h, w, c)` uint8 array in BGR(A) byte order, `mode` the OpenCV type code
    (0, 16 or 24). Arguments and errors as `zooapi.feature.image_files.decode_pixels`."""
    pixels = decode_pixels(content, codec, height, width)
    return np.ascontiguousarray(swap_red_blue(pixels)), MODES[pixels.shape[2]]


def check_header(content: bytes) -> None:
    """Raises what Pillow raises when `content` is not an image it can open
    (reads the header only, not the pixels)."""
    from PIL import Image

    with Image.open(io.BytesIO(memoryview(content))) as image:
        image.size  # noqa: B018


def _image_batch(origins: list[str], images: list[tuple[np.ndarray, int]]) -> pa.RecordBatch:
    dims = np.array([p.shape for p, _ in images], dtype=np.int32).reshape(-1, 3)
    struct = pa.StructArray.from_arrays(
        [pa.array(origins, pa.string()), pa.array(dims[:, 0]), pa.array(dims[:, 1]), pa.array(dims[:, 2]),
         pa.array([m for _, m in images], pa.int32()), pa.array([p.tobytes() for p, _ in images], pa.binary())],
        fields=list(image_type()))
    return pa.RecordBatch.from_arrays([pa.array(origins, pa.string()), struct], ["origin", "image"])


def _report_dropped(bad: list[str], dropped) -> None:
    if bad:
        logger.warning("Dropped %d unreadable image file(s): %s", len(bad), ", ".join(bad[:10])
                       + (" ..." if len(bad) > 10 else ""))
        if dropped is not None:
            dropped.add(len(bad))


def _dropped_batch(bad: list[str], image: pa.DataType) -> pa.RecordBatch:
    """Rows for unreadable files: their path and a null image (filtered out
    of the images, kept for `DroppedFiles.files`)."""
    return pa.RecordBatch.from_arrays([pa.array(bad, pa.string()), pa.nulls(len(bad), image)], ["origin", "image"])


class DroppedFiles:
    """The files `NNImageReader.readImages` dropped as unreadable.

    `value` counts them: in a classic session it is a Spark accumulator's
    count, free, once an action has computed the images (each computation
    adds to it again); over Spark Connect, which has no accumulators,
    reading it runs a job that reads the files again. `files` is a
    DataFrame of their paths (`origin`), in both kinds of session (computing
    it reads the files again).

    Example:
        >>> df = NNImageReader.readImages("/data/photos", spark)  # doctest: +SKIP
        >>> df.count(); df.dropped_files.value  # doctest: +SKIP
        >>> df.dropped_files.files.show()  # doctest: +SKIP
    """

    def __init__(self, files: "DataFrame", accumulator=None):
        self.files = files
        self._accumulator = accumulator

    @property
    def value(self) -> int:
        if self._accumulator is not None:
            return self._accumulator.value
        return self.files.count()


def _unreadable(path: str, err: Exception, action: str) -> ValueError:
    return ValueError(f"Cannot {action} image file '{path}': {type(err).__name__}: {err}. Expected a JPEG, PNG or "
                      "other Pillow-readable image; pass drop_invalid=True to skip unreadable files.")


def local_file_path(url: str) -> str | None:
    """The local path of a `file:` URL as Hadoop lists it (`file:/data/a.png`,
    `file:///data/a.png`), or None for any other scheme."""
    if not url.startswith("file:"):
        return None
    path = url[len("file:"):]
    if path.startswith("//"):  # file://authority/path: the authority is this host
        path = path[path.find("/", 2):] if path.find("/", 2) >= 0 else "/"
    return path


def listed_contents(batch: pa.RecordBatch) -> pa.Array | None:
    """The `content` column of a `binaryFile` batch, or None when the listing
    left contents out (local files, read by `file_bytes`)."""
    return batch.column("content") if "content" in batch.schema.names else None


def file_bytes(contents: pa.Array | None, i: int, url: str):
    """The bytes of file `i` of a `binaryFile` batch: from its `content`
    column (`listed_contents`), or, without one, the file read here."""
    if contents is not None:
        return contents[i].as_buffer() or b""
    path = local_file_path(url)
    if path is None:
        raise ValueError(f"Expected a file: URL for a listing without contents. Received: {url!r}")
    with open(path, "rb") as f:
        return f.read()


def decode_partition(batches: Iterator[pa.RecordBatch], codec: int, height: int, width: int,
                     drop_invalid: bool, dropped=None) -> Iterator[pa.RecordBatch]:
    """`binaryFile` batches (`path`, `content`) to (`origin`, `image`) batches,
    the image decoded into Spark's image struct.

    Runs on the workers. An undecodable file is dropped (logged with its
    name, added to the `dropped` accumulator, and given as a row with a null
    image, which `readImages` filters out) or, without `drop_invalid`,
    raises a `ValueError` naming it.
    """
    for batch in batches:
        paths, contents = batch.column("path").to_pylist(), listed_contents(batch)
        for start in range(0, len(paths), _ROWS_PER_OUTPUT_BATCH):
            origins, images, bad = [], [], []
            for i in range(start, min(start + _ROWS_PER_OUTPUT_BATCH, len(paths))):
                try:
                    images.append(decode_image(file_bytes(contents, i, paths[i]), codec, height, width))
                    origins.append(paths[i])
                except Exception as err:  # Pillow raises many kinds for bad bytes
                    if not drop_invalid:
                        raise _unreadable(paths[i], err, "decode") from err
                    bad.append(paths[i])
            _report_dropped(bad, dropped)
            if images:
                yield _image_batch(origins, images)
            if bad:
                yield _dropped_batch(bad, image_type())


def check_partition(batches: Iterator[pa.RecordBatch], drop_invalid: bool, dropped=None) -> Iterator[pa.RecordBatch]:
    """`binaryFile` batches (`path`, and `content` unless the files are local)
    to (`origin`, `image`) batches that hold each file's bytes (the `content`
    column zero-copy), once Pillow has read its header. Unreadable files as
    in `decode_partition`."""
    for batch in batches:
        paths, contents = batch.column("path").to_pylist(), listed_contents(batch)
        read, readable = [], np.ones(batch.num_rows, bool)
        for i in range(batch.num_rows):
            try:
                content = file_bytes(contents, i, paths[i])
                check_header(content)
                if contents is None:
                    read.append(content)
            except Exception as err:  # Pillow raises many kinds for bad bytes; a file may be gone
                if not drop_invalid:
                    raise _unreadable(paths[i], err, "read") from err
                readable[i] = False
        bad = [paths[int(i)] for i in np.flatnonzero(~readable)]
        _report_dropped(bad, dropped)
        kept = batch if readable.all() else batch.filter(pa.array(readable))
        image = pa.array(read, pa.binary()) if contents is None else kept.column("content")
        yield pa.RecordBatch.from_arrays([kept.column("path"), image], ["origin", "image"])
        if bad:
            yield _dropped_batch(bad, pa.binary())


def lists_local_files(spark: "SparkSession", paths: Sequence[str]) -> bool:
    """Whether every path is on the local file system: a `file:` URL, or a
    path without a scheme while Hadoop's default file system is local."""
    from urllib.parse import urlparse

    sc = classic_context(spark)
    default_fs = ((sc._jsc.hadoopConfiguration().get("fs.defaultFS") if sc is not None
                   else spark.conf.get("spark.hadoop.fs.defaultFS", None)) or "file:///")
    return all(urlparse(p if urlparse(p).scheme else default_fs).scheme == "file" for p in paths)


class NNImageReader:
    """Reads image files into a DataFrame with Spark's image schema.

    Use its static method `readImages`; there is nothing to construct.

    Example:
        >>> df = NNImageReader.readImages("hdfs:///data/xray", spark, resize_height=256,
        ...                               resize_width=256)  # doctest: +SKIP
    """

    @staticmethod
    def readImages(path: str | Sequence[str], spark: "SparkSession", min_partitions: int = 1,
                   resize_height: int = -1, resize_width: int = -1, image_codec: int = -1,
                   recursive: bool = True, path_glob_filter: str | None = None,
                   drop_invalid: bool = True, max_partitions: int | None = None,
                   decode: bool = True) -> "DataFrame":
        """Image files as a DataFrame, decoded on the workers.

        The result has two columns: `origin` (the file's URL, as Spark lists
        it, e.g. `file:/data/a.png`) and `image`, a struct with Spark's
        image schema (`pyspark.ml.image.ImageSchema.imageSchema`): `origin`,
        `height`, `width`, `nChannels`, `mode`, `data`. As with Spark's own
        `image` source, `data` holds the pixels row by row in OpenCV's byte
        order: BGR for color (`nChannels=3`, mode 16 = CV_8UC3), BGRA with
        an alpha channel (4, mode 24 = CV_8UC4), one byte per pixel for
        grayscale (1, mode 0 = CV_8UC1). zooapi's feed turns it back into
        float32 RGB when the column feeds a model.

        Files are listed by Spark's `binaryFile` source, so `path` can be a
        local path, a glob, or any Hadoop-compatible URL (`hdfs://`,
        `s3a://`...), and decoded by Pillow (JPEG, PNG, BMP, GIF's first
        frame, TIFF...) inside `mapInArrow`. EXIF orientation is not applied
        (as in Spark's `image` source). Local files (a path without a scheme
        while Hadoop's default file system is local, or a `file:` URL) are
        read by the Python tasks, so Spark only lists them; files on other
        file systems come through `binaryFile` with their contents. Each
        file is read whole into memory; a task receives
        `spark.sql.execution.arrow.maxRecordsPerBatch` files at a time.

        With `decode=False`, `image` is a binary column holding each file's
        bytes as they are (JPEG, PNG...): decode them where a model consumes
        them, with `zooapi.feature.image_files.ImageBytesToMat(height, width)`
        first in the `feature_preprocessing` chain (`ImageClassifier` and its
        stages do this themselves for a binary column). Spark then moves the
        encoded bytes (a 224x224 JPEG is ~15 kB) instead of the pixels (150
        kB) between the JVM and Python, which is the fastest way from a
        folder to predictions or training. Pillow still reads every file's
        header here, so files that are not images follow `drop_invalid`; a
        file whose pixel data is truncated fails only when it is decoded.

        Unreadable files (corrupt, truncated, or not images) follow
        `drop_invalid`. With `True` they are skipped where they are decoded:
        each task logs a WARNING naming them, and the returned DataFrame's
        `dropped_files` attribute (a `DroppedFiles`) counts them: its
        `value` is, in a classic session, a Spark accumulator's count on the
        driver once an action has run (free: no second pass decodes the
        files to count them; each computation of the DataFrame adds to it
        again: cache the DataFrame, or read the value after your first
        action), and over Spark Connect, which has no accumulators, a job
        that reads the files again; its `files` is a DataFrame of their
        paths in both. With
        `False` the first unreadable file fails the
        job with a `ValueError` naming the file (on the driver, Spark raises
        it as a `PythonException` whose message holds the worker's
        `ValueError` and traceback).

        Args:
            path: a file, folder or glob, or a list of them.
            spark: the SparkSession.
            min_partitions: the least number of partitions of the result;
                the listing is repartitioned when Spark gives fewer (small
                files are packed into few partitions).
            resize_height: resize every image to this height (Pillow
                bilinear, antialiased when shrinking), with `resize_width`;
                -1 keeps the original size. Both or neither must be given.
            resize_width: see `resize_height`.
            image_codec: OpenCV's `imread` flag: -1 (`IMREAD_UNCHANGED`)
                keeps grayscale as 1 channel, color as 3 and alpha as 4
                (palette images become color, or color with alpha when they
                have transparency); 0 (`IMREAD_GRAYSCALE`) gives 1 channel;
                1 (`IMREAD_COLOR`) gives 3 channels, dropping alpha. With
                every codec, 16-bit grayscale becomes its high byte (the
                image schema is 8-bit), resized or not.
            recursive: also read files in subfolders (Spark's
                `recursiveFileLookup`, which turns off partition discovery).
            path_glob_filter: only files whose name matches this glob, e.g.
                `"*.png"` (Spark's `pathGlobFilter`).
            drop_invalid: skip unreadable files (True) or fail (False).
            decode: decode into Spark's image struct (True), or keep each
                file's encoded bytes in a binary `image` column (False;
                `resize_*` and `image_codec` then belong to
                `ImageBytesToMat`).
            max_partitions: the most partitions of the result (default:
                twice the session's default parallelism, and never fewer
                than `min_partitions`). Spark packs small files into many
                partitions (it counts 4 MB per file), and each task costs
                far more than decoding a few small images: measured here,
                900 small PNGs took 23 s to read in 28 partitions and 2.6 s
                in 2. Listings with more partitions are merged (no shuffle).

        Returns:
            A DataFrame with columns `origin` (string) and `image` (Spark's
            image struct, or binary with `decode=False`). Lazy: files are
            read when an action runs.

        Example:
            >>> df = NNImageReader.readImages("/data/digits", spark, min_partitions=4,
            ...                               resize_height=32, resize_width=32)  # doctest: +SKIP
            >>> from pyspark.sql import functions as F  # doctest: +SKIP
            >>> labelled = df.withColumn("label", F.regexp_extract("origin", r"digit-(\\d)-", 1).cast("int"))  # doctest: +SKIP
        """
        from pyspark.ml.image import ImageSchema
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        if not (isinstance(spark, SparkSession) or is_connect(spark)):
            raise TypeError(f"`spark` must be a SparkSession. Received: spark={spark!r} of type {type(spark).__name__}")
        paths = [path] if isinstance(path, str) else list(path) if isinstance(path, (list, tuple)) else None
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise ValueError(f"Received an invalid value for `path`, expected a non-empty path string or a "
                             f"list of them. Received: path={path!r}")
        min_partitions = check_int("min_partitions", min_partitions)
        max_partitions = check_int("max_partitions", max_partitions, allow=(None,))
        resize_height = check_int("resize_height", resize_height, allow=(-1,))
        resize_width = check_int("resize_width", resize_width, allow=(-1,))
        if (resize_height > 0) != (resize_width > 0):
            raise ValueError("`resize_height` and `resize_width` must both be positive (resize) or both -1 "
                             f"(keep the size). Received: resize_height={resize_height}, resize_width={resize_width}")
        if isinstance(image_codec, bool) or image_codec not in IMAGE_CODECS:
            raise ValueError(f"Received an invalid value for `image_codec`, expected one of {sorted(IMAGE_CODECS)} "
                             f"({IMAGE_CODECS}). Received: image_codec={image_codec!r}")
        image_codec = int(image_codec)
        if not isinstance(decode, bool):
            raise TypeError(f"`decode` must be True or False. Received: decode={decode!r}")
        if not decode and (resize_height > 0 or image_codec != -1):
            raise ValueError("With decode=False the files stay encoded, so `resize_height`, `resize_width` and "
                             "`image_codec` do not apply here; give them to ImageBytesToMat(height, width, "
                             f"image_codec). Received: resize_height={resize_height}, resize_width={resize_width}, "
                             f"image_codec={image_codec}")
        if path_glob_filter is not None and not isinstance(path_glob_filter, str):
            raise TypeError(f"`path_glob_filter` must be a string or None. Received: {path_glob_filter!r}")

        reader = spark.read.format("binaryFile").option("recursiveFileLookup", str(bool(recursive)).lower())
        if path_glob_filter:
            reader = reader.option("pathGlobFilter", path_glob_filter)
        # Local files are read by the tasks (`file_bytes`): without `content`
        # the JVM only lists them, and their bytes cross to Python once.
        columns = ["path"] if lists_local_files(spark, paths) else ["path", "content"]
        files = reader.load(paths if len(paths) > 1 else paths[0]).select(*columns)
        sc = classic_context(spark)
        most = max(min_partitions, max_partitions or 2 * default_parallelism(spark))
        if sc is None:  # Spark Connect: the listing's partition count is not known without a job
            partitions = "as listed"
            if min_partitions > 1:
                files, partitions = files.repartition(min_partitions), min_partitions
            elif max_partitions:
                files, partitions = files.coalesce(most), f"at most {most}"
        else:
            partitions = files.rdd.getNumPartitions()
            if partitions < min_partitions:
                files, partitions = files.repartition(min_partitions), min_partitions
            elif partitions > most:
                files, partitions = files.coalesce(most), most
        logger.info("readImages: %s -> %s partition(s), %s, codec %s, resize %s", paths, partitions,
                    "decoded" if decode else "encoded", IMAGE_CODECS[image_codec],
                    (resize_height, resize_width) if resize_height > 0 else "none")

        dropped = sc.accumulator(0) if drop_invalid and sc is not None else None  # none over Connect
        codec, height, width, drop = image_codec, resize_height, resize_width, bool(drop_invalid)
        image_type = ImageSchema.imageSchema["image"].dataType if decode else T.BinaryType()
        schema = T.StructType([T.StructField("origin", T.StringType(), True),
                               T.StructField("image", image_type, True)])
        if decode:
            read = files.mapInArrow(lambda batches: decode_partition(batches, codec, height, width, drop, dropped),
                                    schema)
        else:
            read = files.mapInArrow(lambda batches: check_partition(batches, drop, dropped), schema)
        if not drop:
            df = read
            df.dropped_files = None
            return df
        df = read.where(F.col("image").isNotNull())
        df.dropped_files = DroppedFiles(read.where(F.col("image").isNull()).select("origin"), dropped)
        return df
