"""Public recommendation data sets as Spark DataFrames.

`movielens_100k(spark)` reads GroupLens' MovieLens-100k (100,000 ratings
1-5 of 1,682 movies by 943 users, with user and movie features) from the
copy that the `recbole` wheel ships (`recbole/dataset_example/ml-100k/`).
Install that wheel without its dependencies (it would pull in PyTorch):
`pip install --no-deps recbole` (`./dev` does it). The files are found with
`importlib.util.find_spec`; recbole itself is never imported. The data is
under GroupLens' terms: zooapi does not redistribute it.

Example:
    >>> from zooapi.models.datasets import movielens_100k  # doctest: +SKIP
    >>> ratings, users, items = movielens_100k(spark)  # doctest: +SKIP
    >>> ratings.count()  # doctest: +SKIP
    100000
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["MovieLens", "movielens_100k", "movielens_100k_folder"]

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

    ratings = read("inter").toDF("user", "item", "rating", "timestamp").select(
        F.col("user").cast("int"), F.col("item").cast("int"), F.col("rating").cast("double").cast("int"),
        F.col("timestamp").cast("double").cast("long"))
    users = read("user").toDF("user", "age", "gender", "occupation", "zip_code").select(
        F.col("user").cast("int"), F.col("age").cast("int"), "gender", "occupation", "zip_code")
    items = read("item").toDF("item", "title", "year", "genres").select(
        F.col("item").cast("int"), "title", F.col("year").try_cast("int"),  # one year is "unkonwn"
        F.split(F.coalesce(F.col("genres"), F.lit("unknown")), " ").alias("genres"))
    return MovieLens(ratings, users, items)
