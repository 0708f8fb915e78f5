"""The HTTP model server: TensorFlow Serving's REST API on FastAPI and
uvicorn, with dynamic batching, a bounded queue and Prometheus metrics.

Routes: `POST /v1/models/{name}:predict`, `GET /v1/models/{name}`,
`GET /v1/models/{name}/metadata`, `/healthz`, `/readyz`, `/metrics`.
"""

# No `from __future__ import annotations` here: FastAPI reads the route
# handlers' annotations (`request: Request`) at definition time, and
# `Request` is imported inside `create_app` so that `zooapi.serving` imports
# without FastAPI installed.

import asyncio
import json
import logging
import os
import threading
import time
from contextlib import asynccontextmanager
from typing import Any

from zooapi.checks import check_int
from zooapi.serving import rest
from zooapi.serving.batching import DynamicBatcher, Overloaded
from zooapi.serving.inference_model import InferenceModel

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 16 << 20
RETRY_AFTER_S = "1"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Metrics:
    """The server's Prometheus metrics, in a registry of its own."""

    def __init__(self, name: str):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.name = name
        self.requests = Counter("zooapi_requests", "Predict requests, by HTTP status code.", ["model", "code"],
                                registry=self.registry)
        self.latency = Histogram("zooapi_request_latency_seconds", "Predict request latency, from the request "
                                 "read to the response.", ["model"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.batch_rows = Histogram("zooapi_batch_rows", "Rows per model call (after dynamic batching).", ["model"],
                                    buckets=_ROW_BUCKETS, registry=self.registry)
        self.queue = Gauge("zooapi_queue_requests", "Requests waiting for a model call.", ["model"],
                           registry=self.registry)


class _State:
    """What the routes share: the model once loaded, its batcher, metrics."""

    def __init__(self, name: str, metrics: _Metrics):
        self.name = name
        self.metrics = metrics
        self.model: InferenceModel | None = None
        self.batcher: DynamicBatcher | None = None
        self.error: str | None = None
        self.ready = threading.Event()


def create_app(model: Any, *, name: str = "model", max_batch_size: int = 64, batch_timeout_ms: float = 0.0,
               max_queue: int = 1024, concurrent_num: int = 1, quantize: str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, safe_mode: bool = True, runtime: str = "tensorflow"):
    """The FastAPI application that serves `model` (see `serve`).

    The model loads and warms up in a background thread when the
    application starts: `/healthz` answers at once, `/readyz` and the
    predict route once it is ready.

    Args:
        model: a path or URL (`InferenceModel.load`), a Keras model, or a
            loaded `InferenceModel`.
        name: the model's name in the URLs.
        max_batch_size: most rows merged into one model call.
        batch_timeout_ms: how long a request waits for others to join
            its batch (`DynamicBatcher`); 0: requests that arrive while the
            model is busy share its next call, none waits for others.
        max_queue: most requests waiting; beyond, 503 with Retry-After.
        concurrent_num: model calls that may run at once.
        quantize: None or "int8".
        max_body_bytes: larger request bodies get 413.
        safe_mode: Keras' safe mode for a model file.
        runtime: "tensorflow" or "litert" (see `InferenceModel`).

    Returns:
        A `fastapi.FastAPI` application, for uvicorn or any ASGI server.

    Example:
        >>> app = create_app("digits.keras", name="digits")  # doctest: +SKIP
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    check_int("max_batch_size", max_batch_size)
    check_int("max_queue", max_queue)
    check_int("concurrent_num", concurrent_num)
    check_int("max_body_bytes", max_body_bytes)
    metrics = _Metrics(name)
    state = _State(name, metrics)

    def load() -> None:
        try:
            if isinstance(model, InferenceModel):
                served = model
            elif isinstance(model, (str, os.PathLike)):
                served = InferenceModel(concurrent_num, runtime=runtime).load(model, quantize=quantize,
                                                                              safe_mode=safe_mode)
            else:
                served = InferenceModel(concurrent_num, runtime=runtime).from_keras(model, quantize=quantize)
            observe = metrics.batch_rows.labels(name).observe
            state.batcher = DynamicBatcher(served.predict_arrays, max_batch_size, batch_timeout_ms, max_queue,
                                           workers=served.concurrent_num, on_batch=observe)
            metrics.queue.labels(name).set_function(state.batcher.queued)
            state.model = served
            state.ready.set()
            logger.info("Serving %r: %s", name, served.signature.describe())
        except Exception as error:  # reported on /readyz and the status route
            state.error = f"{type(error).__name__}: {error}"
            logger.exception("Could not load the model %r.", name)

    @asynccontextmanager
    async def lifespan(app):
        threading.Thread(target=load, name="zooapi-model-loader", daemon=True).start()
        yield
        if state.batcher is not None:
            await asyncio.to_thread(state.batcher.close)

    app = FastAPI(title=f"zooapi serving: {name}", lifespan=lifespan)

    def error(code: int, message: str, **headers: str) -> Response:
        body: dict[str, Any] = {"error": message}
        if state.model is not None:
            body["expected"] = state.model.signature.to_dict()
        return JSONResponse(body, status_code=code, headers=headers or None)

    def unknown(model_name: str) -> Response:
        return JSONResponse({"error": f"No model named {model_name!r}; this server serves {name!r}."},
                            status_code=404)

    @app.get("/healthz")
    async def healthz():
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz():
        if state.ready.is_set():
            return {"status": "ready"}
        return JSONResponse({"status": "failed" if state.error else "loading", "error": state.error},
                            status_code=503, headers={"Retry-After": RETRY_AFTER_S})

    @app.get("/metrics")
    async def prometheus_metrics():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models/{model_name}")
    async def model_status(model_name: str):
        if model_name != name:
            return unknown(model_name)
        return rest.status(state.ready.is_set(), state.error)

    @app.get("/v1/models/{model_name}/metadata")
    async def model_metadata(model_name: str):
        if model_name != name:
            return unknown(model_name)
        if not state.ready.is_set():
            return error(503, "The model is not loaded yet.", **{"Retry-After": RETRY_AFTER_S})
        return rest.metadata(name, state.model.signature)

    @app.post("/v1/models/{model_name}:predict")
    async def predict(model_name: str, request: Request):
        started = time.perf_counter()
        response = await _predict(model_name, request)
        metrics.requests.labels(name, str(response.status_code)).inc()
        metrics.latency.labels(name).observe(time.perf_counter() - started)
        return response

    async def _predict(model_name: str, request: Request) -> Response:
        if model_name != name:
            return unknown(model_name)
        if not state.ready.is_set():
            return error(503, "The model is not loaded yet.", **{"Retry-After": RETRY_AFTER_S})
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return error(415, f"Expected Content-Type: application/json. Received: {content_type or 'none'!r}.")
        body = await _read_body(request, max_body_bytes)
        if body is None:
            return error(413, f"The request body is larger than the limit of {max_body_bytes} bytes.")
        try:
            arrays, row_form = rest.parse_predict(json.loads(body), state.model.signature)
        except json.JSONDecodeError as bad:
            return error(400, f"Malformed JSON: {bad}.")
        except (ValueError, TypeError) as bad:
            return error(400, str(bad))
        try:
            future = state.batcher.submit(arrays)
        except Overloaded as full:
            return error(503, f"The server is overloaded: {full} Retry later.", **{"Retry-After": RETRY_AFTER_S})
        except RuntimeError as closed:
            return error(503, str(closed), **{"Retry-After": RETRY_AFTER_S})
        try:
            outputs = await asyncio.wrap_future(future)
        except Exception as failed:  # the model call itself failed
            return error(500, f"The model failed: {type(failed).__name__}: {failed}")
        content = json.dumps(rest.format_predict(outputs, state.model.signature, row_form)).encode()
        return Response(content, media_type="application/json")

    app.state.zooapi = state
    return app


async def _read_body(request, limit: int) -> bytes | None:
    """The body, or None when it exceeds `limit` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def serve(model: Any, *, port: int = 8500, host: str = "127.0.0.1", name: str = "model",
          max_batch_size: int = 64, batch_timeout_ms: float = 0.0, max_queue: int = 1024,
          concurrent_num: int = 1, quantize: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
          safe_mode: bool = True, runtime: str = "tensorflow", log_level: str = "info") -> None:
    """Serves `model` over HTTP until SIGTERM or SIGINT, which stop new
    connections, finish the requests in flight, then return.

    TensorFlow Serving's REST API: `POST /v1/models/{name}:predict` with
    `{"instances": [...]}` or `{"inputs": ...}`, `GET /v1/models/{name}`
    and `.../metadata`; plus `/healthz`, `/readyz` and `/metrics`
    (Prometheus). Concurrent requests are merged into model calls of up to
    `max_batch_size` rows: those that arrive while the model is busy share
    its next call, waiting at most `batch_timeout_ms` more for others.

    Args:
        model: a path or URL, a Keras model or an `InferenceModel`.
        port: the TCP port.
        host: the address to bind; "0.0.0.0" for every interface.
        name: the model's name in the URLs.
        max_batch_size: most rows per model call.
        batch_timeout_ms: how long a request waits for others to join its
            batch; 0: none.
        max_queue: most waiting requests; beyond, 503 with Retry-After.
        concurrent_num: model calls that may run at once.
        quantize: None or "int8".
        max_body_bytes: larger request bodies get 413.
        safe_mode: Keras' safe mode for a model file.
        runtime: "tensorflow" or "litert" (see `InferenceModel`).
        log_level: uvicorn's log level.

    Example:
        >>> serve("digits.keras", port=8500, name="digits")  # doctest: +SKIP
    """
    import uvicorn

    app = create_app(model, name=name, max_batch_size=max_batch_size, batch_timeout_ms=batch_timeout_ms,
                     max_queue=max_queue, concurrent_num=concurrent_num, quantize=quantize,
                     max_body_bytes=max_body_bytes, safe_mode=safe_mode, runtime=runtime)
    config = uvicorn.Config(app, host=host, port=check_int("port", port, minimum=0), log_level=log_level,
                            access_log=False, timeout_graceful_shutdown=30)
    uvicorn.Server(config).run()
