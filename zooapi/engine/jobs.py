"""Running a barrier job while listening to its workers.

The Spark job runs on a thread of its own (in its own job group), and the
calling thread handles the workers' events: progress, epoch ends, errors.
A worker's error cancels the job at once and is raised with the worker's
own message; for `ValueError` and `TypeError` (bad data) with its own type.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from zooapi.engine.server import Event, JobServer

logger = logging.getLogger(__name__)

_ERROR_TYPES = {"ValueError": ValueError, "TypeError": TypeError}
# When one worker fails, the others fail next with an aborted collective;
# their reports may arrive first, so wait this long for the root cause.
_ROOT_CAUSE_WAIT = 3.0
_SECONDARY = ("Collective ops is aborted", "UnavailableError", "CancelledError", "Connection reset by peer")


def _is_secondary(message: dict[str, Any]) -> bool:
    text = f"{message.get('error')} {message.get('message')}"
    return any(marker in text for marker in _SECONDARY)


def driver_host(spark) -> str:
    return spark.conf.get("spark.driver.host", None) or spark.sparkContext.getConf().get("spark.driver.host", "127.0.0.1")


def worker_exception(message: dict[str, Any]) -> Exception:
    """The exception to raise on the driver for a worker's error event."""
    kind = _ERROR_TYPES.get(message.get("error"))
    if kind is not None:
        return kind(message["message"])
    text = message.get("message", "")
    if message.get("error") != "TrainerError":
        text = f"{message.get('error')}: {text}"
    if message.get("traceback"):
        text += f"\n--- worker traceback ---\n{message['traceback']}"
    return RuntimeError(f"Training failed on worker {message.get('worker')}: {text}")


_PYTHON_ERROR_LINE = re.compile(r"^(ValueError|TypeError): (.*)$", re.MULTILINE)


def python_worker_error(exc: BaseException) -> Exception | None:
    """The `ValueError` or `TypeError` that a Spark task's Python code raised,
    rebuilt from the text of the `PythonException` Spark reports for it (the
    last such line of the worker's traceback, i.e. the outermost error); None
    when `exc` is no such report."""
    text = str(exc)
    if "Traceback (most recent call last)" not in text:
        return None
    found = list(_PYTHON_ERROR_LINE.finditer(text))
    if not found:
        return None
    return _ERROR_TYPES[found[-1].group(1)](found[-1].group(2))


@contextmanager
def worker_errors() -> Iterator[None]:
    """Runs a Spark action so that bad data found by a task (a `ValueError`
    or `TypeError` raised in Python on an executor) reaches the caller with
    its own type and message, the original Spark error chained."""
    try:
        yield
    except Exception as exc:
        converted = python_worker_error(exc)
        if converted is None:
            raise
        raise converted from exc


def run_barrier_job(spark, server: JobServer, collect: Callable[[], Any], on_event: Callable[[Event], None],
                    description: str = "zooapi training") -> Any:
    """Runs `collect()` (a Spark action) on a thread; feeds worker events to
    `on_event` on this thread until the action ends; returns its result."""
    sc = spark.sparkContext
    group = f"zooapi-{uuid.uuid4().hex[:12]}"
    outcome: dict[str, Any] = {}

    def run() -> None:
        sc.setJobGroup(group, description, interruptOnCancel=True)
        try:
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
                    sc.cancelJobGroup(group)
                elif _is_secondary(worker_error) and not _is_secondary(event.message):
                    worker_error = event.message
                continue
            if worker_error is None:
                on_event(event)
    except BaseException:
        sc.cancelJobGroup(group)
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
        raise worker_exception(worker_error) from outcome.get("error")
    if "error" in outcome:
        converted = python_worker_error(outcome["error"])  # e.g. an image that did not decode upstream
        if converted is not None:
            raise converted from outcome["error"]
        raise RuntimeError(f"The Spark job '{description}' failed: {outcome['error']}") from outcome["error"]
    return outcome["result"]
