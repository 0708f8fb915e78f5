"""Which GPUs a worker's TensorFlow uses, and how it takes their memory.

Spark hands GPUs to tasks when the cluster declares them
(`spark.executor.resource.gpu.amount`, `spark.task.resource.gpu.amount`):
a task sees its share as `TaskContext.resources()["gpu"].addresses`. A
training worker then makes only those GPUs visible to TensorFlow, so two
workers on one host do not both train on every GPU of the host. Every
visible GPU grows its memory as needed instead of TensorFlow's default of
taking it all at start, so several Spark tasks (prediction runs one Python
worker per task slot) can share one GPU. On a machine without GPUs nothing
changes.

Addresses are read as TensorFlow's GPU indices, as PySpark's
`TorchDistributor` reads them: positions among the GPUs the process can see
(within `CUDA_VISIBLE_DEVICES` when the cluster manager set it).

Example:
    >>> configure_gpus(None)  # doctest: +SKIP
    []
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

logger = logging.getLogger(__name__)

__all__ = ["configure_gpus", "task_gpus"]


def task_gpus() -> list[str] | None:
    """The GPU addresses Spark gave the running task, or None when it gave
    none (or when no task is running)."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    if ctx is None:
        return None
    info = ctx.resources().get("gpu")
    return list(info.addresses) if info is not None else None


def configure_gpus(addresses: Sequence[str] | None) -> list[Any]:
    """Sets up this process's GPUs; call it before TensorFlow runs anything.

    Args:
        addresses: the task's GPU addresses (`task_gpus()`): only these
            GPUs stay visible. None keeps every GPU visible.

    Returns:
        The physical GPU devices TensorFlow will use (empty without GPUs).

    Raises:
        ValueError: an address that is not the index of a GPU this process
            sees.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return []
    if addresses is not None:
        indices = []
        for address in addresses:
            if not str(address).isdigit() or int(address) >= len(gpus):
                raise ValueError(f"Spark gave this task GPU address {address!r}, but this process sees "
                                 f"{len(gpus)} GPU(s) (indices 0 to {len(gpus) - 1}); expected the addresses "
                                 "to be GPU indices, as the GPU discovery script reports them.")
            indices.append(int(address))
        gpus = [gpus[i] for i in sorted(set(indices))]
        tf.config.set_visible_devices(gpus, "GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    logger.info("TensorFlow uses GPU(s) %s, memory growing as needed", [g.name for g in gpus])
    return gpus
