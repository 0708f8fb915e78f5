"""The executor's pool of trainers started ahead of a job (`zooapi.worker.standby`).

Each test anchors its trainers to a `sleep` process it owns (as an executor
anchors them to its Python daemon), so none outlives the test."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from zooapi.worker import standby


@pytest.fixture
def anchor():
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def pool(tmp_path):
    folder = tmp_path / "pool"
    folder.mkdir()
    return folder


def _process_of(socket_path) -> int:
    """The pid of the trainer started with `socket_path` on its command line
    (read once its command line is in /proc, a moment after it starts)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if str(socket_path).encode() in f.read():
                        return int(pid)
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no process serves {socket_path}")


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # ended, not yet reaped
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.2)
    return False


def test_a_claimed_trainer_leaves_the_pool_takes_the_job_and_answers_its_exit_code(pool, anchor, tmp_path):
    ready = standby.spawn(pool, anchor.pid)
    pid = _process_of(ready)
    assert standby.waiting(pool) == [ready]
    trainer = standby.claim(pool)
    assert standby.waiting(pool) == []  # no other task can claim it now
    job = tmp_path / "job"
    job.mkdir()
    (job / "env.json").write_text("{}")  # and no config.json: the job fails at its first line
    trainer.hand_over(job)
    assert trainer.started() and trainer.pid == pid  # the waiting process, not a new one
    assert trainer.wait() == 1
    error = json.loads((job / "error.json").read_text())
    assert error["type"] == "FileNotFoundError" and "config.json" in error["message"]
    trainer.close()


def test_take_replaces_a_trainer_that_ends_before_taking_the_job(pool, anchor, tmp_path):
    doomed = standby.spawn(pool, anchor.pid)
    pid = _process_of(doomed)
    job = tmp_path / "job"
    job.mkdir()
    (job / "env.json").write_text("{}")
    os.kill(pid, 9)  # it ends before or after the claim connects: refused, or reset once queued
    trainer = standby.take(pool, job)
    assert trainer is not None and trainer.pid != pid and trainer.wait() == 1
    assert not doomed.exists()
    trainer.close()


def test_a_waiting_trainer_ends_with_its_anchor_and_a_working_one_with_its_supervisor(pool, anchor, tmp_path):
    working = standby.claim(pool)  # none waits: a new trainer, started for this claim
    waiting = standby.spawn(pool, anchor.pid)
    job = tmp_path / "job"
    job.mkdir()
    (job / "env.json").write_text("{}")
    os.mkfifo(job / "config.json")  # reading it blocks: the job never ends by itself
    working.hand_over(job)
    assert working.started()
    working.close()  # the supervisor's task is killed
    assert _gone(working.pid, within=10)

    waiting_pid = _process_of(waiting)
    anchor.kill()  # the executor ends
    anchor.wait()
    assert _gone(waiting_pid, within=60)  # it checks its anchor once a second, once TensorFlow is imported
    assert not waiting.exists() and not pool.exists()
