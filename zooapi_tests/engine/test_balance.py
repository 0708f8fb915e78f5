"""Equal shares of rows for every training worker, whatever the partitioning."""

import pytest

from zooapi.engine.balance import (count_partition_rows, first_workers, rebalance, spark_hash_long, worker_keys,
                                   worker_shares)
from zooapi.worker.supervisor import is_balanced
from zooapi_tests.conftest import partition_count

pytestmark = pytest.mark.both_sessions


def _sizes(df):
    counted = count_partition_rows(df).train
    return [counted.get(p, 0) for p in range(partition_count(df))]


def test_the_python_hash_is_the_one_spark_partitions_with(spark):
    from pyspark.sql import functions as F

    values = list(range(-50, 200)) + [2**31, -(2**31) - 1, 2**40 + 7, 2**63 - 1, -(2**63)]
    df = spark.createDataFrame([(v,) for v in values], "v long")
    expected = {r["v"]: r["h"] for r in df.select("v", F.hash("v").alias("h")).collect()}
    assert {v: spark_hash_long(v) for v in values} == expected


@pytest.mark.parametrize("workers", [1, 2, 3, 7, 16])
def test_each_worker_key_hashes_to_its_own_worker(workers):
    keys = worker_keys(workers)
    assert [spark_hash_long(k) % workers for k in keys] == list(range(workers))


def test_balance_allows_a_few_percent_and_never_an_empty_share():
    assert is_balanced([1000, 990]) and is_balanced([3, 4]) and is_balanced([5, 5, 5])
    assert not is_balanced([1000, 900]) and not is_balanced([2, 0]) and not is_balanced([1, 3])
    assert worker_shares({0: 7, 3: 0, 5: 4}, 3) == [4, 4, 3]
    assert first_workers({0: 7, 1: 0, 2: 4}, 3) == {0: 0, 1: 1, 2: 1}


def test_skewed_empty_and_union_partitions_are_dealt_within_one_row(spark):
    from pyspark.sql import functions as F

    # partition 0 keeps 3 rows, partition 1 keeps 990, partition 2 none; then a union adds two more
    skewed = spark.range(0, 3000, numPartitions=3).where(
        (F.col("id") < 3) | ((F.col("id") >= 1000) & (F.col("id") < 1990)))
    data = skewed.unionByName(spark.range(5000, 5101, numPartitions=2))
    counts = count_partition_rows(data)
    assert counts.total == 3 + 990 + 101
    assert sorted(counts.train.values())[:2] == [3, 50]
    for workers in (2, 3):
        out = rebalance(data, counts, workers)
        sizes = _sizes(out)
        assert len(sizes) == workers and max(sizes) - min(sizes) <= 1 and sum(sizes) == 1094
        assert sizes == worker_shares(counts.train, workers)
        # every row exactly once
        got = out.agg(F.count("id"), F.countDistinct("id"), F.sum("id")).first()
        assert tuple(got) == (1094, 1094, sum(range(3)) + sum(range(1000, 1990)) + sum(range(5000, 5101)))
