"""Dynamic batching: requests that arrive together share one model call.

Requests wait in a bounded queue. A free worker thread takes what is queued
(up to `max_batch_size` rows), runs it as one batch and splits the outputs
back to each request's future: requests that arrive while the model is
busy share its next call, and a lone request never waits for company
(natural batching). With `timeout_ms` > 0 the worker also waits up to that
long after the oldest request's arrival for the batch to fill, as
TensorFlow Serving's `batch_timeout_micros` does; that pays only for
open-loop traffic (clients that do not wait for their answers) with a
costly per-call overhead, and otherwise adds latency: clients that each
wait for their answer, all queued already, bring no more rows (on the
README's machine a 2 ms wait halved a lone client's requests/s and gained
nothing at 32 clients). A full queue refuses new requests (`Overloaded`)
rather than growing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Callable

import numpy as np

from zooapi.checks import check_int

logger = logging.getLogger(__name__)

PredictFn = Callable[[list[np.ndarray]], list[np.ndarray]]


class Overloaded(RuntimeError):
    """The batching queue is full; the caller should retry later."""


class _Request:
    __slots__ = ("arrays", "rows", "arrived", "future")

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays
        self.rows = arrays[0].shape[0]
        self.arrived = time.monotonic()
        self.future: Future = Future()


class DynamicBatcher:
    """Merges concurrent requests into model calls of up to `max_batch_size`
    rows.

    Args:
        predict: takes one array per input (rows concatenated) and returns
            one array per output.
        max_batch_size: the most rows in one call (a single larger request
            still runs, alone).
        timeout_ms: how long the oldest request waits for others to fill
            its batch; 0 (the default): not at all, a free worker runs
            what is queued.
        max_queue: the most requests waiting; more raise `Overloaded`.
        workers: threads calling `predict` (match the model's
            `concurrent_num`).
        on_batch: called with the row count of every model call (metrics).

    Example:
        >>> batcher = DynamicBatcher(model.predict_arrays, max_batch_size=64)  # doctest: +SKIP
        >>> outputs = batcher.submit([x]).result()  # doctest: +SKIP
    """

    def __init__(self, predict: PredictFn, max_batch_size: int = 64, timeout_ms: float = 0.0,
                 max_queue: int = 1024, workers: int = 1, on_batch: Callable[[int], None] | None = None):
        self.max_batch_size = check_int("max_batch_size", max_batch_size)
        self.max_queue = check_int("max_queue", max_queue)
        if not timeout_ms >= 0:
            raise ValueError(f"Received an invalid value for `timeout_ms`, expected a number >= 0. "
                             f"Received: timeout_ms={timeout_ms!r}")
        self.timeout = timeout_ms / 1000.0
        self._predict = predict
        self._on_batch = on_batch
        self._queue: deque[_Request] = deque()
        self._rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"zooapi-batcher-{i}", daemon=True)
                         for i in range(check_int("workers", workers))]
        for thread in self._threads:
            thread.start()

    def queued(self) -> int:
        """Requests waiting for a model call."""
        return len(self._queue)

    def submit(self, arrays: list[np.ndarray]) -> Future:
        """Queues one request (checked arrays, one per input); its future
        gets the list of output arrays for its rows.

        Raises:
            Overloaded: `max_queue` requests are already waiting.
            RuntimeError: the batcher was closed.
        """
        request = _Request(arrays)
        with self._cond:
            if self._closed:
                raise RuntimeError("The batcher is closed; it takes no new requests.")
            if len(self._queue) >= self.max_queue:
                raise Overloaded(f"{len(self._queue)} requests are already queued (max_queue={self.max_queue}).")
            self._queue.append(request)
            self._rows += request.rows
            self._cond.notify()
        return request.future

    def close(self, wait: bool = True) -> None:
        """Stops taking requests; the queued ones still run. With `wait`,
        returns once they have."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def _take(self) -> list[_Request] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = self._queue[0].arrived + self.timeout
            while self._rows < self.max_batch_size and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if not self._queue:  # another worker took them
                return []
            batch = [self._queue.popleft()]
            rows = batch[0].rows
            while self._queue and rows + self._queue[0].rows <= self.max_batch_size:
                rows += self._queue[0].rows
                batch.append(self._queue.popleft())
            self._rows -= rows
            return batch

    def _work(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if batch:
                self._run(batch)

    def _run(self, batch: list[_Request]) -> None:
        try:
            if len(batch) == 1:
                inputs = batch[0].arrays
            else:
                inputs = [np.concatenate(parts) for parts in zip(*(r.arrays for r in batch))]
            outputs = self._predict(inputs)
            if self._on_batch is not None:
                self._on_batch(inputs[0].shape[0])
        except Exception as error:  # every waiting request gets it
            logger.exception("A batch of %d request(s) failed.", len(batch))
            for request in batch:
                request.future.set_exception(error)
            return
        start = 0
        for request in batch:
            request.future.set_result([o[start:start + request.rows] for o in outputs])
            start += request.rows
