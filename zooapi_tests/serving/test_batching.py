from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from zooapi.serving.batching import DynamicBatcher, Overloaded


def _doubling(calls):
    def predict(arrays):
        calls.append(arrays[0].shape[0])
        return [arrays[0] * 2]
    return predict


def test_concurrent_requests_share_calls_and_get_their_own_rows():
    calls: list[int] = []
    batcher = DynamicBatcher(_doubling(calls), max_batch_size=16, timeout_ms=50)
    futures = [batcher.submit([np.full((2, 3), i, np.float32)]) for i in range(12)]
    results = [f.result(5) for f in futures]
    batcher.close()
    for i, (out,) in enumerate(results):
        np.testing.assert_array_equal(out, np.full((2, 3), 2 * i))
    assert calls == [16, 8]  # 24 rows in at most 16-row calls


def test_requests_that_arrive_while_the_model_is_busy_share_its_next_call():
    """The default (no timeout): a lone request runs at once, and those
    queued meanwhile run together as soon as the model is free."""
    calls: list[int] = []
    busy, release = threading.Event(), threading.Event()

    def slow(arrays):
        calls.append(arrays[0].shape[0])
        busy.set()
        release.wait(5)
        return [arrays[0] * 2]

    batcher = DynamicBatcher(slow, max_batch_size=64)
    first = batcher.submit([np.zeros((1, 2), np.float32)])
    assert busy.wait(5)  # it ran alone, without waiting for others
    later = [batcher.submit([np.full((i + 1, 2), i, np.float32)]) for i in range(5)]
    release.set()
    outputs = [f.result(5)[0] for f in later]
    batcher.close()
    assert first.done() and calls == [1, 15]
    for i, out in enumerate(outputs):
        np.testing.assert_array_equal(out, np.full((i + 1, 2), 2 * i))


def test_a_full_queue_raises_overloaded_and_close_runs_what_was_queued():
    release = threading.Event()

    def slow(arrays):
        release.wait(5)
        return arrays

    batcher = DynamicBatcher(slow, max_batch_size=1, timeout_ms=0, max_queue=2)
    first = batcher.submit([np.zeros((1, 1))])
    time.sleep(0.2)  # the worker is now inside `slow` with the first request
    queued = [batcher.submit([np.ones((1, 1))]) for _ in range(2)]
    with pytest.raises(Overloaded, match=r"2 requests are already queued \(max_queue=2\)"):
        batcher.submit([np.ones((1, 1))])
    release.set()
    batcher.close()
    assert first.done() and all(f.result(0)[0][0, 0] == 1 for f in queued)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit([np.ones((1, 1))])


def test_a_failing_model_call_fails_every_request_of_the_batch():
    def broken(arrays):
        raise ValueError("boom")

    batcher = DynamicBatcher(broken, max_batch_size=8, timeout_ms=20)
    futures = [batcher.submit([np.zeros((1, 1))]) for _ in range(3)]
    for future in futures:
        with pytest.raises(ValueError, match="boom"):
            future.result(5)
    batcher.close()


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="`max_batch_size`, expected a positive integer. Received: max_batch_size=0"):
        DynamicBatcher(lambda a: a, max_batch_size=0)
    with pytest.raises(ValueError, match="`timeout_ms`, expected a number >= 0. Received: timeout_ms=-1"):
        DynamicBatcher(lambda a: a, timeout_ms=-1)
