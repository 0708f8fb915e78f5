"""The LiteRT runtime for `InferenceModel(runtime="litert")`.

The Keras model is exported with Keras' own `model.export(format="litert")`
(with `quantize="int8"`: LiteRT's dynamic-range int8 weights,
`optimizations=[tf.lite.Optimize.DEFAULT]`) and run by the LiteRT
interpreter (XNNPACK on CPU). For small dense models it skips most of
TensorFlow's per-call cost. An interpreter is not thread-safe, so each
concurrent slot gets its own, one per batch size (inputs resized once).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # the maintained package
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def export(model, quantize: str | None) -> bytes:
    """The `.tflite` bytes of `model` (LiteRT dynamic-range int8 with
    `quantize="int8"`).

    Raises:
        ValueError: the model has more than one input or output.
    """
    import tensorflow as tf

    if quantize not in (None, "int8"):
        raise ValueError(f"Received an invalid value for `quantize`, expected None or 'int8'. "
                         f"Received: quantize={quantize!r}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"runtime='litert' serves models with one input and one output. Received: "
                         f"{len(model.inputs)} input(s), {len(model.outputs)} output(s); use runtime='tensorflow'.")
    options = {"optimizations": [tf.lite.Optimize.DEFAULT]} if quantize == "int8" else {}
    with tempfile.TemporaryDirectory(prefix="zooapi-litert-") as folder:
        path = os.path.join(folder, "model.tflite")
        model.export(path, format="litert", verbose=False, **options)
        with open(path, "rb") as f:
            return f.read()


class LiteRTFunction:
    """One interpreter for one batch size, called like the TensorFlow path's
    compiled functions: arrays in, a list of arrays out."""

    def __init__(self, content: bytes, batch_size: int, row_shape: tuple[int, ...], threads: int | None):
        self.interpreter = _interpreter_class()(model_content=content, num_threads=threads or os.cpu_count())
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.interpreter.resize_tensor_input(self.input, [batch_size, *row_shape])
        self.interpreter.allocate_tensors()

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(self.output)]
