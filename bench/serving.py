"""Serving: `InferenceModel` overhead, the HTTP server under load, int8.

All in one run, every baseline measured in the same run, load from
127.0.0.1 only (bounded request counts):

1. `InferenceModel.predict` against calling the model directly (a compiled
   `tf.function`, and its `ConcreteFunction` for the batch's shape, NumPy in
   and out) at batch 64: overhead in %. Throughput
   of `InferenceModel` with `concurrent_num` 1 and 2 (as many caller
   threads), batch 64.
2. The server (`python -m zooapi.serving serve`) at 1, 8, 32 and 128
   concurrent clients, each sending one-row requests: requests/s, p50 and
   p99 latency (the default: natural batching, no batch timeout); against
   the same server with `--batch-timeout-ms 2`, with `--max-batch-size 1`, and
   against the naive handler users write (FastAPI calling `model.predict`
   per request, `naive_app` below). The model's own compute time for one
   row is measured in this process for the p50 target.
3. int8: the float32 model against Keras' `model.quantize("int8")`, for a
   digits MLP (64-32-10) and the 64-256-256-10 MLP, both trained on
   scikit-learn's digits: `.keras` file size, peak memory (RSS) of a
   process that imports TensorFlow, loads the model and predicts (the
   runtime dominates it for models this small),
   latency at batch 1 and 64, throughput at batch 256 and accuracy on
   held-out digits. In the same table, `InferenceModel(runtime="litert")`,
   float32 and with `quantize="int8"` (LiteRT dynamic-range weights); the
   file size is that of the `.tflite` export.
4. Streaming: the median time of a Structured Streaming micro-batch that
   scores 100, 1,000 or 10,000 rows with `engine.predict` (Spark
   `local[2]`, Parquet file source, `noop` sink).

The model is the 64-256-256-10 MLP of the other benchmarks. Clients run in
this process (httpx, asyncio): on 2 cores they share the CPUs with the
server, the same for every variant.

Run: `python bench/serving.py` (`--quick`: fewer requests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib import N_FEATURES, make_data, mlp  # noqa: E402

CLIENTS = (1, 8, 32, 128)


# ---- 1. InferenceModel overhead ---------------------------------------------------------------

def _calls_per_second(fn, seconds: float) -> float:
    fn()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def overhead(model, x: np.ndarray, seconds: float) -> dict:
    """Calls/s of `InferenceModel.predict` against the two direct calls a
    user writes: a `tf.function` of the model, and that function's
    `ConcreteFunction` for the batch's shape (the cheaper dispatch, which
    `InferenceModel` uses itself)."""
    import tensorflow as tf

    from zooapi.serving import InferenceModel

    direct_fn = tf.function(lambda t: model(t, training=False), autograph=False)
    batch = x[:64]
    concrete_fn = tf.function(lambda t: model(t, training=False), autograph=False).get_concrete_function(
        tf.TensorSpec(batch.shape, tf.float32))
    served = InferenceModel().from_keras(model)
    direct, concrete, ours = [], [], []
    for _ in range(3):  # interleaved, best of 3: the machine is shared
        direct.append(_calls_per_second(lambda: direct_fn(batch).numpy(), seconds))
        concrete.append(_calls_per_second(lambda: concrete_fn(batch).numpy(), seconds))
        ours.append(_calls_per_second(lambda: served.predict(batch), seconds))
    result = {"direct_calls_s": max(direct), "concrete_calls_s": max(concrete), "inference_model_calls_s": max(ours),
              "overhead_pct": 100 * (max(direct) / max(ours) - 1),
              "overhead_vs_concrete_pct": 100 * (max(concrete) / max(ours) - 1)}
    for concurrent in (1, 2):
        pool = InferenceModel(concurrent_num=concurrent).from_keras(model)
        counts = [0] * concurrent
        stop = time.perf_counter() + seconds

        def caller(i):
            while time.perf_counter() < stop:
                pool.predict(batch)
                counts[i] += 1

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(concurrent)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result[f"rows_s_concurrent_{concurrent}"] = 64 * sum(counts) / seconds
    one = x[:1]
    result["model_compute_ms_batch1"] = 1000 / max(_calls_per_second(lambda: direct_fn(one).numpy(), seconds)
                                                   for _ in range(3))
    return result


# ---- 2. the server under load -----------------------------------------------------------------

def naive_app(path: str):
    """The baseline: a FastAPI handler that calls `model.predict` per request."""
    import keras
    from fastapi import FastAPI

    model = keras.models.load_model(path)
    app = FastAPI()

    @app.post("/v1/models/{name}:predict")
    def predict(name: str, body: dict):
        return {"predictions": model.predict(np.asarray(body["instances"], np.float32), verbose=0).tolist()}

    return app


def _start(command: list[str], port: int, log) -> subprocess.Popen:
    import httpx

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path[:2] + [os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {command}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise TimeoutError(command)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _load(url: str, clients: int, requests: int, rows: list[list[float]]) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    per_client = max(1, requests // clients)

    async def client(http, i):
        nonlocal errors
        for j in range(per_client):
            body = {"instances": [rows[(i * per_client + j) % len(rows)]]}
            start = time.perf_counter()
            response = await http.post(url, json=body)
            latencies.append(time.perf_counter() - start)
            errors += response.status_code != 200

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as http:
        await asyncio.gather(*(client(http, i) for i in range(min(clients, 4))))  # warm the connections
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(client(http, i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000
    return {"requests_s": len(ms) / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "errors": errors}


def server_load(path: str, x: np.ndarray, requests: int, log, only: list[str] | None = None) -> dict:
    variants = {
        "batching": [sys.executable, "-m", "zooapi.serving", "serve", path, "--name", "m", "--log-level", "warning"],
        "batching_timeout_2ms": [sys.executable, "-m", "zooapi.serving", "serve", path, "--name", "m",
                                 "--batch-timeout-ms", "2", "--log-level", "warning"],
        "max_batch_size_1": [sys.executable, "-m", "zooapi.serving", "serve", path, "--name", "m",
                             "--max-batch-size", "1", "--log-level", "warning"],
        "naive": [sys.executable, os.path.abspath(__file__), "--naive-server", path],
    }
    rows = x[:512].tolist()
    results: dict = {}
    for variant, command in variants.items():
        if only and variant not in only:
            continue
        port = _free_port()
        process = _start(command + ["--port", str(port)], port, log)
        try:
            url = f"http://127.0.0.1:{port}/v1/models/m:predict"
            results[variant] = {c: asyncio.run(_load(url, c, max(requests, 4 * c), rows)) for c in CLIENTS}
        finally:
            process.terminate()
            process.wait(60)
        print(variant, json.dumps(results[variant]), flush=True)
    return results


def run_naive_server(path: str, port: int) -> None:
    """`--naive-server PATH --port N`: the baseline in its own process."""
    import uvicorn

    app = naive_app(path)

    @app.get("/readyz")
    def readyz():
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---- 3. int8 ----------------------------------------------------------------------------------

MEMORY_PROBE = """
import resource, sys, time
import numpy as np
import keras, tensorflow as tf
from zooapi.serving import InferenceModel
x = np.random.default_rng(0).random((256, 64)).astype("float32")
model = InferenceModel(runtime=sys.argv[2]).load(sys.argv[1], quantize=sys.argv[3] or None)
for _ in range(20):
    model.predict(x)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _peak_memory(path: str, runtime: str, quantize: str | None) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path[:2] + [os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, path, runtime, quantize or ""],
                          capture_output=True, text=True, env=env, timeout=600)
    return int(done.stdout.strip().splitlines()[-1])


def int8_table(folder: str, seconds: float) -> list[dict]:
    import keras
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from zooapi.serving import InferenceModel, quantize

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target
    train, test = slice(0, None, 2), slice(1, None, 2)
    keras.utils.set_random_seed(0)
    small = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    models = {"digits MLP 64-32-10": small, "MLP 64-256-256-10": mlp()}
    rows = []
    for label, model in models.items():
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        model.fit(x[train], y[train], epochs=20, batch_size=64, verbose=0)
        float_path = os.path.join(folder, f"{len(rows)}-float32.keras")
        model.save(float_path)
        int8_model = keras.models.load_model(float_path)
        quantize(int8_model, "int8")
        int8_path = os.path.join(folder, f"{len(rows)}-int8.keras")
        int8_model.save(int8_path)
        litert_path = os.path.join(folder, f"{len(rows)}-float32.tflite")
        model.export(litert_path, format="litert", verbose=False)
        litert_int8_path = os.path.join(folder, f"{len(rows)}-int8.tflite")
        model.export(litert_int8_path, format="litert", verbose=False, optimizations=[tf.lite.Optimize.DEFAULT])
        variants = (("float32", float_path, float_path, {}), ("int8 (Keras)", int8_path, int8_path, {}),
                    ("float32 (LiteRT runtime)", float_path, litert_path, {"runtime": "litert"}),
                    ("int8 dynamic range (LiteRT runtime)", float_path, litert_int8_path,
                     {"runtime": "litert", "quantize": "int8"}))
        for kind, path, size_path, options in variants:
            runtime = options.get("runtime", "tensorflow")
            served = InferenceModel(runtime=runtime).load(path, quantize=options.get("quantize"))
            one, batch, big = x[test][:1], x[test][:64], x[test][:256]
            rows.append({
                "model": label, "kind": kind, "file_kb": os.path.getsize(size_path) / 1024,
                "peak_mb": _peak_memory(path, runtime, options.get("quantize")) / 2**20,
                "ms_batch1": 1000 / _calls_per_second(lambda: served.predict(one), seconds),
                "ms_batch64": 1000 / _calls_per_second(lambda: served.predict(batch), seconds),
                "rows_s_batch256": 256 * _calls_per_second(lambda: served.predict(big), seconds),
                "accuracy": float((served.predict(x[test]).argmax(1) == y[test]).mean()),
            })
            print(json.dumps(rows[-1]), flush=True)
    return rows


# ---- 4. streaming ----------------------------------------------------------------------------

def streaming(path: str, folder: str, x: np.ndarray) -> dict[int, float]:
    """Median `triggerExecution` ms of micro-batches of 100, 1,000 and 10,000
    rows (one Parquet file per trigger) scored by `engine.predict`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lib import spark_session
    from zooapi import engine
    from zooapi.keras import Net

    spark = spark_session("bench-serving-stream")
    model = Net.load(path)
    result = {}
    for rows in (100, 1000, 10000):
        source = os.path.join(folder, f"stream-{rows}")
        os.makedirs(source)
        for i in range(4):
            features = pa.array([r.tolist() for r in x[np.arange(rows) % len(x)]], type=pa.list_(pa.float32()))
            table = pa.table({"id": np.arange(rows, dtype=np.int64), "features": features})
            pq.write_table(table, os.path.join(source, f"part-{i}.parquet"))
        stream = spark.readStream.schema("id long, features array<float>").option(
            "maxFilesPerTrigger", 1).parquet(source)
        query = (engine.predict(model, stream, "features").writeStream.format("noop")
                 .option("checkpointLocation", os.path.join(folder, f"ckpt-{rows}"))
                 .trigger(availableNow=True).start())
        query.awaitTermination()
        times = [p["durationMs"]["triggerExecution"] for p in query.recentProgress if p["numInputRows"]]
        result[rows] = float(np.median(times[1:] or times))  # the first micro-batch also ships the model
        print("streaming", rows, times, flush=True)
    spark.stop()
    return result


# ---- report -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--naive-server")
    parser.add_argument("--port", type=int)
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "server", "int8", "streaming"])
    parser.add_argument("--servers", nargs="*", default=None, choices=["batching", "batching_timeout_2ms", "max_batch_size_1", "naive"])
    parser.add_argument("--requests", type=int, default=None, help="requests per client count (at least 4 a client)")
    args = parser.parse_args()
    if args.naive_server:
        return run_naive_server(args.naive_server, args.port)
    seconds, requests = (0.5, 200) if args.quick else (1.0, 600)
    requests = args.requests or requests
    print("uptime:", open("/proc/loadavg").read().strip(), flush=True)
    x, _ = make_data(4096)
    model = mlp()
    with tempfile.TemporaryDirectory() as folder, open(os.path.join(folder, "servers.log"), "wb") as log:
        path = os.path.join(folder, "mlp.keras")
        model.save(path)
        if "overhead" not in args.skip:
            o = overhead(model, x, seconds)
            print(json.dumps(o), flush=True)
        if "int8" not in args.skip:
            table = int8_table(folder, seconds)
            print("\n| model | weights | .keras file | peak memory | batch 1 | batch 64 | rows/s (batch 256) | "
                  "accuracy |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
            for r in table:
                print(f"| {r['model']} | {r['kind']} | {r['file_kb']:.0f} kB | {r['peak_mb']:.1f} MB | "
                      f"{r['ms_batch1']:.2f} ms | {r['ms_batch64']:.2f} ms | {r['rows_s_batch256']:,.0f} | "
                      f"{r['accuracy']:.4f} |")
        if "server" not in args.skip:
            s = server_load(path, x, requests, log, args.servers)
            print("\n| clients | batching req/s | p50 / p99 ms | --batch-timeout-ms 2 req/s | p50 / p99 ms | "
                  "max_batch_size=1 req/s | p50 / p99 ms | naive req/s | p50 / p99 ms |\n"
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for c in CLIENTS:
                cells = [f"{s[v][c]['requests_s']:,.0f} | {s[v][c]['p50_ms']:.1f} / {s[v][c]['p99_ms']:.1f}"
                         if v in s else "- | -" for v in ("batching", "batching_timeout_2ms", "max_batch_size_1", "naive")]
                print(f"| {c} | " + " | ".join(cells) + " |")
            errors = sum(s[v][c]["errors"] for v in s for c in CLIENTS)
            print(f"\nnon-200 responses: {errors}")
        if "streaming" not in args.skip:
            st = streaming(path, folder, x)
            print("\n| rows per micro-batch | " + " | ".join(f"{r:,}" for r in st) + " |\n| --- |"
                  + " --- |" * len(st) + "\n| ms per micro-batch (median) | "
                  + " | ".join(f"{v:.0f}" for v in st.values()) + " |")
        print("uptime:", open("/proc/loadavg").read().strip())
        if "overhead" not in args.skip:
            print(f"\nInferenceModel overhead at batch 64: {o['overhead_pct']:.1f} % against a tf.function "
                  f"(target <= 5 %), {o['overhead_vs_concrete_pct']:.1f} % against its ConcreteFunction; "
                  f"rows/s concurrent_num 1 / 2: {o['rows_s_concurrent_1']:,.0f} / {o['rows_s_concurrent_2']:,.0f}; "
                  f"model compute at batch 1: {o['model_compute_ms_batch1']:.2f} ms")
        if "server" not in args.skip and {"batching", "naive"} <= set(s):
            print(f"server / naive requests/s at 32 clients: "
                  f"{s['batching'][32]['requests_s'] / s['naive'][32]['requests_s']:.2f} (target >= 3); "
                  f"p50 at 1 client: {s['batching'][1]['p50_ms']:.2f} ms")


if __name__ == "__main__":
    main()
