"""zooapi.models.datasets: MovieLens-100k from the recbole wheel."""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.both_sessions


def test_movielens_100k_has_the_published_counts(spark):
    from pyspark.sql import functions as F

    from zooapi.models.datasets import movielens_100k

    if importlib.util.find_spec("recbole") is None:
        pytest.skip("the data wheel is missing: pip install --no-deps recbole (./dev installs it)")
    ratings, users, items = movielens_100k(spark)
    row = ratings.agg(F.count("*"), F.countDistinct("user"), F.countDistinct("item"), F.min("rating"),
                      F.max("rating"), F.min("user"), F.max("item")).first()
    assert tuple(row) == (100000, 943, 1682, 1, 5, 1, 1682)
    assert users.count() == 943 and items.count() == 1682
    assert items.where("year is null").count() == 2  # the file's "unkonwn" years, read as null
    toy_story = items.where("item = 1").first()
    assert (toy_story.title, toy_story.year, toy_story.genres) == ("Toy Story", 1995,
                                                                   ["Animation", "Children's", "Comedy"])
    assert users.where("user = 1").first().asDict() == {"user": 1, "age": 24, "gender": "M",
                                                       "occupation": "technician", "zip_code": "85711"}


def test_missing_data_says_what_to_install(monkeypatch):
    from zooapi.models import datasets

    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps 'recbole>=1.2,<1.3'"):
        datasets.movielens_100k_folder()
