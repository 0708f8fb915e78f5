"""Driver side of training, evaluation and prediction over Spark DataFrames.

Example:
    >>> from zooapi import engine
    >>> history = engine.fit(model, df, "features", "label", epochs=3)  # doctest: +SKIP
    >>> scored = engine.predict(model, df, "features")  # doctest: +SKIP
"""

from zooapi.engine.inference import evaluate, predict
from zooapi.engine.training import fit

__all__ = ["evaluate", "fit", "predict"]
