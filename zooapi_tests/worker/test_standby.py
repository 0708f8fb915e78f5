"""The executor's pool of trainers started ahead of a job (`zooapi.worker.standby`).

Each test anchors its trainers to a `sleep` process it owns (as an executor
anchors them to its Python daemon), so none outlives the test."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import numpy as np
import pytest

from zooapi.worker import protocol, standby
from zooapi_tests.conftest import classic_environment


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
    """The pid of the process that listens on the Unix socket `socket_path`:
    its socket's inode in /proc/net/unix (listed under the hidden name it
    was bound to: `.<name>`, `.<key>-<id>`, `.zygote-<id>`), that inode among the fds."""
    name = socket_path.name.removeprefix("ready-").removeprefix("reusable-")
    bound = str(socket_path.parent / f".{name}")
    with open("/proc/net/unix") as f:
        rows = [line.split() for line in f]
    # Accepted connections show the listener's path too; flag 00010000: listening.
    inodes = [row[6] for row in rows if len(row) > 7 and row[7].startswith(bound) and row[3] == "00010000"]
    assert inodes, f"nothing listens on {socket_path}"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inodes[0]}]" for fd in fds):
                return int(pid)
        except OSError:
            continue
    raise AssertionError(f"no process holds {socket_path}")


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


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


def test_a_claimed_trainer_leaves_the_pool_takes_the_job_and_reports_on_the_channel_it_is_handed(
        pool, anchor, tmp_path):
    ready = standby.spawn(pool, anchor.pid)
    pid = _process_of(ready)
    assert standby.waiting(pool) == [ready]
    trainer = standby.claim(pool)
    assert standby.waiting(pool) == []  # no other task can claim it now
    job = tmp_path / "job"
    job.mkdir()  # with no job.pkl: the job fails at its first line
    driver_end, task_end = socket.socketpair()
    trainer.hand_over(job, channel=task_end, worker=3)
    task_end.close()  # the trainer holds its own copy of the task's connection
    assert trainer.started() and trainer.pid == pid  # the waiting process, not a new one
    assert trainer.wait() == standby.ERROR_REPORTED
    message, _ = protocol.receive(driver_end)  # the trainer's own report, as the driver gets it
    assert message["type"] == "error" and message["worker"] == 3
    assert message["error"] == "FileNotFoundError" and "job.pkl" in message["message"]
    assert "Traceback" in message["traceback"]
    trainer.close()
    driver_end.close()


def test_take_replaces_a_trainer_that_ends_before_taking_the_job(pool, anchor, tmp_path):
    doomed = standby.spawn(pool, anchor.pid)
    pid = _process_of(doomed)
    job = tmp_path / "job"
    job.mkdir()
    os.kill(pid, 9)  # it ends before or after the claim connects: refused, or reset once queued
    driver_end, task_end = socket.socketpair()
    trainer = standby.take(pool, job, channel=task_end)
    assert trainer is not None and trainer.pid != pid and trainer.wait() == standby.ERROR_REPORTED
    driver_end.close()
    task_end.close()
    assert not doomed.exists()
    trainer.close()


def test_trainers_are_forked_by_one_zygote_per_pool_that_imported_tensorflow_once(pool, anchor):
    first, second = standby.spawn(pool, anchor.pid), standby.spawn(pool, anchor.pid)
    zygote = _process_of(pool / "zygote")
    assert _parent_of(_process_of(first)) == zygote and _parent_of(_process_of(second)) == zygote
    assert standby.waiting(pool) == [first, second]
    with open(f"/proc/{zygote}/cmdline", "rb") as f:
        args = f.read().split(b"\0")
    assert args[args.index(b"zooapi.worker.zygote") + 2] == str(anchor.pid).encode()


def test_a_waiting_trainer_ends_with_its_anchor_and_a_working_one_with_its_supervisor(pool, anchor, tmp_path):
    standby.start_zygote(pool, anchor.pid)
    working = standby.claim(pool)  # none waits: a new trainer, forked for this claim
    waiting = standby.spawn(pool, anchor.pid)
    job = tmp_path / "job"
    job.mkdir()
    os.mkfifo(job / "job.pkl")  # reading it blocks: the job never ends by itself
    working.hand_over(job)
    assert working.started()
    working.close()  # the supervisor's task is killed
    assert _gone(working.pid, within=10)

    waiting_pid, zygote_pid = _process_of(waiting), _process_of(pool / "zygote")
    anchor.kill()  # the executor ends
    anchor.wait()
    assert _gone(waiting_pid, within=60) and _gone(zygote_pid, within=10)  # both check it once a second
    assert not waiting.exists() and not pool.exists()


def _reusable_trainers() -> dict[str, int]:
    """This test process's reusable trainers: socket name -> pid."""
    import tempfile
    from pathlib import Path

    from zooapi_tests.conftest import descendants

    mine = descendants(os.getpid())
    found = {}
    for path in Path(tempfile.gettempdir(), f"zooapi-trainers-{os.getuid()}").glob("*/reusable-*"):
        if int(path.parent.name.split("-")[0]) in mine:  # the pool of one of our executors
            found[path.name] = _process_of(path)
    return found


def test_a_one_worker_fit_leaves_its_trainer_to_run_the_next_one_alike(spark, digits):
    from zooapi.engine import fit
    from zooapi_tests.conftest import digits_frame, mlp

    x, y = digits
    df = digits_frame(spark, x[:600], y[:600]).cache()
    trained = []
    for _ in range(2):
        model = mlp(seed=3)
        fit(model, df, feature_cols="features", label_cols="label", num_workers=1, epochs=2, batch_size=32, seed=7)
        trained.append(model.get_weights())
        after = _reusable_trainers()
        assert len(after) == 1, after  # it waits again, as the executor's one reusable trainer
        if len(trained) == 1:
            first = after
    # The same process ran both fits (it came back under a new name) ...
    assert set(first.values()) == set(after.values()) and set(first) != set(after)
    # ... and trained the second model as a new process trains it: bit for bit.
    for a, b in zip(*trained):
        np.testing.assert_array_equal(a, b)


def test_a_new_session_has_a_python_daemon_that_imported_tensorflow_and_forked_the_zygote(tmp_path):
    """`init_nncontext` sets Spark's Python daemon to `zooapi.worker.daemon`
    and starts the executors' daemons with a background job
    (`zooapi.engine.warm_up`): before any fit there is a zygote, forked by the
    daemon of DataFrame tasks, whose workers start with TensorFlow imported;
    RDD tasks' workers do not."""
    import subprocess
    import sys

    script = tmp_path / "session.py"
    script.write_text(
        "import os, sys, tempfile, time\n"
        "from pathlib import Path\n"
        "import pyarrow as pa\n"
        "import zooapi\n"
        "from zooapi_tests.conftest import descendants\n"
        "from zooapi_tests.worker.test_standby import _parent_of, _process_of\n"
        "spark = zooapi.init_nncontext('warm-up', master='local[1]')\n"
        "pools = Path(tempfile.gettempdir(), f'zooapi-trainers-{os.getuid()}')\n"
        "deadline = time.monotonic() + 120\n"
        "found = []\n"
        "while not found and time.monotonic() < deadline:\n"
        "    mine = descendants(os.getpid())\n"
        "    found = [p for p in pools.glob('*/zygote') if int(p.parent.name.split('-')[0]) in mine]\n"
        "    time.sleep(0.5)\n"
        "print('zygotes', len(found))\n"
        "daemon, zygote = int(found[0].parent.name.split('-')[0]), _process_of(found[0])\n"
        "print('forked by its daemon', _parent_of(zygote) == daemon)\n"
        "links = [os.readlink(f'/proc/{zygote}/fd/{fd}') for fd in os.listdir(f'/proc/{zygote}/fd')]\n"
        "print('pipes held', sum(link.startswith('pipe:') for link in links))\n"
        "def probe(batches):\n"
        "    had = 'tensorflow' in sys.modules\n"
        "    for _ in batches: pass\n"
        "    yield pa.RecordBatch.from_pydict({'tf': [had], 'daemon': [os.getppid()]})\n"
        "row = spark.range(1).mapInArrow(probe, 'tf boolean, daemon long').first()\n"
        "print('dataframe task', row.tf, row.daemon == daemon)\n"
        "rdd = spark.sparkContext.parallelize([0], 1).map(lambda _: 'tensorflow' in sys.modules).first()\n"
        "print('rdd task', rdd)\n"
        "spark.stop()\n")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env=dict(classic_environment(), PYTHONPATH=path))
    report = out.stdout + out.stderr[-3000:]
    assert "zygotes 1" in out.stdout, report
    assert "forked by its daemon True" in out.stdout, report
    assert "pipes held 0" in out.stdout, report  # none of Spark's pipes to the daemon
    assert "dataframe task True True" in out.stdout, report
    assert "rdd task False" in out.stdout, report


def test_the_daemon_keeps_its_standard_output_for_spark_when_its_imports_fail():
    """Spark reads the daemon's port from its standard output: whatever the
    imports print, and their error, go to standard error, and the daemon
    goes on without them."""
    import subprocess
    import sys

    code = ("from zooapi.worker import daemon\n"
            "def fail():\n"
            "    print('a line that would corrupt the port Spark reads')\n"
            "    raise ImportError(\"No module named 'tensorflow'\")\n"
            "daemon._import_modules = fail\n"
            "print('imported', daemon._import_writing_to_stderr())\n"
            "print('port')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout == "imported False\nport\n", out
    assert "a line that would corrupt" in out.stderr
    assert "workers start without TensorFlow imported: ImportError(\"No module named 'tensorflow'\")" in out.stderr
