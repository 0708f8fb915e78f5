"""Start each executor's Python daemon and trainer zygote when the session starts.

The first fit, predict or evaluate of a session otherwise waits for
TensorFlow's import, about 9 s on a 2-core machine. `init_nncontext` calls
`warm_up` on a session it creates: one short background Spark job, a task
per default task slot. Its tasks start the executors' Python daemons, which
import TensorFlow and fork the trainers' zygote (`zooapi.worker.daemon`);
each task also starts its executor's zygote itself where the daemon did
not (PySpark's own daemon, e.g. a remote Connect server's), a no-op where
one runs. The imports overlap whatever the user does before the first fit.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterator

logger = logging.getLogger(__name__)

JOB_DESCRIPTION = "zooapi: start the executors' trainer processes"


def _start_zygote(batches: Iterator) -> Iterator:
    from zooapi.worker import standby

    for _ in batches:
        pass
    standby.start_zygote(standby.pool_folder())
    return iter(())


def warm_up(spark) -> threading.Thread:
    """Starts, on a daemon thread, the job that starts the executors'
    zygotes; returns the thread. The job is best effort: executors added
    later, or missed by Spark's scheduling, start theirs at their first fit,
    and a failure is only logged (at DEBUG), as is a session stopped meanwhile.

    Example:
        >>> warm_up(spark).join()  # doctest: +SKIP
    """
    from zooapi.sessions import classic_context, default_parallelism

    def run() -> None:
        try:
            context = classic_context(spark)
            if context is not None:
                context.setJobDescription(JOB_DESCRIPTION)
            slots = default_parallelism(spark)
            (spark.range(0, slots, numPartitions=slots)
             .mapInArrow(_start_zygote, "id long")
             .write.format("noop").mode("overwrite").save())
        except Exception as exc:  # the session stopped, or its workers cannot run zooapi
            logger.debug("Starting the executors' trainer processes ahead of the first fit failed: %s", exc)

    thread = threading.Thread(target=run, name="zooapi-warm-up", daemon=True)
    thread.start()
    return thread
