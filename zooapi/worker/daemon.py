"""Spark's Python daemon, with TensorFlow imported before it forks workers:
`spark.python.daemon.module=zooapi.worker.daemon` (set by `init_nncontext`).

Each executor runs one Python daemon (`pyspark.daemon`), which forks a
Python worker for each task slot that needs one; Spark stops workers idle
for a minute. A worker that predicts or evaluates imported TensorFlow itself
when its task unpickled the model, about 9 s on the README's 2-core machine:
the first `engine.predict` or `engine.evaluate` of a session, and the first
after a minute without tasks, paid it. This daemon imports TensorFlow, Keras
and zooapi's worker modules once, running no TensorFlow op (a forked process
can still configure its threads, devices and collectives), forks the
executor's trainer zygote (`zooapi.worker.zygote`, which otherwise imports
them all again in a new interpreter), then is PySpark's own daemon: its
workers start with TensorFlow imported. An executor imports TensorFlow once
instead of once per process that needs it.

Spark runs one daemon per kind of Python task: the workers of DataFrame
operations (`mapInArrow`, UDFs; zooapi's tasks are all of this kind) and
those of RDD operations (`createDataFrame` from local rows, `rdd.map`) are
forked by different daemons. Only the first kind gets TensorFlow: Spark sets
`SPARK_SIMPLIFIED_TRACEBACK` in its environment alone (unless
`spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled` is off, when
zooapi's tasks import TensorFlow themselves, as without this daemon), so an
RDD job never waits for an import it does not use.

Nothing but the daemon's port may reach its standard output (Spark reads
the port there), so the imports write to standard error. A failed import
is logged there and the daemon runs as Spark's own: tasks then import what
they need themselves, and report what is missing.
"""

from __future__ import annotations

import os
import sys


def _import_modules() -> None:
    """What training and prediction need: the zygote's list."""
    from zooapi.quiet import quiet_environment, quiet_tensorflow_import
    from zooapi.worker.zygote import import_training_modules

    quiet_environment(os.environ)
    quiet_tensorflow_import()
    import_training_modules()


def _import_writing_to_stderr() -> bool:
    """`_import_modules`, with this process's standard output on its
    standard error meanwhile; False (the failure written there too) when it
    failed."""
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        _import_modules()
        return True
    except Exception as exc:  # the workers import it themselves, and report
        print(f"zooapi.worker.daemon: workers start without TensorFlow imported: {exc!r}", file=sys.stderr)
        return False
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)


def _fork_zygote() -> None:
    """The executor's trainer zygote (`zooapi.worker.standby`), forked from
    this process now that it has imported TensorFlow. Forked after the
    imports, with standard output restored, so that the zygote holds none of
    Spark's pipes but the standard streams it replaces."""
    from zooapi.worker import standby

    try:
        standby.start_zygote(standby.pool_folder(os.getpid()), anchor=os.getpid(), fork=True)
    except Exception as exc:  # the first fit starts one itself
        print(f"zooapi.worker.daemon: could not start the trainers' zygote: {exc!r}", file=sys.stderr)


def main() -> None:
    if os.environ.get("SPARK_SIMPLIFIED_TRACEBACK") and _import_writing_to_stderr():  # not an RDD task's daemon
        _fork_zygote()
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
