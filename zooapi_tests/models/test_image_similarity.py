"""ImageSimilarity: the exact search equals a NumPy brute force, the LSH
search recalls most of the exact neighbours, augmented digits are found
among the top 5 of their originals, every public error, and one search on
`local-cluster` (last: it stops the `local[2]` session)."""

from __future__ import annotations

import numpy as np
import pytest

from zooapi.models import ImageClassifier, ImageSimilarity
from zooapi_tests.models.conftest import SIZE, colored

pytestmark = pytest.mark.both_sessions


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(n: int, dim: int = 16, centres: int = 20, spread: float = 0.3, seed: int = 0) -> np.ndarray:
    """`n` embeddings around `centres` random centres (as image embeddings
    of a few kinds of images cluster); the same centres for every `seed`."""
    c = np.random.default_rng(dim * 1000 + centres).normal(size=(centres, dim))
    rng = np.random.default_rng(seed)
    return (c[rng.integers(0, centres, n)] + spread * rng.normal(size=(n, dim))).astype(np.float32)


def frame(spark, x: np.ndarray, id_name: str = "id", start: int = 0):
    return spark.createDataFrame([(start + i, v.tolist()) for i, v in enumerate(x)], f"{id_name} long, emb array<float>")


def brute_force(queries: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(np.maximum(((unit(queries)[:, None, :] - unit(index)[None, :, :]) ** 2).sum(-1), 0))
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def neighbours_of(result, key: str = "qid") -> dict:
    return {r[key]: ([n.id for n in r.neighbours], [n.distance for n in r.neighbours]) for r in result.collect()}


def test_exact_neighbours_equal_a_numpy_brute_force_across_blocks(spark):
    index, queries = clustered(300, seed=1), clustered(25, seed=2)
    sim = ImageSimilarity(None, input_col="emb", method="exact", block_size=64).fit(frame(spark, index))
    got = neighbours_of(sim.find_similar(frame(spark, queries, "qid"), k=4))
    ids, dist = brute_force(queries, index, 4)
    assert sorted(got) == list(range(25))
    for q in range(25):
        assert got[q][0] == ids[q].tolist()
        np.testing.assert_allclose(got[q][1], dist[q], atol=1e-5)  # float32 embeddings, distances <= 2


def test_similarity_join_exact_gives_every_pair_within_threshold_and_lsh_a_subset(spark):
    a, b = clustered(60, seed=3), clustered(80, seed=4)
    d = np.sqrt(np.maximum(((unit(a)[:, None] - unit(b)[None]) ** 2).sum(-1), 0))
    expected = {(i, 1000 + j) for i, j in zip(*np.nonzero(d <= 0.4))}
    assert 20 < len(expected) < 60 * 80 / 4  # a threshold that keeps some pairs, not all
    for method in ("exact", "lsh"):
        sim = ImageSimilarity(None, input_col="emb", method=method, block_size=32)
        pairs = sim.similarity_join(frame(spark, a), frame(spark, b, start=1000), threshold=0.4).collect()
        got = {(r.id_a, r.id_b) for r in pairs}
        assert all(r.distance <= 0.4 for r in pairs)
        if method == "exact":
            assert got == expected
        else:
            # Each pair within 0.4 shares a bucket of width 0.5 in a table with probability > 0.5; with
            # 8 tables it is missed with probability < 0.5^8.
            assert got <= expected and len(got) >= 0.9 * len(expected)


def test_lsh_recall_at_5_of_the_exact_neighbours(spark):
    index, queries = clustered(2000, dim=32, centres=50, seed=5), clustered(100, dim=32, centres=50, seed=5)[:100]
    ids, _ = brute_force(queries, index, 5)
    sim = ImageSimilarity(None, input_col="emb", method="lsh").fit(frame(spark, index))
    got = neighbours_of(sim.find_similar(frame(spark, queries, "qid"), k=5))
    recall = np.mean([len(set(got.get(q, ([], []))[0]) & set(ids[q])) / 5 for q in range(100)])
    assert recall >= 0.9, recall
    sim.unpersist()


def _write_pngs(root, images: np.ndarray, names: list[str]) -> None:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names):
        Image.fromarray(image).save(root / f"{name}.png")


@pytest.mark.slow
def test_augmented_digits_are_found_among_the_top_5_of_their_originals(spark_few_files, pretrained_cnn, digit_images,
                                                                       tmp_path):
    from pyspark.sql import functions as F

    from zooapi.feature import ImageBrightness, ImageRandomTranslation
    from zooapi.nnframes import NNImageReader

    images, labels = digit_images
    held_out = np.flatnonzero(labels >= 5)[:200]  # digits the backbone never saw
    originals = np.stack([colored(images[i], SIZE) for i in held_out])
    augment = ImageRandomTranslation(0.05, 0.05, fill_mode="constant", seed=1) * ImageBrightness(-15, 15, seed=2)
    copies = np.clip(augment(originals.astype("float32")), 0, 255).round().astype(np.uint8)
    assert np.abs(copies.astype(int) - originals).mean() > 5  # the copies do differ
    names = [f"{i:04d}" for i in held_out]
    _write_pngs(tmp_path / "originals", originals, names)
    _write_pngs(tmp_path / "copies", copies, names)
    read = lambda folder: NNImageReader.readImages(str(tmp_path / folder), spark_few_files).withColumn(
        "name", F.regexp_extract("origin", r"(\d+)\.png$", 1))

    # The digit backbone's last feature map, not pooled: pooling keeps what tells digits apart, the map
    # also keeps what tells one image of a digit from another (recall@5 0.92 pooled, 0.985 not, in NumPy).
    embedder = ImageClassifier(pretrained_cnn, feature_layer="conv3", pooling=None)
    sim = ImageSimilarity(embedder, id_col="name").fit(read("originals"))
    found = sim.find_similar(read("copies"), k=5).select("name", "neighbours.id").collect()
    recall = np.mean([r.name in r.id for r in found])
    assert len(found) == 200 and recall >= 0.9, recall
    sim.unpersist()


def test_wide_embeddings_are_normalised_once_per_row(spark):
    import time

    x = clustered(200, dim=4096, centres=5, seed=3)
    index = frame(spark, x).cache()
    index.count()
    sim = ImageSimilarity(None, input_col="emb")
    start = time.perf_counter()
    got = np.stack(sim.embed(index).orderBy("id").select("embedding").toPandas().embedding)
    seconds = time.perf_counter() - start
    np.testing.assert_allclose(got, unit(x), atol=1e-6)
    # A 4,096-wide embedding (a ResNet50 or an unpooled feature map is that wide) in a second or two: the
    # norm is summed once per row, not again for each of the 4,096 elements (that took minutes).
    assert seconds < 30, seconds
    index.unpersist()


def test_bad_input_is_explained(spark):
    index = frame(spark, clustered(10))
    with pytest.raises(ValueError, match=r"`method`, expected one of exact, lsh. Received: method='kd'"):
        ImageSimilarity(None, method="kd")
    with pytest.raises(TypeError, match=r"`featurizer`, expected an ImageClassifier.*Received: featurizer='resnet'"):
        ImageSimilarity("resnet")
    with pytest.raises(ValueError, match=r"`bucket_length`.*Received: bucket_length=0"):
        ImageSimilarity(None, bucket_length=0)
    sim = ImageSimilarity(None, input_col="emb")
    with pytest.raises(RuntimeError, match="not fitted"):
        sim.find_similar(index, 3)
    with pytest.raises(ValueError, match=r"Column 'key' \(`id_col`\) is not in the DataFrame"):
        ImageSimilarity(None, input_col="emb", id_col="key").fit(index)
    sim.fit(index)
    for k in (0, -2, True, 2.5):
        with pytest.raises(ValueError, match=rf"`k`, expected a positive integer. Received: k={k!r}"):
            sim.find_similar(index, k)
    words = spark.createDataFrame([(1, "a cat")], "id long, emb string")
    with pytest.raises(TypeError, match=r"Column 'emb' \(`input_col`\) of `query_df` has type string; expected "
                                        r"embeddings"):
        sim.find_similar(words, 3)
    with pytest.raises(TypeError, match=r"Column 'emb' \(`input_col`\) has type array<float>; expected Spark's "
                                        r"image struct"):
        ImageSimilarity(ImageClassifier(_tiny_cnn()), input_col="emb").fit(index)
    with pytest.raises(ValueError, match=r"`threshold`, expected a number in \[0.0, 2.0\]. Received: threshold=3"):
        sim.similarity_join(index, index, 3)
    with pytest.raises(ValueError, match="Column 'neighbours' already exists in `query_df`"):
        sim.find_similar(index.withColumn("neighbours", index["id"]), 3)
    sim.unpersist()


def test_vector_embeddings_and_queries_without_candidates(spark):
    from pyspark.ml.functions import array_to_vector

    x = clustered(50, seed=6)
    index = frame(spark, x).withColumn("emb", array_to_vector("emb"))
    exact = ImageSimilarity(None, input_col="emb").fit(index)
    got = neighbours_of(exact.find_similar(index.withColumnRenamed("id", "qid"), k=1))
    assert all(got[q][0] == [q] and got[q][1][0] < 1e-3 for q in got)  # each vector is its own nearest
    # A query far from every indexed vector shares no narrow bucket: documented as an empty array.
    lsh = ImageSimilarity(None, input_col="emb", method="lsh", bucket_length=0.01, num_hash_tables=1).fit(index)
    far = spark.createDataFrame([(0, [-v for v in x[0].tolist()])], "qid long, emb array<float>")
    assert lsh.find_similar(far, 3).first().neighbours == []
    exact.unpersist()
    lsh.unpersist()


def _tiny_cnn():
    import keras

    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="tiny")


def test_find_similar_on_local_cluster_equals_the_brute_force(spark_cluster):
    index, queries = clustered(200, seed=7), clustered(10, seed=8)
    sim = ImageSimilarity(None, input_col="emb", block_size=50).fit(frame(spark_cluster, index).repartition(4))
    got = neighbours_of(sim.find_similar(frame(spark_cluster, queries, "qid"), k=3))
    ids, _ = brute_force(queries, index, 3)
    assert {q: got[q][0] for q in got} == {q: ids[q].tolist() for q in range(10)}
    sim.unpersist()
