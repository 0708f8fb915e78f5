"""The messages a training job exchanges with the driver over TCP.

A message is a JSON object framed by its 4-byte length; a message whose
`nbytes` field is set is followed by that many raw bytes (weights).

A worker that cannot reach the driver (a Spark Connect client that the
cluster cannot connect to) trains anyway: its `OfflineClient` records the
messages in a file of the job, which the chief returns with the trained
model, and answers every request with "go on".
"""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path
from typing import Any

_HEADER = struct.Struct(">I")
# A worker's request to meet the others (`zooapi.engine.server.Rendezvous`).
RENDEZVOUS = "rendezvous"
# The errors that mean bad data: raised to the user with their own type, by
# name as the workers report them; any other becomes a RuntimeError.
DATA_ERRORS = {"ValueError": ValueError, "TypeError": TypeError}


def send(sock: socket.socket, message: dict[str, Any], payload: bytes | None = None) -> None:
    if payload is not None:
        message = {**message, "nbytes": len(payload)}
    body = json.dumps(message).encode()
    sock.sendall(_HEADER.pack(len(body)) + body + (payload or b""))


def _read_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        chunks += chunk
    return bytes(chunks)


def receive(sock: socket.socket) -> tuple[dict[str, Any], bytes | None]:
    """The next message and its payload (None when it has none)."""
    (length,) = _HEADER.unpack(_read_exact(sock, _HEADER.size))
    message = json.loads(_read_exact(sock, length))
    payload = _read_exact(sock, message["nbytes"]) if message.get("nbytes") is not None else None
    return message, payload


# A live server accepts at once, even on a loaded machine: only an address
# the worker cannot reach takes this long, and then the job fails with it.
CONNECT_TIMEOUT = 15.0


class DriverClient:
    """A worker's connection to the driver's job server.

    Example:
        >>> with DriverClient("driver-host:40123", worker=0) as c:  # doctest: +SKIP
        ...     c.send({"type": "step", "epoch": 0, "step": 10, "logs": {"loss": 0.3}})
    """

    def __init__(self, address: str, worker: int, timeout: float = CONNECT_TIMEOUT):
        host, port = address.rsplit(":", 1)
        self.worker = worker
        self.error_sent = False
        try:
            self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        except OSError as exc:
            raise ConnectionError(
                f"Worker {worker} cannot reach zooapi's job server at {address} (the Python process that "
                f"started the job) within {timeout:.0f} s: {exc}. The executors must be able to open a TCP "
                "connection to it: on a classic session it listens on `spark.driver.host`; over Spark Connect "
                f"on this client's address, which the environment variable ZOOAPI_CLIENT_HOST sets.") from exc
        self.sock.settimeout(None)

    @classmethod
    def over(cls, sock: socket.socket, worker: int) -> "DriverClient":
        """A client on a connection opened by another process of the same
        worker (the barrier task hands its connection to its trainer, so
        that each worker has one channel to the driver)."""
        client = cls.__new__(cls)
        client.sock, client.worker, client.error_sent = sock, worker, False
        return client

    def send(self, message: dict[str, Any], payload: bytes | None = None) -> None:
        send(self.sock, {**message, "worker": self.worker}, payload)

    def request(self, message: dict[str, Any], payload: bytes | None = None) -> dict[str, Any]:
        """Sends a message and waits for the driver's answer."""
        self.send({**message, "reply": True}, payload)
        return receive(self.sock)[0]

    def report_error(self, error: str, message: str, trace: str) -> bool:
        """Sends this worker's error (its type name, message and traceback
        text) to the driver; False when the driver cannot be told."""
        try:
            self.send({"type": "error", "error": error, "message": message, "traceback": trace})
        except OSError:
            return False
        self.error_sent = True
        return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "DriverClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OfflineClient:
    """A worker's stand-in for `DriverClient` when the driver cannot be
    reached: messages (without their payloads) are appended to the file
    `path` as JSON lines, and requests are answered with {} (go on).

    Example:
        >>> c = OfflineClient(Path("/tmp/job/events.jsonl"), worker=0)  # doctest: +SKIP
        >>> c.request({"type": "epoch_end", "epoch": 0, "logs": {"loss": 0.3}})  # doctest: +SKIP
        {}
    """

    sock = None

    def __init__(self, path: Path, worker: int):
        self.path, self.worker, self.error_sent = Path(path), worker, False

    def send(self, message: dict[str, Any], payload: bytes | None = None) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({**message, "worker": self.worker}) + "\n")

    def request(self, message: dict[str, Any], payload: bytes | None = None) -> dict[str, Any]:
        self.send({**message, "reply": True})
        return {}

    report_error = DriverClient.report_error

    def close(self) -> None:
        pass

    def __enter__(self) -> "OfflineClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_messages(recorded: bytes) -> list[dict[str, Any]]:
    """The messages in what an `OfflineClient` recorded (its file's bytes)."""
    return [json.loads(line) for line in bytes(recorded).decode().splitlines() if line]


def read_messages(path: Path) -> list[dict[str, Any]]:
    """The messages an `OfflineClient` recorded in `path` (none when it has no file)."""
    try:
        return parse_messages(Path(path).read_bytes())
    except FileNotFoundError:
        return []
