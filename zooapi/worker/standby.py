"""Trainer processes started ahead of a job and shared by the Python workers
of one Spark executor.

Importing TensorFlow takes seconds (9 s on the 2-core machine of the
README's figures), longer than a small fit trains, and every job needs a
fresh process (collectives are configured when TensorFlow starts). So each
executor has a zygote: a process that imported TensorFlow, Keras and the
trainer's modules once, ran no TensorFlow op, and forks a trainer for each
job in a fraction of a second. The pool is the executor's, not one Python
worker's: Spark gives a task whichever idle Python worker it has (the one
idle longest) and stops all idle ones after a minute without tasks, so a
process kept by one worker would mostly miss the next fit.

A forked trainer waits on a Unix socket in the pool folder. A supervisor
claims it by renaming its socket (atomic: one claimant wins), connects and
sends the job folder; the trainer answers its pid once it has accepted,
trains, and answers its exit code. The zygote and waiting trainers end with
the executor's Python daemon; a working trainer ends when its supervisor's
connection closes, so nothing outlives a killed task.

A trainer that has run a job has initialised TensorFlow, so it can no longer
configure collectives for a job of several workers; but it can run another
one-worker job with the same threads at once, without any start-up. After a
one-worker job that succeeded it waits in the pool again as `reusable-<key>`
(`Placement.reuse_key`), one per key and pool; one-worker jobs claim it first.

The supervisor hands the trainer its connection to the driver with the job
(`socket.send_fds`): the trainer reports progress and its own errors on it,
so each worker has one channel to the driver. A trainer that reported its
error exits with `ERROR_REPORTED`.
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
_REUSABLE = "reusable-"
_ZYGOTE = "zygote"
# Started zygotes, kept to be reaped (no zombie while this worker lives).
_STARTED_ZYGOTES: list[subprocess.Popen] = []
# The exit code of a trainer that sent its error to the driver itself.
ERROR_REPORTED = 1
# How long a zygote may take to fork a trainer, its imports included (9 s on
# the README's machine when idle; several times that under load).
FORK_TIMEOUT = 300.0


def pool_folder(daemon: int | None = None) -> Path:
    """This executor's pool: one per Python daemon (`daemon`, default this
    process's parent: Spark's Python workers are the daemon's children),
    interpreter and zooapi installation."""
    import zooapi

    key = hashlib.sha256(f"{sys.executable}\0{zooapi.__file__}".encode()).hexdigest()[:12]
    # A Unix socket's path holds at most 107 bytes: a container's long
    # TMPDIR (YARN's) would not leave room for the names below.
    base = tempfile.gettempdir() if len(tempfile.gettempdir()) <= 40 else "/tmp"
    folder = Path(base) / f"zooapi-trainers-{os.getuid()}" / f"{daemon or os.getppid()}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def waiting(pool: Path, prefix: str = _READY) -> list[Path]:
    """The pool's unclaimed trainers' sockets whose names start with
    `prefix` (default: fresh trainers), oldest (most likely ready) first."""
    entries = []
    for path in pool.glob(f"{prefix}*"):
        try:
            entries.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # claimed meanwhile
            continue
    return [path for _, path in sorted(entries)]


def _listen(pool: Path, name: str) -> socket.socket:
    """A listening socket at `pool`/.`name`, hidden until renamed."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(pool / f".{name}"))
    listener.listen(16)
    return listener


def offer_again(pool: Path, key: str) -> tuple[socket.socket, Path] | None:
    """For a trainer that ran a job: a socket to wait on in `pool` as a
    reusable trainer for `key`, and its path; None when one already waits
    there (this one should end)."""
    if waiting(pool, f"{_REUSABLE}{key}-"):
        return None
    name = f"{key}-{uuid.uuid4().hex[:16]}"
    listener = _listen(pool, name)
    path = pool / f"{_REUSABLE}{name}"
    os.rename(pool / f".{name}", path)
    return listener, path


def start_zygote(pool: Path, anchor: int | None = None, fork: bool = False) -> None:
    """Starts the zygote of `pool` unless one is there: a process that
    imports TensorFlow once, then forks trainers (`spawn`) while the process
    `anchor` lives (default: this worker's parent, the executor's Python
    daemon). Its socket listens at once, so a request made while it still
    imports waits for it. With `fork`, the zygote is a fork of this process,
    which has imported what training needs (`zooapi.worker.daemon`), instead
    of a new interpreter that imports it."""
    from zooapi.quiet import quiet_environment

    for proc in list(_STARTED_ZYGOTES):
        if proc.poll() is not None:
            _STARTED_ZYGOTES.remove(proc)
    path = pool / _ZYGOTE
    if path.exists():
        return
    name = f"{_ZYGOTE}-{uuid.uuid4().hex[:16]}"
    listener = _listen(pool, name)
    anchor = anchor or os.getppid()
    try:
        try:
            os.link(pool / f".{name}", path)  # fails when another task started one first
        except FileExistsError:
            return
        if fork:
            _fork_zygote(listener, anchor, path)
            return
        env = quiet_environment(dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
        env.pop("TF_CONFIG", None)
        _STARTED_ZYGOTES.append(subprocess.Popen(
            [sys.executable, "-m", "zooapi.worker.zygote", str(listener.fileno()), str(anchor), str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, pass_fds=(listener.fileno(),), start_new_session=True,
        ))
    finally:
        listener.close()
        (pool / f".{name}").unlink(missing_ok=True)


def _fork_zygote(listener: socket.socket, anchor: int, path: Path) -> None:
    """`start_zygote`'s zygote as a child of this process, detached as the
    subprocess would be: its own session, no standard streams, no TF_CONFIG."""
    if os.fork() != 0:
        return
    code = 1
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        os.environ.pop("TF_CONFIG", None)
        from zooapi.worker.zygote import zygote

        code = zygote(os.dup(listener.fileno()), anchor, path)
    finally:
        os._exit(code)


def spawn(pool: Path, anchor: int | None = None) -> Path:
    """A new trainer waiting in `pool`, forked by the pool's zygote (started
    first when there is none, with `anchor` as in `start_zygote`); returns
    its socket."""
    for _ in range(2):
        start_zygote(pool, anchor)
        name = uuid.uuid4().hex[:16]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(FORK_TIMEOUT)
            try:
                conn.connect(str(pool / _ZYGOTE))
                conn.sendall(f"{name}\n".encode())
                answered = conn.makefile("rb").readline().strip() == b"ok"
            except TimeoutError:
                raise RuntimeError(f"The trainer processes' zygote in {pool} did not fork a trainer within "
                                   f"{FORK_TIMEOUT:.0f} s (stuck importing TensorFlow?).") from None
            except OSError:  # the zygote ended (killed): its socket is left behind
                answered = False
        if answered:
            return pool / f"{_READY}{name}"
        (pool / _ZYGOTE).unlink(missing_ok=True)
    raise RuntimeError(f"Could not start a trainer process in {pool}: its zygote ended twice "
                       "(out of memory?).")


def become_trainer(pool: Path, name: str) -> tuple[socket.socket, Path]:
    """In a process the zygote just forked: the socket to wait on as the
    fresh trainer `name` of `pool`, and its path."""
    listener = _listen(pool, name)
    path = pool / f"{_READY}{name}"
    os.rename(pool / f".{name}", path)  # listening before anyone can see it
    return listener, path


class Trainer:
    """A claimed trainer: hand it a job, wait for its exit code."""

    def __init__(self, conn: socket.socket, claimed_at: float):
        self._conn = conn
        self._claimed_at = claimed_at
        self._reply = b""
        self.pid: int | None = None
        self.exit_code: int | None = None

    def hand_over(self, folder: Path, channel: socket.socket | None = None, worker: int = 0) -> None:
        """Sends the job folder, this worker's `sys.path` (for the job's own
        modules) and the connection `channel` to the driver it reports on
        as worker `worker`."""
        line = json.dumps({"folder": str(folder), "sys_path": [p for p in sys.path if p],
                           "claimed_at": self._claimed_at, "worker": worker}).encode() + b"\n"
        fds = [channel.fileno()] if channel is not None else []
        sent = socket.send_fds(self._conn, [line], fds)
        if sent < len(line):
            self._conn.sendall(line[sent:])

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
        self.exit_code = None if line is None else int(line)
        return self.exit_code

    def release(self) -> None:
        """Lets the trainer go: one that answered its exit code ends or waits
        for another job by itself; any other is killed."""
        if self.exit_code is None:
            self.kill()
        self.close()

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


def claim(pool: Path, key: str | None = None) -> Trainer:
    """A waiting trainer of `pool` (a reusable one for `key` first), or a
    new one when none is left."""
    claimed_at = time.time()
    while True:
        reusable = waiting(pool, f"{_REUSABLE}{key}-") if key else []
        candidates = reusable + waiting(pool) or [spawn(pool)]
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
            return Trainer(conn, claimed_at)


def take(pool: Path, folder: Path, key: str | None = None, channel: socket.socket | None = None,
         worker: int = 0) -> Trainer | None:
    """A trainer of `pool` that has taken the job in `folder` (TensorFlow
    imported) and the connection `channel` to the driver (as `worker`), a reusable one
    for `key` (`Placement.reuse_key`) when one waits; one that ends before
    taking it is replaced once. None when the second one ended too."""
    for _ in range(2):
        trainer = claim(pool, key)
        try:
            trainer.hand_over(folder, channel, worker)
        except OSError:  # it ended after our connection was queued: the send finds it gone
            trainer.close()
            continue
        if trainer.started():
            return trainer
        trainer.close()
    return None
