"""Nearest neighbours between two DataFrames of L2-normalised embeddings, on
the executors: the exact search (blocks of both sides, crossed, each pair of
blocks scored with one NumPy matrix product in `mapInArrow`) and the
approximate one (Spark ML's `BucketedRandomProjectionLSH`).

Both take frames of `(key, embedding)`: `embedding` an `array<float>` of
unit length (`l2_normalize`). Distances are Euclidean between unit vectors,
in [0, 2] (cosine similarity = 1 - distance^2 / 2).

Example:
    >>> from zooapi.models.neighbours import exact_pairs, top_k  # doctest: +SKIP
    >>> top_k(exact_pairs(queries, index, k=5), 5)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["block", "exact_pairs", "l2_normalize", "lsh_pairs", "top_k"]

KEY, EMBEDDING = "key", "embedding"  # the columns of the frames this module takes
_ROWS = "__zooapi_rows"


def l2_normalize(column: "Column") -> "Column":
    """`column` (an array of numbers) divided by its L2 norm, as
    `array<float>`; an all-zero vector stays zero."""
    from pyspark.sql import functions as F

    values = F.transform(column, lambda x: x.cast("double"))
    # The division runs in `aggregate`'s finish function, once per row: a norm
    # expression inside the `transform` lambda would be summed again for every
    # element (d^2 work: a 2,304-wide embedding took minutes for 900 rows).
    return F.aggregate(values, F.lit(0.0), lambda acc, x: acc + x * x,
                       lambda total: F.transform(values, lambda x: (x / F.greatest(F.sqrt(total), F.lit(1e-12)))
                                                 .cast("float")))


def block(frame: "DataFrame", rows: int, block_size: int) -> "DataFrame":
    """`frame` (key, embedding) as blocks of about `block_size` rows: one row
    per block holding `rows: array<struct<key, embedding>>`. The block of a
    row is a hash of its key, so a recomputed frame gives the same blocks."""
    from pyspark.sql import functions as F

    blocks = max(1, math.ceil(rows / block_size))
    return (frame.groupBy(F.pmod(F.xxhash64(KEY), F.lit(blocks)).alias("__block"))
            .agg(F.collect_list(F.struct(KEY, EMBEDDING)).alias(_ROWS)).select(_ROWS))


def _unpack(rows: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """One block's keys and its `(n, dim)` float32 embeddings."""
    keys = rows.field(KEY)
    embeddings = rows.field(EMBEDDING)
    n = len(embeddings)
    flat = embeddings.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return keys, flat.reshape(n, -1) if n else np.zeros((0, 0), np.float32)


def _score_blocks(batches: Iterator[pa.RecordBatch], k: int | None, threshold: float | None,
                  schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        queries, index = batch.column("q"), batch.column("i")
        for r in range(batch.num_rows):
            q_keys, q = _unpack(queries[r].values)
            i_keys, x = _unpack(index[r].values)
            if len(q_keys) == 0 or len(i_keys) == 0:
                continue
            if q.shape[1] != x.shape[1]:
                raise ValueError(f"Embeddings of different lengths: {q.shape[1]} (queries) and {x.shape[1]} (index).")
            distance = np.sqrt(np.maximum(2.0 - 2.0 * (q @ x.T), 0.0))
            if k is not None:
                keep = min(k, x.shape[0])
                cols = np.argpartition(distance, keep - 1, axis=1)[:, :keep]
                rows = np.repeat(np.arange(q.shape[0]), keep)
                cols = cols.ravel()
            else:
                rows, cols = np.nonzero(distance <= threshold)
            yield pa.RecordBatch.from_arrays(
                [q_keys.take(pa.array(rows)), i_keys.take(pa.array(cols)),
                 pa.array(distance[rows, cols].astype(np.float64))], schema=schema)


def exact_pairs(queries: "DataFrame", index: "DataFrame", query_rows: int, index_rows: int,
                k: int | None = None, threshold: float | None = None, block_size: int = 2048) -> "DataFrame":
    """Exact search: `(query_key, index_key, distance)` for each query's `k`
    nearest index rows, or every pair within `threshold`.

    Both frames are cut into blocks of ~`block_size` rows, the blocks are
    crossed (a Spark cross join of `query blocks x index blocks` rows), and
    each pair of blocks is scored in one matrix product. With `k`, each query
    gets its `k` nearest of every index block (`top_k` keeps the best `k`).
    """
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("query_key", queries.schema[KEY].dataType),
                           T.StructField("index_key", index.schema[KEY].dataType),
                           T.StructField("distance", T.DoubleType())])
    arrow_schema = pa.schema([pa.field("query_key", _arrow_type(schema["query_key"].dataType)),
                              pa.field("index_key", _arrow_type(schema["index_key"].dataType)),
                              pa.field("distance", pa.float64())])
    crossed = (block(queries, query_rows, block_size).withColumnRenamed(_ROWS, "q")
               .crossJoin(block(index, index_rows, block_size).withColumnRenamed(_ROWS, "i")))
    return crossed.mapInArrow(lambda batches: _score_blocks(batches, k, threshold, arrow_schema), schema)


def _arrow_type(spark_type) -> pa.DataType:
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(spark_type)


def lsh_pairs(lsh_model, queries: "DataFrame", index: "DataFrame", threshold: float) -> "DataFrame":
    """Approximate search with a fitted `BucketedRandomProjectionLSHModel`
    (its input column a Vector `embedding`): `(query_key, index_key,
    distance)` for the pairs that share a bucket in some hash table and lie
    within `threshold`."""
    from pyspark.sql import functions as F

    # The default `distCol`: over Spark Connect (PySpark 4.3) the join names
    # the column "distCol" whatever `distCol` says.
    joined = lsh_model.approxSimilarityJoin(queries, index, float(threshold))
    return joined.select(F.col(f"datasetA.{KEY}").alias("query_key"), F.col(f"datasetB.{KEY}").alias("index_key"),
                         F.col("distCol").alias("distance"))


def top_k(pairs: "DataFrame", k: int) -> "DataFrame":
    """`(query_key, neighbours)`: each query's `k` nearest as
    `array<struct<id, distance>>`, nearest first (ties by id)."""
    from pyspark.sql import functions as F

    nearest = F.slice(F.array_sort(F.collect_list(F.struct("distance", F.col("index_key").alias("id")))), 1, k)
    return (pairs.groupBy("query_key").agg(nearest.alias("n"))
            .select("query_key", F.transform("n", lambda s: F.struct(s["id"].alias("id"),
                                                                      s["distance"].alias("distance")))
                    .alias("neighbours")))
