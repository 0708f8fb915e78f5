"""`zooapi.feature.spark_image` keeps its names, now defined once in the feed."""

from zooapi.feature import spark_image
from zooapi.feed import spark_image as feed_spark_image


def test_feature_spark_image_names_are_the_feeds():
    for name in spark_image.__all__:
        assert getattr(spark_image, name) is getattr(feed_spark_image, name), name
