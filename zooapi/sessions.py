"""Where a classic SparkSession and a Spark Connect session differ, in one place.

zooapi runs the same code over both; this module holds the few things that
must be done two ways:

- the cluster's parallelism (`SparkContext.defaultParallelism` on a classic
  session; over Connect, `spark.default.parallelism`, else the master's cores,
  else one cheap job that counts the partitions of `spark.range`);
- cancelling a job group (`setJobGroup`/`cancelJobGroup` on a classic session,
  `addTag`/`interruptTag` over Connect);
- shipping a model to the tasks (a broadcast variable on a classic session,
  destroyed after training; a session artifact read with `SparkFiles.get`
  over Connect, which has no broadcasts; neither goes through a closure, so
  large models meet no gRPC message limit);
- the address that workers use to reach the Python process that started the
  job (`spark.driver.host` on a classic session, where that process is the
  driver; over Connect the client's own address, see `client_host`). Workers
  that cannot reach it fail the job within seconds, naming the address
  (`zooapi.worker.protocol.DriverClient`).

Example:
    >>> from zooapi.sessions import is_connect
    >>> is_connect(object())
    False
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import tempfile
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator

logger = logging.getLogger(__name__)

# The address that training workers use to reach this process over Spark
# Connect, when the one found by `client_host` is not reachable from them.
CLIENT_HOST_VARIABLE = "ZOOAPI_CLIENT_HOST"


def is_connect(spark) -> bool:
    """Whether `spark` is a Spark Connect session (a `DataFrame`'s session too)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def classic_context(spark):
    """The session's SparkContext, or None over Spark Connect."""
    if is_connect(spark):
        return None
    try:
        sc = spark.sparkContext
        sc._jsc  # noqa: B018 - a classic context has a JVM side
        return sc
    except Exception:
        return None


def session_key(spark) -> str:
    """What identifies the session's application (for caches of shipped models)."""
    sc = classic_context(spark)
    return sc.applicationId if sc is not None else f"connect-{spark.session_id}"


_PARALLELISM: dict[str, int] = {}


def default_parallelism(spark) -> int:
    """How many tasks the cluster runs at once by default (at least 1)."""
    sc = classic_context(spark)
    if sc is not None:
        return max(1, sc.defaultParallelism)
    key = session_key(spark)
    if key not in _PARALLELISM:
        _PARALLELISM[key] = _connect_parallelism(spark)
    return _PARALLELISM[key]


def _connect_parallelism(spark) -> int:
    from zooapi.engine.jobs import expected_task_slots

    configured = spark.conf.get("spark.default.parallelism", None)
    if configured:
        return max(1, int(configured))
    slots = expected_task_slots(connect_conf(spark))
    if slots:
        return max(1, slots)
    from pyspark.sql import functions as F

    # spark.range without a partition count uses the default parallelism.
    row = spark.range(0, 1 << 20).select(F.max(F.spark_partition_id()).alias("last")).first()
    return int(row["last"]) + 1


def connect_conf(spark) -> "_Conf":
    """The settings that size a cluster (`zooapi.engine.jobs.expected_task_slots`
    reads them), as a Spark Connect session's runtime configuration gives them."""
    return _Conf({key: spark.conf.get(key, None) for key in (
        "spark.master", "spark.task.cpus", "spark.dynamicAllocation.enabled", "spark.executor.instances",
        "spark.executor.cores")})


class _Conf:
    def __init__(self, values: dict[str, str | None]):
        self._values = values

    def get(self, key: str, default=None):
        value = self._values.get(key)
        return default if value is None else value


@contextmanager
def job_group(spark, group: str, description: str) -> Iterator[None]:
    """Puts the Spark jobs this thread starts inside the block into `group`,
    which `cancel_job_group` cancels (from any thread)."""
    sc = classic_context(spark)
    if sc is not None:
        sc.setJobGroup(group, description, interruptOnCancel=True)
        yield
        return
    spark.addTag(group)
    try:
        yield
    finally:
        spark.removeTag(group)


def cancel_job_group(spark, group: str) -> None:
    """Cancels the running jobs of `group`, interrupting their tasks."""
    sc = classic_context(spark)
    if sc is not None:
        sc.cancelJobGroup(group)
    else:
        spark.interruptTag(group)


class ShippedModel:
    """A model's bytes as a session artifact; `value` reads them on a worker.

    The stand-in for a broadcast variable over Spark Connect: pickled into the
    task's closure it is a file name, not the model."""

    def __init__(self, name: str):
        self.name = name

    @property
    def value(self):
        from pyspark import SparkFiles

        with _ARTIFACT_LOCK:
            if self.name not in _ARTIFACT_VALUES:
                with open(SparkFiles.get(self.name), "rb") as f:
                    _ARTIFACT_VALUES[self.name] = pickle.load(f)  # written by `ship_model`, not a user's file
                while len(_ARTIFACT_VALUES) > 2:
                    _ARTIFACT_VALUES.popitem(last=False)
            return _ARTIFACT_VALUES[self.name]

    def unpersist(self, blocking: bool = False) -> None:
        """Artifacts live as long as the session: nothing to release early."""

    destroy = unpersist


_ARTIFACT_LOCK = threading.Lock()
_ARTIFACT_VALUES: "OrderedDict[str, Any]" = OrderedDict()  # on workers: the last models read
_SHIPPED: set[tuple[str, str]] = set()  # on the client: (session, artifact) already added


# The largest model that travels inside a task's closure (streaming over
# Spark Connect): well under the Connect server's gRPC message limit (128 MB
# by default), since the closure travels in the query plan.
INLINE_MODEL_LIMIT = 64 << 20


class InlineModel:
    """A model's bytes inside the task's closure, with a broadcast's
    interface. For streaming queries over Spark Connect: their micro-batch
    jobs run outside the session's artifact scope, so tasks cannot find a
    session artifact (`SparkFiles.get` looks in the application's folder)."""

    def __init__(self, blob):
        self.value = blob

    def unpersist(self, blocking: bool = False) -> None:
        """Nothing to release: the bytes go with each task."""

    destroy = unpersist


def ship_model(spark, blob, streaming: bool = False):
    """Makes `blob` (a `ModelBlob`) readable by the session's tasks: returns a
    broadcast (classic), a `ShippedModel` (Connect) or, for a `streaming`
    query over Connect, an `InlineModel`; all have `value`."""
    sc = classic_context(spark)
    if sc is not None:
        return sc.broadcast(blob)
    if streaming:
        size = len(blob.data) + len(blob.custom_objects)
        if size > INLINE_MODEL_LIMIT:
            raise ValueError(
                f"Received a streaming DataFrame over Spark Connect and a model of {size / 2**20:.0f} MB; expected "
                f"at most {INLINE_MODEL_LIMIT >> 20} MB: a streaming query's tasks cannot read session artifacts, "
                "so the model travels in the query plan. Use a classic SparkSession for this stream, or score "
                "each micro-batch with `foreachBatch` and `zooapi.engine.predict` on the batch DataFrame.")
        return InlineModel(blob)
    name = f"zooapi-model-{blob.key[:32]}.pkl"
    key = (session_key(spark), name)
    if key not in _SHIPPED:
        with tempfile.TemporaryDirectory(prefix="zooapi-") as folder:
            path = os.path.join(folder, name)
            with open(path, "wb") as f:
                pickle.dump(blob, f, protocol=pickle.HIGHEST_PROTOCOL)
            spark.addArtifacts(path, file=True)
        _SHIPPED.add(key)
    return ShippedModel(name)


def listen_address(spark) -> tuple[str, str]:
    """`(address workers connect to, address to listen on)` for this process's
    job server: the driver's host on a classic session; over Connect the
    client's (`client_host`), listening on every interface unless that is
    the loopback."""
    if is_connect(spark):
        host = client_host(spark)
        return host, host if host.startswith("127.") else "0.0.0.0"
    host = (spark.conf.get("spark.driver.host", None)
            or spark.sparkContext.getConf().get("spark.driver.host", "127.0.0.1"))
    return host, host


def client_host(spark) -> str:
    """This client's address as the Spark Connect server's machine sees it:
    `ZOOAPI_CLIENT_HOST` when set, else the local address of a route to the
    server (loopback for a server on this machine)."""
    configured = os.environ.get(CLIENT_HOST_VARIABLE)
    if configured:
        return configured
    server = _server_host(spark)
    if server in ("localhost", "127.0.0.1", "::1", ""):
        return "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((server, 15002))  # UDP: no packet is sent, only a route chosen
            return probe.getsockname()[0]
    except OSError:
        return socket.gethostbyname(socket.gethostname())


def _server_host(spark) -> str:
    try:
        return spark.client.host
    except AttributeError:
        return ""
