"""Running a barrier job while listening to its workers.

The Spark job runs on a thread of its own (in its own job group), and the
calling thread handles the workers' events: progress, epoch ends, errors.
A worker's error cancels the job at once and is raised as one Python
exception: the worker's own message, then its traceback; for `ValueError` and
`TypeError` (bad data) with its own type. Spark's report of the cancelled job
(Java frames) is not chained to it but kept as its `spark_error` attribute.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from zooapi.engine.server import Event, JobServer
from zooapi.worker.protocol import DATA_ERRORS
from zooapi.sessions import cancel_job_group, classic_context, connect_conf, job_group

logger = logging.getLogger(__name__)

# When one worker fails, the others fail next with an aborted collective;
# their reports may arrive first, so wait this long for the root cause.
_ROOT_CAUSE_WAIT = 3.0
_SECONDARY = ("Collective ops is aborted", "UnavailableError", "CancelledError", "Connection reset by peer")


def _is_secondary(message: dict[str, Any]) -> bool:
    text = f"{message.get('error')} {message.get('message')}"
    return any(marker in text for marker in _SECONDARY)


_LOCAL_MASTER = re.compile(r"^local(?:\[(\d+|\*)(?:,\s*\d+)?\])?$")
_LOCAL_CLUSTER_MASTER = re.compile(r"^local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*\]$")
# How long to wait for executors that the configuration promises but that
# have not registered yet (a cluster that has just started).
_EXECUTOR_WAIT = 30.0
_SLOTS_CHECK_FAILED = "SPARK-24819"


def expected_task_slots(conf) -> int | None:
    """The task slots that the configuration gives (executors times their
    cores, over `spark.task.cpus`), when it says so exactly: `local[N]`,
    `local-cluster[N,C,M]`, or `spark.executor.instances` on YARN or
    Kubernetes; None when it cannot tell (a standalone master, dynamic
    allocation)."""
    master = conf.get("spark.master", "") or ""
    task_cpus = max(1, int(conf.get("spark.task.cpus", "1") or 1))
    match = _LOCAL_MASTER.match(master)
    if match:
        cores = match.group(1) or "1"
        return (os.cpu_count() or 1 if cores == "*" else int(cores)) // task_cpus
    match = _LOCAL_CLUSTER_MASTER.match(master)
    if match:
        return int(match.group(1)) * (int(match.group(2)) // task_cpus)
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        return None
    instances = conf.get("spark.executor.instances", None)
    if instances is None or not (master.startswith("yarn") or master.startswith("k8s")):
        return None  # a standalone master sizes executors from its workers' cores and spark.cores.max
    return int(instances) * (int(conf.get("spark.executor.cores", "1") or 1) // task_cpus)


def live_task_slots(sc) -> int:
    """The tasks the registered executors can run at once (Spark's own count,
    the one its barrier check uses)."""
    jsc = sc._jsc.sc()
    return int(jsc.maxNumConcurrentTasks(jsc.resourceProfileManager().defaultResourceProfile()))


def _slots_error(num_workers: int, slots: int, master: str, detail: str) -> ValueError:
    more = ("a larger `local[N]` master" if _LOCAL_MASTER.match(master) else
            "more executors (`spark.executor.instances`, or workers in `local-cluster[workers,cores,memory]`) "
            "or more cores per executor (`spark.executor.cores`)")
    return ValueError(
        f"Received num_workers={num_workers}, expected at most the {slots} task slot(s) the cluster has "
        f"({detail}): a training job runs all its workers at once, one task slot each. Use "
        f"num_workers <= {max(slots, 1)}, or give the cluster more slots: {more}, or a smaller "
        f"`spark.task.cpus`.")


def check_task_slots(spark, num_workers: int) -> None:
    """Refuses, within seconds, a barrier job of `num_workers` tasks that the
    cluster cannot run at once (Spark would otherwise retry its own check for
    minutes). Waits up to `_EXECUTOR_WAIT` seconds for executors that the
    configuration promises but that have not registered yet. Where the slots
    cannot be known (dynamic allocation, standalone executors of unknown
    size) it does not refuse: Spark's own check decides, and
    `init_nncontext` makes it fail fast. Over Spark Connect the server's
    configuration says what it can (`spark.master`...); executors that have
    not registered are not waited for."""
    sc = classic_context(spark)
    conf = sc.getConf() if sc is not None else connect_conf(spark)
    master = conf.get("spark.master", "") or ""
    expected = expected_task_slots(conf)
    task_cpus = conf.get("spark.task.cpus", "1")
    if expected is not None and expected < num_workers:
        raise _slots_error(num_workers, expected, master, f"master {master}, spark.task.cpus={task_cpus}")
    if sc is None:
        return
    try:
        live = live_task_slots(sc)
    except Exception:  # another Spark's internals: the configuration's count must do
        logger.debug("Could not read the cluster's task slots", exc_info=True)
        return
    deadline = time.monotonic() + _EXECUTOR_WAIT
    while live < num_workers and expected is not None and time.monotonic() < deadline:
        time.sleep(0.2)
        live = live_task_slots(sc)
    if live >= num_workers:
        return
    if expected is None:
        logger.warning("The executors registered so far have %d task slot(s) for num_workers=%d; "
                       "Spark's barrier check decides", live, num_workers)
        return
    raise _slots_error(num_workers, live, master,
                       f"registered executors after {_EXECUTOR_WAIT:.0f} s, of the {expected} configured; "
                       f"spark.task.cpus={task_cpus} and task resources such as GPUs count too")


def _with_context(exc: Exception, worker_traceback: str, spark_error: BaseException | None) -> Exception:
    exc.worker_traceback = worker_traceback  # the worker's own traceback text ("" when none came)
    exc.spark_error = spark_error  # Spark's report of the failed job (long: Java frames)
    return exc


def worker_exception(message: dict[str, Any], spark_error: BaseException | None = None) -> Exception:
    """The exception to raise on the driver for a worker's error event: a
    `ValueError` or `TypeError` (bad data) keeps its type and message, any
    other error becomes a `RuntimeError` naming the worker; the worker's
    traceback follows the message, and Spark's error is kept as the
    `spark_error` attribute (not chained: its Java frames say nothing
    about the cause)."""
    worker = message.get("worker")
    text = str(message.get("message", ""))
    trace = str(message.get("traceback") or "").rstrip()
    kind = DATA_ERRORS.get(message.get("error"))
    if kind is None:
        if message.get("error") != "TrainerError":
            text = f"{message.get('error')}: {text}"
        text, kind = f"Training failed on worker {worker}: {text}", RuntimeError
    if trace:
        text += f"\n\n--- worker {worker} traceback ---\n{trace}"
    return _with_context(kind(text), trace, spark_error)


_PYTHON_ERROR_LINE = re.compile(r"^(ValueError|TypeError): (.*)$", re.MULTILINE)
_TRACEBACK_START = "Traceback (most recent call last)"


def python_worker_error(exc: BaseException) -> Exception | None:
    """The `ValueError` or `TypeError` that a Spark task's Python code raised,
    rebuilt from the text of the `PythonException` Spark reports for it (the
    last such line of the worker's traceback, i.e. the outermost error), with
    the worker's traceback below its message; None when `exc` is no such
    report."""
    text = str(exc)
    start = text.find(_TRACEBACK_START)
    if start < 0:
        return None
    found = list(_PYTHON_ERROR_LINE.finditer(text, start))
    if not found:
        return None
    last = found[-1]
    trace = text[start:last.end()].rstrip()
    return _with_context(DATA_ERRORS[last.group(1)](f"{last.group(2)}\n\n--- worker traceback ---\n{trace}"),
                         trace, exc)


def spark_error_summary(exc: BaseException, max_lines: int = 12) -> str:
    """The readable part of a Spark error: the Python traceback a task
    reported, else the first lines of the message without Java frames."""
    text = str(exc)
    start = text.find(_TRACEBACK_START)
    if start >= 0:
        end = text.find("\n\nJVM stacktrace:", start)
        return text[start:end if end > 0 else None].rstrip()
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("at ")]
    return "\n".join(lines[:max_lines])


@contextmanager
def worker_errors() -> Iterator[None]:
    """Runs a Spark action so that bad data found by a task (a `ValueError`
    or `TypeError` raised in Python on an executor) reaches the caller with
    its own type, message and the task's traceback; Spark's error is kept as
    the `spark_error` attribute."""
    try:
        yield
    except Exception as exc:
        converted = python_worker_error(exc)
        if converted is None:
            raise
        raise converted from None


def run_barrier_job(spark, server: JobServer, collect: Callable[[], Any], on_event: Callable[[Event], None],
                    description: str = "zooapi training") -> Any:
    """Runs `collect()` (a Spark action) on a thread; feeds worker events to
    `on_event` on this thread until the action ends; returns its result."""
    group = f"zooapi-{uuid.uuid4().hex[:12]}"
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            with job_group(spark, group, description):
                outcome["result"] = collect()
        except BaseException as exc:  # re-raised on the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="zooapi-spark-job", daemon=True)
    thread.start()
    worker_error, failed_at = None, None
    try:
        while thread.is_alive() or not server.events.empty() or (
                worker_error is not None and _is_secondary(worker_error)
                and time.monotonic() - failed_at < _ROOT_CAUSE_WAIT):
            try:
                event = server.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if event.message.get("type") == "error":
                if worker_error is None:
                    worker_error, failed_at = event.message, time.monotonic()
                    logger.debug("worker %s failed; cancelling the job", event.message.get("worker"))
                    cancel_job_group(spark, group)
                elif _is_secondary(worker_error) and not _is_secondary(event.message):
                    worker_error = event.message
                continue
            if worker_error is None:
                on_event(event)
    except BaseException:
        cancel_job_group(spark, group)
        thread.join(timeout=30)
        raise
    if "error" in outcome and worker_error is None:
        # A task can die before it reports; give its report a moment to arrive.
        try:
            while True:
                event = server.events.get(timeout=1.0)
                if event.message.get("type") == "error":
                    worker_error = event.message
                    break
        except queue.Empty:
            pass
    if worker_error is not None:
        raise worker_exception(worker_error, outcome.get("error")) from None
    if "error" in outcome:
        error = outcome["error"]
        converted = python_worker_error(error)  # e.g. an image that did not decode upstream
        if converted is not None:
            raise converted from None
        if _SLOTS_CHECK_FAILED in str(error):
            raise _with_context(ValueError(
                f"Spark cannot run the {description} job's barrier tasks at once: the cluster has fewer free "
                "task slots than the job's workers. Use fewer workers, or give the cluster more slots (more "
                "executors, `spark.executor.cores`, a smaller `spark.task.cpus`)."), "", error) from None
        raise _with_context(RuntimeError(
            f"The Spark job '{description}' failed:\n{spark_error_summary(error)}"), "", error) from None
    return outcome["result"]
