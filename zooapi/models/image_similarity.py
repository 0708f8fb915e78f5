"""`ImageSimilarity`: index a DataFrame of images by their embeddings and
find each query image's nearest neighbours, or every similar pair of two
DataFrames (the workshop's image-similarity notebook).

Embeddings come from any image model (an `ImageClassifier`, whose
`featurizer` pools its backbone; an `ImageFeaturizer`; a Keras model such as
a `new_graph` cut of a trained classifier), or from a column that already
holds them. They are L2-normalised, so distances are Euclidean between unit
vectors, in [0, 2] (cosine similarity = 1 - distance^2 / 2). The search runs
on the executors (`zooapi.models.neighbours`): exactly (for small sets, and
as the reference) or approximately with Spark ML's
`BucketedRandomProjectionLSH` (for large sets).

Example:
    >>> from zooapi.models import ImageClassifier, ImageSimilarity  # doctest: +SKIP
    >>> sim = ImageSimilarity(ImageClassifier("ResNet50"), id_col="origin").fit(images)  # doctest: +SKIP
    >>> sim.find_similar(queries, k=5).select("origin", "neighbours").show(3)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from zooapi.checks import check_int
from zooapi.models import neighbours as N

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["ImageSimilarity"]

logger = logging.getLogger(__name__)

METHODS = ("exact", "lsh")
_FEATURES = "__zooapi_embedding"
_QUERY = "__zooapi_query"


def _check_number(name: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and (low < value if low_open else low <= value) and value <= high)
    if not ok:
        bound = "(" if low_open else "["
        raise ValueError(f"Received an invalid value for `{name}`, expected a number in {bound}{low}, {high}]. "
                         f"Received: {name}={value!r}")
    return float(value)


class ImageSimilarity:
    """Nearest neighbours of images by their embeddings, on Spark.

    `fit(df)` embeds and indexes a DataFrame of images (kept in Spark's
    cache: call `unpersist()` when done); `find_similar(queries, k)` adds
    each query's `k` nearest indexed images; `similarity_join(df_a, df_b,
    threshold)` gives every pair closer than `threshold`.

    `method="exact"` compares every query with every indexed image (blocks
    of both, crossed in a Spark join, scored by matrix products on the
    executors): exact, and the cost grows as queries x index.
    `method="lsh"` compares only the pairs that fall into the same bucket
    of one of `num_hash_tables` random projections
    (`BucketedRandomProjectionLSH` with `bucket_length`): faster on large
    sets, but it may miss neighbours, and a query that shares no bucket
    with any indexed image gets fewer than `k` (or no) neighbours.

    Args:
        featurizer: where embeddings come from: an `ImageClassifier`, an
            `ImageFeaturizer`, a Keras model taking one image input (its
            output a vector), or None when `input_col` already holds the
            embeddings (`array<float>`, `array<double>` or a Vector).
        input_col: the image column (Spark's image schema or encoded
            files, any size), or the embeddings column with
            `featurizer=None`.
        id_col: the column that identifies an indexed image (any type
            Spark can group by, e.g. `origin`); neighbours name it.
        method: "exact" or "lsh".
        bucket_length: the LSH bucket width in units of the (unit-length)
            embeddings; wider buckets find more neighbours, slower.
        num_hash_tables: LSH hash tables; more find more neighbours, slower.
        seed: the LSH projections' seed.
        block_size: rows per block in the exact search.
        batch_size: images per forward pass on a worker.

    Raises:
        ValueError: an unknown `method`, a bad `bucket_length`,
            `num_hash_tables`, `block_size` or `batch_size`.
        TypeError: a `featurizer` of another kind.

    Example:
        >>> sim = ImageSimilarity(clf, id_col="origin", method="lsh").fit(images)  # doctest: +SKIP
        >>> sim.find_similar(queries, k=5).select("origin", "neighbours").first()  # doctest: +SKIP
        >>> sim.similarity_join(images, more_images, threshold=0.3).show()  # doctest: +SKIP
    """

    def __init__(self, featurizer: Any = None, input_col: str = "image", id_col: str = "id",
                 method: str = "exact", bucket_length: float = 0.5, num_hash_tables: int = 8, seed: int = 42,
                 block_size: int = 2048, batch_size: int = 64):
        if method not in METHODS:
            raise ValueError(f"Received an invalid value for `method`, expected one of {', '.join(METHODS)}. "
                             f"Received: method={method!r}")
        self.featurizer = self._featurizer(featurizer, input_col, check_int("batch_size", batch_size))
        self.input_col, self.id_col, self.method = input_col, id_col, method
        self.bucket_length = _check_number("bucket_length", bucket_length, 0.0, float("inf"), low_open=True)
        self.num_hash_tables = check_int("num_hash_tables", num_hash_tables)
        self.block_size = check_int("block_size", block_size)
        self.seed = int(seed)
        self._index: "DataFrame | None" = None
        self._index_rows = 0
        self._lsh = None
        self._cached: list = []

    @staticmethod
    def _featurizer(featurizer: Any, input_col: str, batch_size: int):
        if featurizer is None:
            return None
        import keras

        from zooapi.models.image_classifier import ImageClassifier
        from zooapi.models.image_stages import ImageFeaturizer

        if isinstance(featurizer, ImageClassifier):
            model, prep = featurizer.model, None
        elif isinstance(featurizer, ImageFeaturizer):
            model, prep = featurizer.model, featurizer.feature_preprocessing
        elif isinstance(featurizer, keras.Model):
            model, prep = featurizer, None
        else:
            raise TypeError(f"Received an invalid value for `featurizer`, expected an ImageClassifier, an "
                            f"ImageFeaturizer, a keras.Model or None (embeddings in `input_col`). "
                            f"Received: featurizer={featurizer!r} of type {type(featurizer).__name__}")
        return ImageFeaturizer(model, feature_preprocessing=prep, featuresCol=input_col, predictionCol=_FEATURES,
                               batchSize=batch_size)

    # -- embeddings ------------------------------------------------------

    def embed(self, df: "DataFrame", argument: str = "df") -> "DataFrame":
        """`df` with its L2-normalised embeddings as an `array<float>`
        column `embedding` (every other column kept; lazy).

        Args:
            df: a DataFrame with `input_col`.
            argument: the argument name errors give for `df`.

        Returns:
            The DataFrame with `embedding` added.

        Example:
            >>> sim.embed(images).select("origin", "embedding").show(3)  # doctest: +SKIP
        """
        from pyspark.ml.functions import vector_to_array
        from pyspark.ml.linalg import VectorUDT
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        from zooapi.models.images import check_image_column
        from zooapi.feature.dataframe_checks import check_column

        check_column(df, self.input_col, "input_col")
        if N.EMBEDDING in df.columns:
            raise ValueError(f"Column '{N.EMBEDDING}' already exists in `{argument}`; ImageSimilarity adds it.")
        if self.featurizer is not None:
            check_image_column(df, self.input_col, "input_col", encoded=True)
            raw = self.featurizer.transform(df)
            features = F.col(_FEATURES)
        else:
            dtype = df.schema[self.input_col].dataType
            if isinstance(dtype, VectorUDT):
                raw, features = df, vector_to_array(self.input_col, "float32")
            elif isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.NumericType):
                raw, features = df, F.col(self.input_col)
            else:
                raise TypeError(f"Column '{self.input_col}' (`input_col`) of `{argument}` has type "
                                f"{dtype.simpleString()}; expected embeddings (array<float>, array<double> or a "
                                f"Vector) with featurizer=None, or give a featurizer for images.")
        out = raw.withColumn(N.EMBEDDING, N.l2_normalize(features))
        return out.drop(_FEATURES) if self.featurizer is not None else out

    def _keyed(self, df: "DataFrame", argument: str) -> "DataFrame":
        """`(key, embedding)` of `df`, keyed by `id_col`."""
        from zooapi.feature.dataframe_checks import check_column

        if self.id_col not in df.columns:
            check_column(df, self.id_col, "id_col")
        from pyspark.sql import functions as F

        return self.embed(df, argument).select(F.col(self.id_col).alias(N.KEY), N.EMBEDDING)

    # -- index -----------------------------------------------------------

    def fit(self, df: "DataFrame") -> "ImageSimilarity":
        """Embed and index `df`'s images (cached on the executors).

        Args:
            df: the images to search among, with `input_col` and `id_col`.

        Returns:
            This `ImageSimilarity`, ready for `find_similar`.

        Example:
            >>> sim = ImageSimilarity(clf, id_col="origin").fit(images)  # doctest: +SKIP
        """
        self.unpersist()
        index = self._keyed(df, "df").persist()
        self._cached.append(index)
        self._index_rows = index.count()
        self._index = index
        if self.method == "lsh":
            self._lsh = self._fit_lsh(index)
        logger.info("ImageSimilarity indexed %d images (%s search).", self._index_rows, self.method)
        return self

    def _fit_lsh(self, frame: "DataFrame"):
        from pyspark.ml.feature import BucketedRandomProjectionLSH

        lsh = BucketedRandomProjectionLSH(inputCol="vector", outputCol="hashes", bucketLength=self.bucket_length,
                                          numHashTables=self.num_hash_tables, seed=self.seed)
        return lsh.fit(_with_vector(frame))

    def unpersist(self) -> None:
        """Drop the index and the queries' embeddings from Spark's cache."""
        for frame in self._cached:
            frame.unpersist()
        self._cached = []
        self._index, self._lsh, self._index_rows = None, None, 0

    def _pairs(self, queries: "DataFrame", query_rows: int, index: "DataFrame", index_rows: int,
               k: int | None, threshold: float | None, lsh=None) -> "DataFrame":
        if self.method == "exact":
            return N.exact_pairs(queries, index, query_rows, index_rows, k=k, threshold=threshold,
                                 block_size=self.block_size)
        lsh = lsh or self._fit_lsh(index)
        return N.lsh_pairs(lsh, _with_vector(queries), _with_vector(index), 2.0 if threshold is None else threshold)

    # -- queries ---------------------------------------------------------

    def find_similar(self, query_df: "DataFrame", k: int = 5, output_col: str = "neighbours") -> "DataFrame":
        """Each query image's `k` nearest indexed images.

        Args:
            query_df: images with `input_col` (any other columns are kept;
                no id needed).
            k: the neighbours per query.
            output_col: the column to add, `array<struct<id, distance>>`,
                nearest first; `id` is the indexed image's `id_col`,
                `distance` the Euclidean distance of the unit embeddings
                (0 for the same image). With `method="lsh"` it may hold
                fewer than `k`, or none.

        Returns:
            `query_df` with `output_col` (lazy; the queries' embeddings
            stay cached until `unpersist()`).

        Raises:
            RuntimeError: `fit` was not called.
            ValueError: `k` is not a positive integer, `output_col`
                exists.
            TypeError: `input_col` of `query_df` is of the wrong type.

        Example:
            >>> sim.find_similar(queries, k=5).select("origin", "neighbours").show(3)  # doctest: +SKIP
        """
        from pyspark.sql import functions as F

        k = check_int("k", k)
        if self._index is None:
            raise RuntimeError("ImageSimilarity is not fitted; call `fit(df)` with the images to search first.")
        if output_col in query_df.columns:
            raise ValueError(f"Column '{output_col}' already exists in `query_df`; choose another `output_col`.")
        embedded = self.embed(query_df, "query_df").withColumn(_QUERY, F.monotonically_increasing_id()).persist()
        self._cached.append(embedded)
        query_rows = embedded.count()
        queries = embedded.select(F.col(_QUERY).alias(N.KEY), N.EMBEDDING)
        nearest = N.top_k(self._pairs(queries, query_rows, self._index, self._index_rows, k, None, self._lsh), k)
        empty = F.array().cast(nearest.schema["neighbours"].dataType)
        return (embedded.join(nearest.withColumnRenamed("query_key", _QUERY), _QUERY, "left")
                .withColumn(output_col, F.coalesce("neighbours", empty))
                .drop(_QUERY, N.EMBEDDING, *(["neighbours"] if output_col != "neighbours" else [])))

    def similarity_join(self, df_a: "DataFrame", df_b: "DataFrame", threshold: float) -> "DataFrame":
        """Every pair of an image of `df_a` and one of `df_b` whose
        embeddings lie within `threshold` (Spark ML's `approxSimilarityJoin`
        with `method="lsh"`, which may miss pairs; all of them with
        "exact"). Needs no `fit`.

        Args:
            df_a: images with `input_col` and `id_col`.
            df_b: the same for the other side (may be `df_a`: each image
                then pairs with itself at distance 0).
            threshold: the largest distance kept, in [0, 2].

        Returns:
            A DataFrame `(id_a, id_b, distance)` (lazy; both sides'
            embeddings stay cached until `unpersist()`).

        Raises:
            ValueError: `threshold` out of [0, 2]; a missing `id_col`.

        Example:
            >>> sim.similarity_join(photos, photos, threshold=0.2).where("id_a < id_b").show()  # doctest: +SKIP
        """
        threshold = _check_number("threshold", threshold, 0.0, 2.0)
        a, b = self._keyed(df_a, "df_a").persist(), self._keyed(df_b, "df_b").persist()
        self._cached += [a, b]
        rows = (a.count(), b.count()) if self.method == "exact" else (0, 0)
        pairs = self._pairs(a, rows[0], b, rows[1], None, threshold)
        if self.method == "lsh":
            pairs = pairs.where(pairs["distance"] <= threshold)
        return pairs.withColumnsRenamed({"query_key": "id_a", "index_key": "id_b"})


def _with_vector(frame: "DataFrame") -> "DataFrame":
    from pyspark.ml.functions import array_to_vector

    return frame.withColumn("vector", array_to_vector(N.EMBEDDING))
