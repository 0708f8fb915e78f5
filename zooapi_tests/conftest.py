"""Shared fixtures: one SparkSession at a time, `local[2]`, `local-cluster`
or a Spark Connect session on a local server (`remote="local[2]"`).

Only one SparkContext can live in a process (a local Connect server has one
too), so each fixture stops the other kinds before it starts its own; tests
of one kind are grouped in modules.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

LOCAL = "local[2]"
CLUSTER = "local-cluster[2,1,1024]"


def _session(master: str):
    from pyspark.sql import SparkSession

    import zooapi

    from zooapi.sessions import is_connect

    active = SparkSession.getActiveSession()
    if active is not None and (is_connect(active) or active.sparkContext.master != master):
        active.stop()
        active = None
    return active or zooapi.init_nncontext(f"zooapi-tests-{master}", master=master)


def _connect_session():
    from pyspark.sql import SparkSession

    import zooapi
    from zooapi.sessions import is_connect

    active = SparkSession.getActiveSession()
    if active is not None and is_connect(active):
        return active
    if active is not None:
        active.stop()
    return zooapi.init_nncontext("zooapi-tests-connect", remote=LOCAL)


def pytest_collection_modifyitems(session, config, items):
    """Runs the tests of each kind of session together (local, then
    local-cluster, then Spark Connect), each kind in collection order: a
    switch of kind stops one SparkContext and starts another (executor JVMs,
    Python workers and their TensorFlow processes), which costs seconds."""
    def kind(item) -> int:
        names = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        if "spark_connect" in names or (callspec is not None and callspec.params.get("spark") == "connect"):
            return 2
        return 1 if "spark_cluster" in names or "cluster_few_files" in names else 0

    items[:] = sorted(items, key=kind)  # stable: collection order within a kind


def _suite_over_connect() -> bool:
    """`ZOOAPI_SPARK_MODE=connect`: every `spark` session is a Connect one."""
    return os.environ.get("ZOOAPI_SPARK_MODE", "classic") == "connect"


def default_session():
    """A `local[2]` session (shared by consecutive tests); with
    `ZOOAPI_SPARK_MODE=connect`, a Spark Connect session on a `local[2]`
    server instead, so that the suite runs over Connect. The `spark`
    fixture's session, for module-scoped fixtures."""
    return _connect_session() if _suite_over_connect() else _session(LOCAL)


def pytest_generate_tests(metafunc):
    """In modules marked `both_sessions`, a test that takes `spark` runs
    twice: in a `local[2]` session and in a Spark Connect session (unless
    `ZOOAPI_SPARK_MODE=connect` makes every session a Connect one)."""
    if ("spark" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_sessions")
            and not _suite_over_connect()):
        metafunc.parametrize("spark", ["classic", "connect"], indirect=True)


@pytest.fixture
def spark(request):
    """`default_session()`, or the session kind of a `both_sessions` test."""
    kind = getattr(request, "param", None)
    if kind == "connect":
        return _connect_session()
    if kind == "classic":
        return _session(LOCAL)
    return default_session()


@pytest.fixture
def spark_cluster():
    """A `local-cluster[2,1,1024]` session: two real executor JVMs."""
    return _session(CLUSTER)


@pytest.fixture
def spark_connect():
    """A Spark Connect session on a `local[2]` server started in this process."""
    return _connect_session()


@pytest.fixture(scope="session", autouse=True)
def _stop_spark_at_end():
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits: (x in [0, 1], shape (1797, 64); integer labels)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


def digits_frame(spark, x, y, feature_type: str = "array<float>"):
    rows = [(row.tolist(), int(label)) for row, label in zip(x, y)]
    return spark.createDataFrame(rows, f"features {feature_type}, label long")


# What PySpark puts in the environment once a process has a Spark Connect
# session: a child process that inherits them gets Connect sessions too.
_CONNECT_VARIABLES = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE", "SPARK_REMOTE", "SPARK_API_MODE")


def classic_environment(drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment for a child that starts a classic
    session of its own, without the variables in `drop`."""
    return {k: v for k, v in os.environ.items() if k not in _CONNECT_VARIABLES + tuple(drop)}


def partition_count(df) -> int:
    """All of `df`'s partitions, empty ones included (each task yields a
    row), in a classic and a Spark Connect session alike (Connect has no
    `df.rdd.getNumPartitions()`)."""
    import pyarrow as pa

    def one_row(batches):
        for _ in batches:
            pass
        yield pa.RecordBatch.from_pydict({"task": pa.array([1], pa.int32())})

    return df.mapInArrow(one_row, "task int").count()


def mlp(inputs: int = 64, classes: int = 10, lr: float = 0.01, hidden: int = 32, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((inputs,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(autouse=True)
def _quiet_py4j():
    logging.getLogger("py4j").setLevel(logging.WARNING)


def descendants(root: int) -> set[int]:
    """Processes started (directly or not) by `root`: the executors and Python
    workers of a Spark session this test process runs."""
    import os

    parents = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def busy_trainers(rank: int | None = None) -> list[int]:
    """This test process's trainer processes at work on a job (their output
    goes to a job folder); waiting standby trainers do not count. A trainer
    is this process's when its executor's Python daemon (its anchor, on its
    command line) is: the Python worker that started it may have ended."""
    import os

    tag = "zooapi-train-" if rank is None else f"zooapi-train-{rank}-"
    mine = descendants(os.getpid())
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if tag not in os.readlink(f"/proc/{pid}/fd/1"):
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        zygote = b"zooapi.worker.zygote"
        anchor = int(args[args.index(zygote) + 2]) if zygote in args else None
        if int(pid) in mine or anchor in mine:
            pids.append(int(pid))
    return pids
