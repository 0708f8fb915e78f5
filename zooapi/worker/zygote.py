"""The life of the trainer processes: `python -m zooapi.worker.zygote FD PID PATH`.

The zygote imports TensorFlow, Keras and the trainer's modules once, then
forks a trainer for each name a supervisor sends on its socket (see
`zooapi.worker.standby` for the pool these live in). A trainer waits for a
job, runs it (`zooapi.worker.trainer.run`), and after a one-worker job that
succeeded waits again as a reusable trainer. Everything here ends with the
executor's Python daemon (the anchor), and a working trainer with its
supervisor's connection.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path


def _anchor_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _read_line(conn: socket.socket) -> bytes:
    """One line (the other side's reader is `standby.Trainer`)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


def _read_job(conn: socket.socket) -> tuple[dict | None, socket.socket | None]:
    """The job line a supervisor sends (`standby.Trainer.hand_over`) and the
    connection to the driver that comes with its first bytes; (None, None)
    when the supervisor left first."""
    data, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    channel = socket.socket(fileno=fds[0]) if fds else None
    if not data:
        if channel is not None:
            channel.close()
        return None, None
    if not data.endswith(b"\n"):
        data += _read_line(conn)
    return json.loads(data), channel


def _end_with_supervisor(conn: socket.socket, done: threading.Event) -> None:
    """Ends this process when the supervisor's connection closes before the
    job is `done` (its task was killed): it sends nothing after the job, so
    any read returning is EOF."""
    conn.recv(1)
    if not done.is_set():
        os._exit(3)


def _accept(listener: socket.socket, anchor_pid: int, path: Path, close: bool = True) -> socket.socket | None:
    """The next connection to `listener` (closed after it unless not
    `close`); None when the process `anchor_pid` ended first (the socket at
    `path` is removed)."""
    listener.settimeout(1.0)
    try:
        while True:
            try:
                conn, _ = listener.accept()
                conn.settimeout(None)
                return conn
            except TimeoutError:
                if not _anchor_alive(anchor_pid):
                    path.unlink(missing_ok=True)
                    try:
                        path.parent.rmdir()  # the executor's pool, when this was its last trainer
                    except OSError:
                        pass
                    return None
    finally:
        if close:
            listener.close()


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _serve(conn: socket.socket) -> tuple[int, str | None]:
    """Runs the job a supervisor sends on `conn`; its exit code and, when
    this process can run another job, the `Placement.reuse_key` of the jobs it can run."""
    from zooapi.worker.protocol import DriverClient, OfflineClient
    from zooapi.worker.train_job import EVENTS_FILE
    from zooapi.worker.trainer import run

    accepted = time.time()
    job, channel = _read_job(conn)
    if job is None:
        return 0, None
    import_wait = max(0.0, accepted - job["claimed_at"])  # a zygote that was still importing
    folder = Path(job["folder"])
    sys.path.extend(p for p in job["sys_path"] if p not in sys.path)
    _redirect_output(str(folder / "child.log"))
    conn.sendall(f"{os.getpid()}\n".encode())
    done = threading.Event()
    threading.Thread(target=_end_with_supervisor, args=(conn, done), daemon=True).start()
    worker = job.get("worker", 0)
    if channel is not None:
        client = DriverClient.over(channel, worker)
    else:  # the task could not reach the driver: record for it
        client = OfflineClient(folder / EVENTS_FILE, worker)
    code, key = run(folder, client, import_wait)
    client.close()
    sys.stdout.flush()
    sys.stderr.flush()
    _redirect_output(os.devnull)  # the job folder is about to go
    done.set()
    conn.sendall(f"{code}\n".encode())
    conn.close()
    return code, key


def import_training_modules() -> None:
    """Imports what training needs, so that the zygote's trainers have it: TensorFlow
    (9 s here) and the rest (1 s more: Spark's Python workers put
    `pyspark.zip` first on the path, and Python compiles PySpark from the
    zip on every import). Importing runs no TensorFlow op, so the process
    can still configure collectives for the job it gets."""
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
    from pyspark import cloudpickle  # noqa: F401

    from zooapi import checks  # noqa: F401
    from zooapi.feed import spill  # noqa: F401
    from zooapi.worker import (devices, keras_internals, layer_state, loop, metrics,  # noqa: F401
                               protocol, sample_weights, serialization, train_job, trainer, transforms)


def _wait_for_jobs(listener: socket.socket, anchor_pid: int, path: Path) -> int:
    """A trainer's life: waits on the pool socket `listener` (at `path`
    until claimed) while the process `anchor_pid` lives, trains the job a
    supervisor sends; after a one-worker job it waits again, as a reusable
    trainer, for the next one-worker job with the same threads."""
    from zooapi.worker import standby as pool

    while True:
        conn = _accept(listener, anchor_pid, path)
        if conn is None:
            return 0
        code, key = _serve(conn)
        offer = pool.offer_again(path.parent, key) if key else None
        if offer is None:
            return code
        listener, path = offer
        import keras

        keras.backend.clear_session()  # the finished job's models and layer names


def zygote(listener_fd: int, anchor_pid: int, path: Path) -> int:
    """Imports what training needs, then forks a trainer for each name a
    supervisor sends on the socket `listener_fd` (at `path`), while the
    process `anchor_pid` (the executor's Python daemon) lives. See
    `zooapi.worker.standby`."""
    import signal

    from zooapi.worker import standby as pool

    listener = socket.socket(fileno=listener_fd)
    import_training_modules()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the system reaps the trainers
    while True:
        conn = _accept(listener, anchor_pid, path, close=False)
        if conn is None:
            return 0
        with conn:
            name = _read_line(conn).decode().strip()
            if not name or os.fork() != 0:
                continue
            code = 1
            try:  # the forked trainer
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                listener.close()
                trainer_listener, trainer_path = pool.become_trainer(path.parent, name)
                conn.sendall(b"ok\n")
                conn.close()
                code = _wait_for_jobs(trainer_listener, anchor_pid, trainer_path)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)


if __name__ == "__main__":
    code = zygote(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: TF's collective threads can hang it.
    os._exit(code)
