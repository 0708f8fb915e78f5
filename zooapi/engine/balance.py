"""Dealing rows to training workers in equal shares, whatever the
DataFrame's partitioning (a Parquet file read as one full and one empty
split, a filter that empties a partition, a union, a coalesce).

The barrier job counts the rows of every partition before it trains
(`zooapi.worker.supervisor`); when they are unequal, `rebalance` gives every
row a worker number, its index among all rows modulo the number of workers
(the index is its partition's offset, from the counts, plus its position in
its partition), and hash-partitions the rows on a key that Spark's hash sends
to exactly that worker: the workers' shares then differ by at most one row.
Only DataFrame functions are used, so this works over Spark Connect too.
`count_partition_rows` counts the same way with a Spark job, to inspect a
DataFrame's layout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

_KEY_COLUMN = "__zooapi_worker_key"
# monotonically_increasing_id() is the partition id << 33 plus the row's position.
_POSITION_MASK = (1 << 33) - 1
_MASK32 = 0xFFFFFFFF
_SPARK_HASH_SEED = 42  # Murmur3Hash's seed, as HashPartitioning uses it


@dataclass
class PartitionRows:
    """Rows per partition (by partition id) of the training data, and of the
    validation rows when they travel in the same DataFrame."""

    train: dict[int, int] = field(default_factory=dict)
    validation: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.train.values())


def count_partition_rows(data, split_column: str | None = None) -> PartitionRows:
    """Counts the rows of every partition of `data` with one aggregation
    (a partition without rows is absent). With `split_column` (0: training
    row, 1: validation row) the two kinds are counted apart."""
    from pyspark.sql import functions as F

    keys = [F.spark_partition_id().alias("partition")]
    if split_column is not None:
        keys.append(F.col(split_column).alias("split"))
    counts = PartitionRows()
    for row in data.select(*keys).groupBy(*[k for k in ("partition", "split")[:len(keys)]]).count().collect():
        split = row["split"] if split_column is not None else 0
        (counts.validation if split else counts.train)[row["partition"]] = row["count"]
    return counts


def _mix_k1(k: int) -> int:
    k = (k * 0xCC9E2D51) & _MASK32
    k = ((k << 15) | (k >> 17)) & _MASK32
    return (k * 0x1B873593) & _MASK32


def _mix_h1(h: int, k: int) -> int:
    h ^= k
    h = ((h << 13) | (h >> 19)) & _MASK32
    return (h * 5 + 0xE6546B64) & _MASK32


def spark_hash_long(value: int, seed: int = _SPARK_HASH_SEED) -> int:
    """Spark's `hash()` of a `bigint` value (Murmur3 x86_32 of its two
    32-bit halves, low first), as a signed 32-bit int."""
    value &= 0xFFFFFFFFFFFFFFFF
    h = _mix_h1(seed, _mix_k1(value & _MASK32))
    h = _mix_h1(h, _mix_k1(value >> 32))
    h ^= 8
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    h ^= h >> 16
    return h - (1 << 32) if h >= 1 << 31 else h


def worker_keys(num_workers: int) -> list[int]:
    """For each worker w, the smallest non-negative `bigint` that
    `repartition(num_workers, key)` sends to partition w."""
    keys: list[int | None] = [None] * num_workers
    candidate, missing = 0, num_workers
    while missing:
        target = spark_hash_long(candidate) % num_workers  # Python's % is Spark's pmod here
        if keys[target] is None:
            keys[target], missing = candidate, missing - 1
        candidate += 1
    return keys  # type: ignore[return-value]


def first_workers(counts: dict[int, int], num_workers: int) -> dict[int, int]:
    """The worker of each partition's first row: rows are dealt to workers
    in turn, in the order of their index among all rows."""
    starts, seen = {}, 0
    for partition in sorted(counts):
        starts[partition] = seen % num_workers
        seen += counts[partition]
    return starts


def rebalance(data, counts: PartitionRows, num_workers: int):
    """`data` in `num_workers` partitions whose training rows (and
    validation rows, apart) differ by at most one row, given `counts` of
    `data` as it is."""
    from pyspark.sql import functions as F

    starts = {**first_workers(counts.validation, num_workers), **first_workers(counts.train, num_workers)}
    partitions = max(starts, default=-1) + 1
    start = F.element_at(F.array(*[F.lit(starts.get(p, 0)) for p in range(partitions)]),
                         F.spark_partition_id() + 1) if partitions else F.lit(0)
    position = F.monotonically_increasing_id().bitwiseAND(F.lit(_POSITION_MASK))
    worker = F.pmod(start.cast("long") + position, F.lit(num_workers))
    key = F.element_at(F.array(*[F.lit(k).cast("long") for k in worker_keys(num_workers)]),
                       (worker + 1).cast("int"))
    return data.withColumn(_KEY_COLUMN, key).repartition(num_workers, _KEY_COLUMN).drop(_KEY_COLUMN)


def worker_shares(counts: dict[int, int], num_workers: int) -> list[int]:
    """The training rows each worker gets from `rebalance`."""
    total = sum(counts.values())
    return [total // num_workers + (1 if w < total % num_workers else 0) for w in range(num_workers)]
