"""Image similarity search: exact against LSH, recall@k and time.

Generates N unit embeddings (default 10,000 and 100,000; 64 dimensions)
clustered as image embeddings are (points around 1,000 random centres, so
every query has true near neighbours), and 200 queries drawn the same way.
For each N it indexes the embeddings with `ImageSimilarity(None,
method=...)` (`fit`: normalise, cache, count; LSH: fit the projections) and
times `find_similar(queries, k)` forced with the `noop` sink, on Spark
`local[N]` (`--cores`, default 2): the exact search (blocks crossed, one
matrix product per pair of blocks) and the approximate one
(`BucketedRandomProjectionLSH`, `approxSimilarityJoin`). Times are the best
of 2 after one untimed run. recall@k is the share of the exact search's k
neighbours that the LSH search finds, averaged over the queries; the exact
search is checked against a NumPy brute force first.

Run: `python bench/image_similarity.py` (`--sizes 10000 100000`, `--k 10`,
`--queries 200`, `--bucket-length 0.5`, `--tables 8`, `--cores N`).
Prints one line per size and method, and the LSH speed-up and recall last.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np


def embeddings(n: int, dim: int, seed: int, centres: int = 1000, spread: float = 0.15) -> np.ndarray:
    c = np.random.default_rng(1234).normal(size=(centres, dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centres, n)] + spread * rng.normal(size=(n, dim)) / np.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def frame(spark, x: np.ndarray, id_name: str):
    import pandas as pd

    pdf = pd.DataFrame({id_name: np.arange(len(x), dtype=np.int64), "emb": list(x)})
    return spark.createDataFrame(pdf, f"{id_name} long, emb array<float>")


def timed(fn, runs: int = 2) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--bucket-length", type=float, default=0.5)
    parser.add_argument("--tables", type=int, default=8)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import zooapi
    from zooapi.models import ImageSimilarity

    spark = zooapi.init_nncontext("bench-image-similarity", master=f"local[{args.cores}]")
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    q = embeddings(args.queries, args.dim, seed=2)
    queries = frame(spark, q, "qid").cache()
    queries.count()
    summary = []
    for n in args.sizes:
        x = embeddings(n, args.dim, seed=1)
        index = frame(spark, x, "id").repartition(args.cores * 2).cache()
        index.count()
        found, seconds = {}, {}
        for method in ("exact", "lsh"):
            sim = ImageSimilarity(None, input_col="emb", method=method, bucket_length=args.bucket_length,
                                  num_hash_tables=args.tables)
            start = time.perf_counter()
            sim.fit(index)
            fit_s = time.perf_counter() - start
            result = sim.find_similar(queries, args.k)
            seconds[method] = timed(lambda: result.write.format("noop").mode("overwrite").save())
            found[method] = {r.qid: [nb.id for nb in r.neighbours] for r in result.select("qid", "neighbours").collect()}
            print(f"N={n:>7,} {method:>5}: fit {fit_s:6.2f} s, find_similar({args.queries} queries, k={args.k}) "
                  f"{seconds[method]:6.2f} s")
            sim.unpersist()
        exact_ids = np.argsort(-(q @ x.T), axis=1)[:, :args.k]
        agree = np.mean([len(set(found["exact"][i]) & set(exact_ids[i])) / args.k for i in range(args.queries)])
        recall = np.mean([len(set(found["lsh"].get(i, [])) & set(found["exact"][i])) / args.k
                          for i in range(args.queries)])
        summary.append((n, seconds["exact"] / seconds["lsh"], recall, agree))
        index.unpersist()
    spark.stop()
    for n, speedup, recall, agree in summary:
        print(f"N={n:>7,}: exact = NumPy brute force on {agree:.1%} of neighbours; "
              f"LSH recall@{args.k} {recall:.3f}, speed-up exact/LSH {speedup:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
