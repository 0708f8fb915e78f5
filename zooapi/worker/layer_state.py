"""Variables that layers change themselves while training, kept the same on
every worker.

The optimizer keeps trainable weights identical on every worker (it applies
all-reduced gradients), but layers also update state of their own in the
forward pass: `BatchNormalization`'s moving mean and variance are updated
from each worker's local batch, so without help every worker ends with its
own statistics.

zooapi **averages** that state over the workers at the end of every train
call (every few steps). The moving statistics are exponential moving
averages, linear in the batch statistics, so averaging the workers' copies
once per call gives exactly the averages that averaging every step would,
which are the moving statistics of the per-worker batch statistics averaged
over the global batch; taking the chief's copy instead would throw away what
the other workers' rows said. Training-mode forward passes use the batch's
own statistics, not the moving ones, so the gradients do not depend on when
the averaging happens. `BatchNormalization(synchronized=True)` computes
batch statistics over the global batch (Keras all-reduces them in the
replica context the train step runs in), so its moving statistics are the
same everywhere anyway.

Integer state (random-generator seeds) is not averaged: every worker starts
from the same seed and draws the same number of times, so it advances alike.
`fingerprints` lets the workers check, at every epoch end, that all of this
holds: it is cheap (a CRC per variable) and names what differs.
"""

from __future__ import annotations

import zlib

import numpy as np

from zooapi.worker.keras_internals import sublayers


def updated_state(model) -> list:
    """The floating-point non-trainable weights of trainable layers: what a
    layer updates itself while training (BatchNormalization's moving
    statistics), not the weights of frozen layers, which never change."""
    frozen = {id(v) for layer in sublayers(model) if not layer.trainable for v in layer.weights}
    if not model.trainable:
        return []
    return [v for v in model.non_trainable_weights
            if id(v) not in frozen and np.dtype(v.dtype).kind == "f"]


def fingerprints(model) -> np.ndarray:
    """One CRC-32 per weight of `model` (in `model.weights` order), as int64."""
    return np.array([zlib.crc32(np.ascontiguousarray(w).tobytes()) for w in model.get_weights()], np.int64)


def differing(model, gathered: np.ndarray) -> list[str]:
    """The paths of the weights whose fingerprints differ between workers
    (`gathered`: one row of `fingerprints` per worker)."""
    spread = (gathered != gathered[:1]).any(axis=0)
    return [w.path for w, differs in zip(model.weights, spread) if differs]
