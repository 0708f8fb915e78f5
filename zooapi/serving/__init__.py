"""Serving: `InferenceModel` (a thread-safe local model), int8 `quantize`,
and an HTTP model server (`serve`) with TensorFlow Serving's REST API and
dynamic batching.

Importing this package is cheap: TensorFlow loads when a model does, and
FastAPI and uvicorn (the `serving` extra) when a server starts.

Example:
    >>> from zooapi.serving import InferenceModel, serve
    >>> model = InferenceModel(concurrent_num=2).load("digits.keras")  # doctest: +SKIP
    >>> model.predict(x).argmax(axis=1)  # doctest: +SKIP
    >>> serve("digits.keras", port=8500, name="digits")  # doctest: +SKIP
"""

from __future__ import annotations

from zooapi.serving.inference_model import InferenceModel
from zooapi.serving.quantize import QuantizationReport, quantize
from zooapi.serving.server import create_app, serve
from zooapi.serving.signature import Signature, TensorSpec

__all__ = ["InferenceModel", "QuantizationReport", "Signature", "TensorSpec", "create_app", "quantize", "serve"]
