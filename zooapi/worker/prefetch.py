"""Run an iterator a few items ahead on a helper thread.

NumPy gathers, Arrow decoding and socket reads release the GIL, as does
TensorFlow, so producing the next batch overlaps with computing this one.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch_iter(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yields what `items` yields, produced up to `depth` items ahead.

    An exception raised while producing is raised here, in the consumer.

    Example:
        >>> list(prefetch_iter(range(3)))
        [0, 1, 2]
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as exc:  # handed to the consumer
            put((False, exc))

    thread = threading.Thread(target=run, name="zooapi-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
