"""Overload and shutdown, against a server whose requests wait 2 s for a
batch: enough for many to be queued, or in flight, at once, even on a
loaded machine."""

from __future__ import annotations

import asyncio
import signal

import httpx
import numpy as np
import pytest

from zooapi_tests.conftest import mlp
from zooapi_tests.serving.server_process import serving

pytestmark = pytest.mark.slow  # one server process: ~15 s to import TensorFlow and warm up

MAX_QUEUE = 8


@pytest.fixture(scope="module")
def model():
    return mlp()


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    with serving(model, tmp_path_factory.mktemp("overload"), "--max-batch-size", "4096",
                 "--batch-timeout-ms", "2000", "--max-queue", str(MAX_QUEUE)) as process:
        yield process


async def _burst(server, rows: list[np.ndarray]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=len(rows))) as http:
        return await asyncio.gather(*(http.post(f"{server.url}/v1/models/digits:predict",
                                                json={"instances": r.tolist()}) for r in rows))


def test_a_full_queue_answers_503_with_retry_after_and_memory_stays_bounded(server, model, digits):
    x = digits[0][:60]
    responses = asyncio.run(_burst(server, [x[i:i + 1] for i in range(60)]))
    codes = [r.status_code for r in responses]
    # At most MAX_QUEUE wait per 2 s window; how many windows the burst spans depends on the machine's load.
    assert set(codes) == {200, 503} and codes.count(200) <= 60 // 2, codes
    expected = model.predict(x, verbose=0)
    for i, response in enumerate(responses):
        if response.status_code == 200:  # every accepted request is answered, with its own row
            np.testing.assert_allclose(response.json()["predictions"], expected[i:i + 1], rtol=1e-5, atol=1e-6)
        else:
            assert response.headers["retry-after"] == "1"
            assert "overloaded" in response.json()["error"] and f"max_queue={MAX_QUEUE}" in response.json()["error"]
    before = server.rss_bytes()
    for _ in range(2):
        asyncio.run(_burst(server, [x[:32]] * 100))
    # ~200 refused requests of 32 rows; an unbounded queue would hold them all.
    assert server.rss_bytes() - before < 64 << 20, (before, server.rss_bytes())


def _queued(metrics: httpx.Response) -> float:
    return next(float(line.split()[-1]) for line in metrics.text.splitlines()
                if line.startswith("zooapi_queue_requests{"))


def test_sigterm_finishes_the_requests_in_flight_then_exits(server, model, digits):
    x = digits[0][:6]

    async def main():
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=8)) as http:
            # Open the connections first, so that the six requests go out at once.
            await asyncio.gather(*(http.get(server.url + "/healthz") for _ in range(7)))
            burst = asyncio.gather(*(http.post(f"{server.url}/v1/models/digits:predict",
                                               json={"instances": x[i:i + 1].tolist()}) for i in range(6)))
            for _ in range(100):  # until all six wait in the 2 s batching window
                await asyncio.sleep(0.01)
                if _queued(await http.get(server.url + "/metrics")) >= 6:
                    break
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
