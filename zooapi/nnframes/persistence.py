"""Saving and loading nnframes stages (`MLWritable` / `MLReadable`).

A stage saves as Spark ML's own metadata (class, uid, Params as JSON) under
`path/metadata`, with the Keras model beside it in `path/model.keras`. Files
go through the Hadoop FileSystem of the Spark session, so every path Spark
can write (local, `hdfs://`, `s3a://`, ...) works, with the same credentials.

Preprocessing saves as JSON through `zooapi.feature.preprocessing`.
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from zooapi.feature.preprocessing import unsafe_deserialization_enabled
from zooapi.nnframes.params import UNSAVED_PARAMS

_CHUNK = 8 << 20


def _hadoop_path(spark, path: str):
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def write_file(spark, path: str, data: bytes) -> None:
    """Writes bytes to a file on any Hadoop-compatible filesystem."""
    fs, hpath = _hadoop_path(spark, path)
    out = fs.create(hpath, True)
    try:
        for start in range(0, len(data), _CHUNK):
            out.write(bytearray(data[start:start + _CHUNK]))
    finally:
        out.close()


def read_file(spark, path: str) -> bytes:
    fs, hpath = _hadoop_path(spark, path)
    if not fs.exists(hpath):
        raise FileNotFoundError(f"No file at {path}")
    size = fs.getFileStatus(hpath).getLen()
    stream = fs.open(hpath)
    try:
        parts = []
        while size > 0:
            part = bytes(stream.readNBytes(min(size, _CHUNK)))
            if not part:
                break
            parts.append(part)
            size -= len(part)
        return b"".join(parts)
    finally:
        stream.close()


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

    def saveImpl(self, path: str) -> None:
        stage = self.instance
        params = {p.name: v for p, v in stage._paramMap.items() if p.name not in UNSAVED_PARAMS and _jsonable(v)}
        extra = {"zooapi": stage._extra_metadata()}
        DefaultParamsWriter.saveMetadata(stage, path, self.sparkSession, extraMetadata=extra, paramMap=params)
        write_file(self.sparkSession, f"{path.rstrip('/')}/model.keras", stage._model_bytes())


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
        data = read_file(self.sparkSession, f"{path.rstrip('/')}/model.keras")
        model = load_model_bytes(data, compile=True, safe_mode=not unsafe_deserialization_enabled())
        instance = cls._from_saved(model, metadata.get("zooapi", {}))
        instance._resetUid(metadata["uid"])
        metadata["defaultParamMap"] = {k: v for k, v in metadata.get("defaultParamMap", {}).items()
                                       if k not in UNSAVED_PARAMS}
        DefaultParamsReader.getAndSetParams(instance, metadata)
        return instance
