"""The main demo: train a digit classifier on a Spark DataFrame with 2 workers.

Run it with `./dev demo` (or `python -m zooapi.demo`). It loads scikit-learn's
digits (1,797 8x8 images), trains a small Keras network on 2 Spark barrier
tasks, prints per-epoch loss, accuracy and throughput, evaluates on a
held-out split, writes the predictions as Parquet and shows five of them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

logger = logging.getLogger("zooapi.demo")


def digits_dataframe(spark):
    """scikit-learn's digits as a DataFrame: `image` (64 floats in [0, 1]) and `label`."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rows = [((x / 16.0).tolist(), int(y)) for x, y in zip(digits.data, digits.target)]
    return spark.createDataFrame(rows, "image array<float>, label int")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", default=None, help="Spark master (default: local[*])")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", default=None, help="where to write the predictions (Parquet)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)

    import keras

    import zooapi
    from zooapi import engine

    spark = zooapi.init_nncontext("zooapi-demo", master=args.master)
    df = digits_dataframe(spark)
    train, test = df.randomSplit([0.8, 0.2], seed=42)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    engine.fit(model, train, "image", "label", batch_size=64, epochs=args.epochs,
               num_workers=args.workers, seed=42, verbose=0)
    scores = engine.evaluate(model, test, "image", "label")
    logger.info("Held-out accuracy: %.4f (loss %.4f)", scores["accuracy"], scores["loss"])

    output = args.output or os.path.join(tempfile.mkdtemp(prefix="zooapi-demo-"), "predictions.parquet")
    from zooapi.keras import predicted_class

    scored = engine.predict(model, test, "image", prediction_col="probabilities")
    scored = scored.withColumn("predicted", predicted_class("probabilities"))
    scored.select("label", "predicted", "probabilities").write.mode("overwrite").parquet(output)
    logger.info("Predictions written to %s", output)
    spark.read.parquet(output).select("label", "predicted").show(5)
    spark.stop()
    if scores["accuracy"] < 0.95:
        logger.error("Held-out accuracy %.4f is below 0.95", scores["accuracy"])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
