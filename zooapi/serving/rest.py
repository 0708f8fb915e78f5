"""TensorFlow Serving's REST API bodies: predict requests in row
(`instances`) or column (`inputs`) form, their responses, model status and
metadata. Pure functions of JSON values and a `Signature`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zooapi.serving.signature import Signature

# TensorFlow's DataType names, as TF Serving's metadata uses them.
_TF_DTYPES = {"float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int8": "DT_INT8",
              "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64", "uint8": "DT_UINT8",
              "bool": "DT_BOOL", "string": "DT_STRING", "object": "DT_STRING"}


def parse_predict(body: Any, signature: Signature) -> tuple[list[np.ndarray], bool]:
    """The checked input arrays of a `:predict` body, and whether it was in
    row form.

    Raises:
        ValueError: the body is not `{"instances": [...]}` or
            `{"inputs": ...}`, or its values do not fit the signature.
    """
    if not isinstance(body, dict) or len({"instances", "inputs"} & set(body)) != 1:
        keys = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise ValueError(f"Expected a JSON object with either 'instances' (row form) or 'inputs' (column form). "
                         f"Received: {keys}.")
    names = [spec.name for spec in signature.inputs]
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise ValueError(f"'instances' must be a list of rows. Received: {type(rows).__name__}.")
        if rows and all(isinstance(row, dict) for row in rows):
            missing = [n for n in names if any(n not in row for row in rows)]
            if missing:
                raise ValueError(f"Every instance must name each input {names}; missing {missing}.")
            x: Any = {n: [row[n] for row in rows] for n in names}
        elif len(names) > 1:
            raise ValueError(f"The model takes {len(names)} inputs {names}: each instance must be an object "
                             "keyed by input name.")
        else:
            x = rows
        return signature.to_arrays(x), True
    x = body["inputs"]
    if isinstance(x, dict) and len(names) == 1 and names[0] not in x:
        raise ValueError(f"'inputs' names {sorted(x)}; the model's input is {names[0]!r}.")
    return signature.to_arrays(x), False


def format_predict(outputs: list[np.ndarray], signature: Signature, row_form: bool) -> dict[str, Any]:
    """`{"predictions": [...]}` for a row-form request, `{"outputs": ...}`
    for a column-form one; a model with several outputs gets an object per
    row (or one list per output), keyed by output name."""
    names = [spec.name for spec in signature.outputs]
    if row_form:
        if len(outputs) == 1:
            return {"predictions": outputs[0].tolist()}
        columns = [o.tolist() for o in outputs]
        return {"predictions": [dict(zip(names, row)) for row in zip(*columns)]}
    if len(outputs) == 1:
        return {"outputs": outputs[0].tolist()}
    return {"outputs": {n: o.tolist() for n, o in zip(names, outputs)}}


def status(ready: bool, error: str | None = None) -> dict[str, Any]:
    """The body of `GET /v1/models/{name}`."""
    state = "AVAILABLE" if ready else ("END" if error else "LOADING")
    return {"model_version_status": [{"version": "1", "state": state, "status": {
        "error_code": "UNKNOWN" if error else "OK", "error_message": error or ""}}]}


def _tensor_info(spec) -> dict[str, Any]:
    dims = [{"size": "-1", "name": ""}] + [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape]
    return {"dtype": _TF_DTYPES.get(spec.dtype, "DT_INVALID"), "tensor_shape": {"dim": dims, "unknown_rank": False},
            "name": spec.name}


def metadata(name: str, signature: Signature) -> dict[str, Any]:
    """The body of `GET /v1/models/{name}/metadata`, in TF Serving's form."""
    return {"model_spec": {"name": name, "signature_name": "", "version": "1"},
            "metadata": {"signature_def": {"signature_def": {"serving_default": {
                "inputs": {s.name: _tensor_info(s) for s in signature.inputs},
                "outputs": {s.name: _tensor_info(s) for s in signature.outputs},
                "method_name": "tensorflow/serving/predict"}}}}}
