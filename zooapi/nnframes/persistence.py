"""Saving and loading nnframes stages (`MLWritable` / `MLReadable`).

A stage saves as Spark ML's own metadata (class, uid, Params as JSON) under
`path/metadata` (written by Spark, as its own stages do), with the Keras model
beside it in `path/model.keras`, written through `zooapi.files` (`pyarrow.fs`,
or `fsspec` for other schemes: local paths, `hdfs://`, `s3://`, `gs://`...),
which needs no JVM and so works over Spark Connect too. A path without a
scheme is a local path.

Preprocessing saves as JSON through `zooapi.feature.preprocessing`.
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from zooapi.files import read_bytes, remove, write_bytes
from zooapi.nnframes.params import UNSAVED_PARAMS
from zooapi.worker.keras_internals import unsafe_deserialization_enabled


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


class StageWriter(MLWriter):
    """Writes an nnframes stage: metadata, Params and its Keras model."""

    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def _handleOverwrite(self, path: str) -> None:
        # Spark's own overwrite goes through the JVM; this works over Spark Connect too.
        remove(path)

    def saveImpl(self, path: str) -> None:
        stage = self.instance
        params = {p.name: v for p, v in stage._paramMap.items() if p.name not in UNSAVED_PARAMS and _jsonable(v)}
        extra = {"zooapi": stage._extra_metadata()}
        DefaultParamsWriter.saveMetadata(stage, path, self.sparkSession, extraMetadata=extra, paramMap=params)
        write_bytes(f"{path.rstrip('/')}/model.keras", stage._model_bytes())


class PersistentStage(MLWritable, MLReadable):
    """`save`/`load` for a stage with a Keras model: the stage provides
    `_model_bytes()`, `_extra_metadata()` and `_from_saved(model, extra)`."""

    def write(self):
        return StageWriter(self)

    @classmethod
    def read(cls):
        return StageReader(cls)


class StageReader(MLReader):
    """Reads what `StageWriter` wrote, into the class named in the metadata."""

    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str):
        import importlib

        from zooapi.worker.serialization import load_model_bytes

        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        module, _, name = metadata["class"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        data = read_bytes(f"{path.rstrip('/')}/model.keras")
        model = load_model_bytes(data, compile=True, safe_mode=not unsafe_deserialization_enabled())
        instance = cls._from_saved(model, metadata.get("zooapi", {}))
        instance._resetUid(metadata["uid"])
        metadata["defaultParamMap"] = {k: v for k, v in metadata.get("defaultParamMap", {}).items()
                                       if k not in UNSAVED_PARAMS}
        DefaultParamsReader.getAndSetParams(instance, metadata)
        return instance
