"""Overload and shutdown, against a server whose requests wait 300 ms for a
batch: enough for many to be queued, or in flight, at once."""

from __future__ import annotations

import asyncio
import signal

import httpx
import numpy as np
import pytest

from zooapi_tests.conftest import mlp
from zooapi_tests.serving.server_process import ServerProcess

pytestmark = pytest.mark.slow  # one server process: ~15 s to import TensorFlow and warm up

MAX_QUEUE = 8


@pytest.fixture(scope="module")
def model():
    return mlp()


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("overload")
    model.save(folder / "digits.keras")
    process = ServerProcess(str(folder / "digits.keras"), folder / "server.log", "--max-batch-size", "4096",
                            "--batch-timeout-ms", "300", "--max-queue", str(MAX_QUEUE))
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


async def _burst(server, rows: list[np.ndarray]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=len(rows))) as http:
        return await asyncio.gather(*(http.post(f"{server.url}/v1/models/digits:predict",
                                                json={"instances": r.tolist()}) for r in rows))


def test_a_full_queue_answers_503_with_retry_after_and_memory_stays_bounded(server, model, digits):
    x = digits[0][:60]
    responses = asyncio.run(_burst(server, [x[i:i + 1] for i in range(60)]))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503} and codes.count(503) >= 60 - 2 * MAX_QUEUE, codes
    expected = model.predict(x, verbose=0)
    for i, response in enumerate(responses):
        if response.status_code == 200:  # every accepted request is answered, with its own row
            np.testing.assert_allclose(response.json()["predictions"], expected[i:i + 1], rtol=1e-5, atol=1e-6)
        else:
            assert response.headers["retry-after"] == "1"
            assert "overloaded" in response.json()["error"] and f"max_queue={MAX_QUEUE}" in response.json()["error"]
    before = server.rss_bytes()
    for _ in range(3):
        asyncio.run(_burst(server, [x[:32]] * 100))
    # 300 refused requests of 32 rows; an unbounded queue would hold them all.
    assert server.rss_bytes() - before < 64 << 20, (before, server.rss_bytes())


def test_sigterm_finishes_the_requests_in_flight_then_exits(server, model, digits):
    x = digits[0][:6]

    async def main():
        burst = asyncio.ensure_future(_burst(server, [x[i:i + 1] for i in range(6)]))
        await asyncio.sleep(0.15)  # the requests wait in the 300 ms batching window
        server.process.send_signal(signal.SIGTERM)
        return await burst

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    np.testing.assert_allclose([r.json()["predictions"][0] for r in responses], model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    # uvicorn re-raises the signal once it has drained: the exit status says "ended by SIGTERM".
    assert server.process.wait(30) in (0, -signal.SIGTERM), server.output()
    assert "Finished server process" in server.output()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/healthz", timeout=2)
