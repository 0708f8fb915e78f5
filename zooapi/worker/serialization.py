"""A Keras model as bytes for the workers: Keras' own `.keras` format, plus
the user's registered custom objects (pickled by value when they live in a
notebook), keyed by a content hash."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
import tempfile
from dataclasses import dataclass

import numpy as np
from pyspark import cloudpickle

logger = logging.getLogger(__name__)


def arrays_to_bytes(arrays: list) -> bytes:
    """A list of arrays (weights, metric states) as `.npz` bytes, each under
    its position as key ("0", "1", ...), so the order is explicit."""
    buf = io.BytesIO()
    np.savez(buf, **{str(i): np.asarray(a) for i, a in enumerate(arrays)})
    return buf.getvalue()


def arrays_from_bytes(data: bytes) -> list:
    """The list `arrays_to_bytes` wrote, in its order."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return [z[str(i)] for i in range(len(z.files))]


def model_state_to_bytes(model, optimizer: bool = True) -> bytes:
    """A trained model's state, which is all that a copy of the same model
    lacks: its weights, then (with `optimizer`) its optimizer's variables,
    iterations included, with `arrays_to_bytes`."""
    opt = getattr(model, "optimizer", None) if optimizer else None
    variables = opt.variables if opt is not None and opt.built else []
    return arrays_to_bytes(model.get_weights() + [v.numpy() for v in variables])


def load_model_state(model, data: bytes) -> None:
    """Puts the state `model_state_to_bytes` wrote into `model`, a model of
    the same structure (its optimizer's too, when the state holds it)."""
    arrays = arrays_from_bytes(data)
    count = len(model.weights)
    model.set_weights(arrays[:count])
    optimizer = arrays[count:]
    if not optimizer or getattr(model, "optimizer", None) is None:
        return
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    ours = model.optimizer.variables
    if len(ours) != len(optimizer):
        logger.warning("optimizer state not restored: %d variables here, %d trained", len(ours), len(optimizer))
        return
    for variable, value in zip(ours, optimizer):
        variable.assign(value)


@dataclass(frozen=True)
class ModelBlob:
    data: bytes  # the .keras file
    custom_objects: bytes  # cloudpickled dict
    key: str  # sha256 of both

    def load_custom_objects(self) -> dict:
        return cloudpickle.loads(self.custom_objects)

    def load(self, compile: bool = True):
        return load_model_bytes(self.data, self.load_custom_objects(), compile=compile)


def model_to_blob(model) -> ModelBlob:
    import keras

    with tempfile.TemporaryDirectory(prefix="zooapi-") as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            data = f.read()
    custom = cloudpickle.dumps(dict(keras.saving.get_custom_objects()))
    return ModelBlob(data, custom, content_key(data, model, custom))


def content_key(data: bytes, model, custom: bytes) -> str:
    """A hash of what the model computes: its config and weights (not the
    `.keras` file's bytes, which carry the time it was saved)."""
    digest = hashlib.sha256(custom)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        digest.update(archive.read("config.json"))
    for weight in model.get_weights():
        digest.update(str(weight.shape).encode())
        digest.update(weight.tobytes())
    return digest.hexdigest()


def load_model_bytes(data: bytes, custom_objects: dict | None = None, compile: bool = True,
                     safe_mode: bool | None = False):
    """Loads a `.keras` file's bytes. `safe_mode` is off by default because
    zooapi serialized the user's own in-memory model (its Lambda layers must
    load back), or its chief wrote the checkpoint of that model; pass None
    (Keras' global setting) or True for any file a user hands in."""
    import warnings

    import keras

    with tempfile.TemporaryDirectory(prefix="zooapi-") as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as f:
            f.write(data)
        with warnings.catch_warnings():
            # Keras warns when the file's optimizer has other variables than the
            # loaded one: a model compiled but never trained (its optimizer
            # unbuilt: iterations and learning rate only, nothing to lose) loaded
            # where the optimizer gets built, or a trained one loaded to predict.
            # A trained optimizer loads into a built one of the same variables.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.models.load_model(path, custom_objects=custom_objects, compile=compile,
                                           safe_mode=safe_mode)
