"""The driver's end of a training job: a TCP server the workers report to.

A barrier job is one Spark job, so the driver hears nothing from Spark until
it ends. Workers connect here instead (as PySpark's TorchDistributor does) to
stream progress, epoch logs and errors; the driver answers epoch-end messages
with its decision (go on or stop).
"""

from __future__ import annotations

import queue
import socket
import socketserver
import threading
from typing import Any, Callable, NamedTuple

from zooapi.worker import protocol


class Event(NamedTuple):
    message: dict[str, Any]
    payload: bytes | None
    reply: Callable[[dict[str, Any]], None]


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        lock = threading.Lock()

        def reply(answer: dict[str, Any]) -> None:
            with lock:
                protocol.send(sock, answer)

        while True:
            try:
                message, payload = protocol.receive(sock)
            except (ConnectionError, OSError):
                return
            self.server.events.put(Event(message, payload, reply))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class JobServer:
    """Collects worker events in `events` (a queue) until closed.

    Example:
        >>> with JobServer("127.0.0.1") as server:  # doctest: +SKIP
        ...     event = server.events.get(timeout=1)
    """

    def __init__(self, host: str, bind_host: str | None = None):
        # Listens on `bind_host` (default: `host`), tells workers `host`.
        self._server = _Server((host if bind_host is None else bind_host, 0), _Handler)
        self._server.events = queue.Queue()
        self.events: queue.Queue[Event] = self._server.events
        advertised = host if host not in ("", "0.0.0.0") else socket.gethostname()
        self.address = f"{advertised}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="zooapi-job-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "JobServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
