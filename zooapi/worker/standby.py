"""Trainer processes started ahead of a job and shared by the Python workers
of one Spark executor.

Importing TensorFlow takes seconds (9 s on the 2-core machine of the
README's figures), longer than a small fit trains. So the trainer of the
next job is started before it is needed and waits, TensorFlow imported, on
a Unix socket in a pool folder that every Python worker of the executor
finds. The pool is the executor's, not one Python worker's: Spark gives a
task whichever idle Python worker it has (the one idle longest) and stops
all idle ones after a minute without tasks, so a trainer kept by one worker
would mostly miss the next fit.

A supervisor claims a waiting trainer by renaming its socket (atomic: one
claimant wins), connects and sends the job folder; the trainer answers its
pid once it has accepted, trains, and answers its exit code. Waiting
trainers end with the executor's Python daemon; a working trainer ends when
its supervisor's connection closes, so nothing outlives a killed task.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

_READY = "ready-"
# Started trainer processes, kept to be reaped (no zombies while this worker lives).
_SPAWNED_TRAINERS: list[subprocess.Popen] = []


def pool_folder() -> Path:
    """This executor's pool: one per Python daemon (the parent of Spark's
    Python workers), interpreter and zooapi installation."""
    import zooapi

    key = hashlib.sha256(f"{sys.executable}\0{zooapi.__file__}".encode()).hexdigest()[:12]
    # A Unix socket's path holds at most 107 bytes: a container's long
    # TMPDIR (YARN's) would not leave room for the names below.
    base = tempfile.gettempdir() if len(tempfile.gettempdir()) <= 40 else "/tmp"
    folder = Path(base) / f"zooapi-trainers-{os.getuid()}" / f"{os.getppid()}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def waiting(pool: Path) -> list[Path]:
    """The pool's unclaimed trainers' sockets, oldest (most likely ready) first."""
    entries = []
    for path in pool.glob(f"{_READY}*"):
        try:
            entries.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # claimed meanwhile
            continue
    return [path for _, path in sorted(entries)]


def top_up(pool: Path, count: int) -> None:
    """Starts one more trainer in `pool` when fewer than `count` wait there."""
    if len(waiting(pool)) < count:
        spawn(pool)


def spawn(pool: Path, anchor: int | None = None) -> Path:
    """Starts a trainer that imports TensorFlow and waits in `pool` while
    the process `anchor` lives (default: this worker's parent, the
    executor's Python daemon); returns its socket."""
    from zooapi.quiet import quiet_environment

    for proc in list(_SPAWNED_TRAINERS):
        if proc.poll() is not None:
            _SPAWNED_TRAINERS.remove(proc)
    name = uuid.uuid4().hex[:16]
    ready = pool / f"{_READY}{name}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(pool / f".{name}"))
        listener.listen(1)
        env = quiet_environment(dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
        env.pop("TF_CONFIG", None)
        _SPAWNED_TRAINERS.append(subprocess.Popen(
            [sys.executable, "-m", "zooapi.worker.trainer", "--standby", str(listener.fileno()),
             str(anchor or os.getppid()),
             str(ready)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, pass_fds=(listener.fileno(),), start_new_session=True,
        ))
        os.rename(pool / f".{name}", ready)  # listening before anyone can see it
        return ready
    finally:
        listener.close()


class Trainer:
    """A claimed trainer: hand it a job, wait for its exit code."""

    def __init__(self, conn: socket.socket):
        self._conn = conn
        self._reply = b""
        self.pid: int | None = None

    def hand_over(self, folder: Path) -> None:
        """Sends the job folder (and this worker's `sys.path`, for the job's own modules)."""
        line = json.dumps({"folder": str(folder), "sys_path": [p for p in sys.path if p], "sent_at": time.time()})
        self._conn.sendall(line.encode() + b"\n")

    def _line(self) -> str | None:
        while b"\n" not in self._reply:
            try:
                chunk = self._conn.recv(4096)
            except ConnectionResetError:  # it ended with our connection queued
                chunk = b""
            if not chunk:
                return None
            self._reply += chunk
        line, self._reply = self._reply.split(b"\n", 1)
        return line.decode()

    def started(self) -> bool:
        """Waits until the trainer has taken the job (TensorFlow imported);
        False when it died first."""
        line = self._line()
        if line is None:
            return False
        self.pid = int(line)
        return True

    def wait(self) -> int | None:
        """The trainer's exit code; None when it died without one (killed)."""
        line = self._line()
        return None if line is None else int(line)

    def kill(self) -> None:
        """Ends the trainer now (closing the connection ends it too, a moment later)."""
        if self.pid is not None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
        self.close()

    def close(self) -> None:
        self._conn.close()


def claim(pool: Path) -> Trainer:
    """A waiting trainer of `pool`, or a new one when none is left."""
    while True:
        candidates = waiting(pool) or [spawn(pool)]
        for path in candidates:
            mine = path.with_name(f"claimed-{path.name}")
            try:
                os.rename(path, mine)
            except FileNotFoundError:  # another task claimed it first
                continue
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(str(mine))
            except OSError:  # its process has ended
                conn.close()
                continue
            finally:
                mine.unlink(missing_ok=True)
            return Trainer(conn)


def take(pool: Path, folder: Path) -> Trainer | None:
    """A trainer of `pool` that has taken the job in `folder` (TensorFlow
    imported); one that ends before taking it is replaced once. None when
    the second one ended too."""
    for _ in range(2):
        trainer = claim(pool)
        try:
            trainer.hand_over(folder)
        except OSError:  # it ended after our connection was queued: the send finds it gone
            trainer.close()
            continue
        if trainer.started():
            return trainer
        trainer.close()
    return None
