"""The driver's end of a training job: a TCP server the workers report to.

A barrier job is one Spark job, so the driver hears nothing from Spark until
it ends. Workers connect here instead (as PySpark's TorchDistributor does) to
stream progress, epoch logs and errors; the driver answers epoch-end messages
with its decision (go on or stop). The workers of a job also meet here
(`Rendezvous`) to learn each other's addresses.
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


# How long the workers of one attempt have to check in before those that did
# are told to meet through Spark's `allGather` instead: a worker that cannot
# reach the server finds out within `CONNECT_TIMEOUT` and goes there at once.
GATHER_AFTER = protocol.CONNECT_TIMEOUT + 5.0


class Rendezvous:
    """Where the `workers` tasks of a barrier job learn each other's
    addresses: once every worker has checked in (`protocol.RENDEZVOUS`: its
    rank and its peer), each gets every peer in rank order, at once.

    Spark's own `BarrierTaskContext.allGather` checks for its answer once a
    second (a `Thread.sleep(1000)` loop in Spark's `BarrierTaskContext`), so
    it cost a multi-worker fit up to a second. It stays the way when some
    worker cannot reach this server: if not every worker has checked in
    within `timeout` seconds, every worker, those that wait and those that
    come later, is answered `{"gather": true}` and meets the others there.

    One meeting per job: Spark does not run a failed barrier result stage
    again (it fails the job: "Could not recover from a failed barrier
    ResultStage"), and zooapi's own retry starts a new job with a new server.
    """

    def __init__(self, workers: int, timeout: float | None = None):
        self.workers, self.timeout = workers, GATHER_AFTER if timeout is None else timeout
        self._lock = threading.Lock()
        self._peers: dict[int, Any] = {}
        self._replies: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._answer: dict[str, Any] | None = None
        self._timer: threading.Timer | None = None

    def join(self, message: dict[str, Any], reply: Callable[[dict[str, Any]], None]) -> None:
        rank = message["worker"]
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(self.timeout, self._give_up)
                self._timer.daemon = True
                self._timer.start()
            self._peers[rank] = message["peer"]
            if self._answer is not None:
                _answer({rank: reply}, self._answer)
                return
            self._replies[rank] = reply
            if sorted(self._peers) == list(range(self.workers)):
                self._timer.cancel()
                self._answer = {"peers": [self._peers[r] for r in range(self.workers)]}
                _answer(self._replies, self._answer)

    def _give_up(self) -> None:
        with self._lock:
            if self._answer is None:
                self._answer = {"gather": True}
                _answer(self._replies, self._answer)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()


def _answer(replies: dict[int, Callable[[dict[str, Any]], None]], answer: dict[str, Any]) -> None:
    for reply in replies.values():
        try:
            reply(answer)
        except OSError:  # that worker is gone; its task fails on its own
            pass


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
            if message.get("type") == protocol.RENDEZVOUS and self.server.rendezvous is not None:
                self.server.rendezvous.join(message, reply)
            else:
                self.server.events.put(Event(message, payload, reply))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class JobServer:
    """Collects worker events in `events` (a queue) until closed; with
    `workers`, the job's workers also meet here (`Rendezvous`).

    Example:
        >>> with JobServer("127.0.0.1") as server:  # doctest: +SKIP
        ...     event = server.events.get(timeout=1)
    """

    def __init__(self, host: str, bind_host: str | None = None, workers: int | None = None):
        # Listens on `bind_host` (default: `host`), tells workers `host`.
        self._server = _Server((host if bind_host is None else bind_host, 0), _Handler)
        self._server.events = queue.Queue()
        self._server.rendezvous = None if workers is None else Rendezvous(workers)
        self.events: queue.Queue[Event] = self._server.events
        advertised = host if host not in ("", "0.0.0.0") else socket.gethostname()
        self.address = f"{advertised}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="zooapi-job-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._server.rendezvous is not None:
            self._server.rendezvous.close()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "JobServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
