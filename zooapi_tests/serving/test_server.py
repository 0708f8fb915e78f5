from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from zooapi_tests.conftest import mlp
from zooapi_tests.serving.server_process import serving

pytestmark = pytest.mark.slow  # one server process for the module: ~15 s to import TensorFlow and warm up


@pytest.fixture(scope="module")
def model():
    return mlp()


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    with serving(model, tmp_path_factory.mktemp("server"), "--max-batch-size", "64",
                 "--batch-timeout-ms", "2", "--max-body-bytes", "200000") as process:
        yield process


def _post(server, body, **kwargs):
    return httpx.post(f"{server.url}/v1/models/digits:predict", json=body, timeout=30, **kwargs)


def test_health_status_and_metadata_follow_tensorflow_serving(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "alive"}
    assert httpx.get(server.url + "/readyz").json() == {"status": "ready"}
    status = httpx.get(server.url + "/v1/models/digits").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    signature = httpx.get(server.url + "/v1/models/digits/metadata").json()[
        "metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["input_0"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in signature["inputs"]["input_0"]["tensor_shape"]["dim"]] == ["-1", "64"]
    (output,) = signature["outputs"].values()
    assert [d["size"] for d in output["tensor_shape"]["dim"]] == ["-1", "10"]
    missing = httpx.get(server.url + "/v1/models/other")
    assert missing.status_code == 404 and "serves 'digits'" in missing.json()["error"]


def test_row_and_column_forms_return_model_predict(server, model, digits):
    x = digits[0][:20]
    expected = model.predict(x, verbose=0)
    rows = _post(server, {"instances": x.tolist()})
    assert rows.status_code == 200, rows.text
    np.testing.assert_allclose(rows.json()["predictions"], expected, rtol=1e-5, atol=1e-6)
    columns = _post(server, {"inputs": x.tolist()})
    np.testing.assert_allclose(columns.json()["outputs"], expected, rtol=1e-5, atol=1e-6)
    named = _post(server, {"instances": [{"input_0": row} for row in x[:3].tolist()]})
    np.testing.assert_allclose(named.json()["predictions"], expected[:3], rtol=1e-5, atol=1e-6)


def test_concurrent_clients_get_their_own_rows_from_merged_batches(server, model, digits):
    x = digits[0][:256]
    expected = model.predict(x, verbose=0)

    async def client(http, i):
        for j in range(8):
            rows = slice((i * 8 + j) % 250, (i * 8 + j) % 250 + 1 + (j % 3))
            response = await http.post(f"{server.url}/v1/models/digits:predict", json={"instances": x[rows].tolist()})
            assert response.status_code == 200, response.text
            np.testing.assert_allclose(response.json()["predictions"], expected[rows], rtol=1e-5, atol=1e-6)

    async def main():
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as http:
            await asyncio.gather(*(client(http, i) for i in range(32)))

    before = _metric(server, "zooapi_batch_rows_count")
    asyncio.run(main())
    calls = _metric(server, "zooapi_batch_rows_count") - before
    assert calls < 32 * 8, "no two requests shared a model call"


def _metric(server, name: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_metrics_count_requests_by_status_code_with_latency_histograms(server):
    _post(server, {"instances": [[0.0] * 64]})
    text = httpx.get(server.url + "/metrics").text
    assert 'zooapi_requests_total{code="200",model="digits"}' in text
    assert 'zooapi_request_latency_seconds_bucket{le="0.005",model="digits"}' in text
    assert "zooapi_queue_requests" in text


def test_bad_requests_get_their_status_codes_with_the_expected_signature(server):
    malformed = httpx.post(f"{server.url}/v1/models/digits:predict", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"].startswith("Malformed JSON")
    assert malformed.json()["expected"]["inputs"] == [{"name": "input_0", "dtype": "float32", "shape": [None, 64]}]
    shape = _post(server, {"instances": [[0.0] * 63]})
    assert shape.status_code == 400
    assert "Expected: input_0: float32 of shape (batch, 64). Received: shape=(1, 63)" in shape.json()["error"]
    dtype = _post(server, {"instances": [["a"] * 64]})
    assert dtype.status_code == 400 and "does not convert to the model's float32" in dtype.json()["error"]
    ragged = _post(server, {"instances": [[0.0] * 64, [0.0]]})
    assert ragged.status_code == 400 and "not a rectangular array" in ragged.json()["error"]
    neither = _post(server, {"rows": []})
    assert neither.status_code == 400 and "either 'instances' (row form) or 'inputs'" in neither.json()["error"]
    large = _post(server, {"instances": [[0.123456789] * 64] * 400})
    assert large.status_code == 413 and "larger than the limit of 200000 bytes" in large.json()["error"]
    form = httpx.post(f"{server.url}/v1/models/digits:predict", content=b"instances=1",
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert "Expected Content-Type: application/json" in form.json()["error"]
    assert _post(server, {"instances": [[0.0] * 64]}).status_code == 200  # the server still serves
