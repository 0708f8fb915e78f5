"""What one barrier task of a training job does.

The task spills its partition to local files, agrees on the cluster with the
other tasks (`BarrierTaskContext.allGather`), runs TensorFlow in a trainer
process of its own (TF's collectives can be configured once per process, and
Spark reuses its Python workers; the executor's zygote in
`zooapi.worker.standby` forks it with TensorFlow imported), waits for it,
and yields the chief's
trained model as Arrow rows. Any failure is reported to the driver first, so
the driver fails the job at once instead of waiting for Spark's retries.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from zooapi.feed.codecs import decode_feed
from zooapi.feed.columns import TensorFeed
from zooapi.feed.spill import SpillWriter
from zooapi.worker import standby
from zooapi.worker.devices import task_gpus
from zooapi.worker.protocol import DriverClient

logger = logging.getLogger(__name__)

SPLIT_COLUMN = "__zooapi_split"  # 0: training row, 1: validation row
WORKER_ROWS = "worker_rows"  # the chief's report to the driver: every worker's rows, once spilled
RESULT_CHUNK = 64 << 20
# The chief's result row that says the partitions were too unequal to train
# on: its chunk holds every worker's rows, as JSON, for the driver to deal them.
UNBALANCED_WORKER = -1
# Partitions are trained on as they are when the largest has at most this much
# more rows than the smallest, relative to the mean share (or one row).
TOLERANCE = 0.02


@dataclass
class TrainJob:
    """Everything a training task needs; pickled into the Spark closure."""

    features: list[TensorFeed]
    labels: list[TensorFeed]
    num_workers: int
    batch_size: int
    epochs: int
    driver: str
    model: Any  # a Broadcast of a ModelBlob
    initial_epoch: int = 0
    shuffle: bool = True
    seed: int = 0
    has_validation: bool = False
    sync_weights: bool = False
    progress_interval: float = 0.25
    steps_per_execution: int = 64
    # The trainer's own part, pickled on the driver: (feature preprocessing,
    # label preprocessing, zooapi.worker.loop.Control). This task passes the
    # bytes on without unpickling them, since that would import what they
    # need (zooapi.optim, hence Keras and TensorFlow: 9 s) here.
    trainer_part: bytes = b""
    initial_epoch_step: int = 0
    weights: list[TensorFeed] = field(default_factory=list)  # a per-row loss weight column, or none
    class_weight: dict[int, float] | None = None
    # Train only when the partitions' rows are within TOLERANCE of each other;
    # else end the job with the rows per worker (UNBALANCED_WORKER).
    check_balance: bool = False


def worker_batch_sizes(global_batch: int, num_workers: int) -> list[int]:
    """The global batch split as evenly as it goes: sizes differ by at most one."""
    base, rest = divmod(global_batch, num_workers)
    return [base + (1 if i < rest else 0) for i in range(num_workers)]


def is_balanced(rows: list[int], tolerance: float = TOLERANCE) -> bool:
    """Whether the shares `rows` are within `tolerance` of the mean share
    of each other (always within one row)."""
    if not rows or min(rows) == 0:
        return False
    spread = max(rows) - min(rows)
    return spread <= max(1, int(tolerance * sum(rows) / len(rows)))


def steps_per_epoch(total_rows: int, global_batch: int) -> int:
    return max(1, math.ceil(total_rows / global_batch))


def _spill(job: TrainJob, batches: Iterator[pa.RecordBatch], folder: Path) -> tuple[int, int]:
    feeds = job.features + job.labels + job.weights
    names = [f.group.describe() for f in feeds]
    writers = {0: SpillWriter(folder / "train", names)}
    if job.has_validation:
        writers[1] = SpillWriter(folder / "validation", names)
    for batch in batches:
        if job.has_validation:
            split = batch.column(SPLIT_COLUMN).to_numpy(zero_copy_only=False)
            parts = {s: batch.filter(pa.array(split == s)) for s in writers}
        else:
            parts = {0: batch}
        for s, part in parts.items():
            if part.num_rows:
                writer = writers[s]
                writer.append([decode_feed(part, f, writer.rows) for f in feeds])
    metas = {s: w.close() for s, w in writers.items()}
    return metas[0]["rows"], metas.get(1, {"rows": 0})["rows"]


class TrainerError(RuntimeError):
    """The training process failed; the message holds its own error text."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _check_rows(job: TrainJob, rows: list[int]) -> None:
    """Every worker needs rows. The driver has dealt the rows evenly, so this
    fails only when the DataFrame gave other rows to training than to the
    driver's count (a non-deterministic source)."""
    total = sum(rows)
    if total == 0:
        raise ValueError("The training DataFrame `df` is empty: it has no rows to train on "
                         "(check the filters or the path it was read from).")
    if total < job.num_workers:
        raise ValueError(
            f"num_workers={job.num_workers} is more than the number of training rows "
            f"({total}); use at most {total} worker(s)."
        )
    empty = [i for i, r in enumerate(rows) if r == 0]
    if empty:
        raise ValueError(
            f"Worker {empty[0]} received no training rows ({total} rows over {job.num_workers} workers: {rows}), "
            f"although the rows were dealt evenly when counted: the DataFrame gives other rows each time it is "
            f"computed (a non-deterministic source?); `cache()` or `checkpoint()` it before training."
        )


def _trainer_error(folder: Path, code: int | None) -> Exception:
    error_file = folder / "error.json"
    if error_file.exists():
        err = json.loads(error_file.read_text())
        kind = {"ValueError": ValueError, "TypeError": TypeError}.get(err["type"])
        if kind is not None:
            exc = kind(err["message"])
            exc.worker_traceback = err.get("traceback", "")  # sent to the driver below the message
            return exc
        return TrainerError(f"{err['type']}: {err['message']}\n--- trainer traceback ---\n{err['traceback']}")
    log = folder / "child.log"
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    ended = "ended without an exit code (killed?)" if code is None else f"exited with code {code}"
    return TrainerError(f"the training process {ended}; the end of its output:\n{tail}")


def _rows_row(peers: list[dict]) -> pa.RecordBatch:
    """The chief's answer when the partitions are too unequal: every worker's rows."""
    rows = json.dumps({"rows": [p["rows"] for p in peers], "val_rows": [p["val_rows"] for p in peers]})
    return pa.RecordBatch.from_arrays(
        [pa.array([UNBALANCED_WORKER], pa.int32()), pa.array([rows.encode()], pa.binary())], names=["worker", "chunk"])


def train_partition(job: TrainJob, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The barrier task: spill, agree on a cluster, train in a child, return
    the chief's trained weights (`zooapi.worker.serialization.model_state_to_bytes`)
    as Arrow rows; or, with `job.check_balance` and unequal partitions, only
    the workers' rows, without training."""
    from pyspark import BarrierTaskContext

    ctx = BarrierTaskContext.get()
    rank = ctx.partitionId()
    folder = Path(tempfile.mkdtemp(prefix=f"zooapi-train-{rank}-"))
    client = DriverClient(job.driver, rank)
    pool = standby.pool_folder()
    standby.start_zygote(pool)  # imports TensorFlow while the partition spills (once per executor)
    trainer = None
    try:
        rows, val_rows = _spill(job, batches, folder)
        host = ctx.getTaskInfos()[rank].address.rsplit(":", 1)[0]
        me = {"host": host, "port": _free_port(), "rows": rows, "val_rows": val_rows}
        peers = [json.loads(p) for p in ctx.allGather(json.dumps(me))]
        counts = [p["rows"] for p in peers]
        if job.check_balance and sum(counts) >= job.num_workers and not is_balanced(counts):
            if rank == 0:
                yield _rows_row(peers)
            return
        if rank == 0:
            client.send({"type": WORKER_ROWS, "rows": counts, "val_rows": [p["val_rows"] for p in peers]})
        _check_rows(job, counts)
        sizes = worker_batch_sizes(job.batch_size, job.num_workers)
        local = sum(1 for p in peers if p["host"] == host)
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        config = {
            "rank": rank,
            "num_workers": job.num_workers,
            "local_batch": sizes[rank],
            "global_batch": job.batch_size,
            "steps": steps_per_epoch(sum(p["rows"] for p in peers), job.batch_size),
            "total_rows": sum(p["rows"] for p in peers),
            "total_val_rows": sum(p["val_rows"] for p in peers),
            "epochs": job.epochs,
            "initial_epoch": job.initial_epoch,
            "initial_epoch_step": job.initial_epoch_step,
            "shuffle": job.shuffle,
            "seed": job.seed,
            "has_validation": job.has_validation,
            "sync_weights": job.sync_weights,
            "progress_interval": job.progress_interval,
            "steps_per_execution": job.steps_per_execution,
            "driver": job.driver,
            "threads": max(1, (cpus or 1) // local),
            "n_features": len(job.features),
            "n_labels": len(job.labels),
            "class_weight": job.class_weight and list(job.class_weight.items()),
            "gpus": task_gpus(),
        }
        (folder / "config.json").write_text(json.dumps(config))
        blob = job.model.value
        (folder / "model.keras").write_bytes(blob.data)
        (folder / "custom_objects.pkl").write_bytes(blob.custom_objects)
        (folder / "job.pkl").write_bytes(job.trainer_part)
        (folder / "env.json").write_text(json.dumps({"TF_CONFIG": json.dumps({
            "cluster": {"worker": [f"{p['host']}:{p['port']}" for p in peers]},
            "task": {"type": "worker", "index": rank},
        })} if job.num_workers > 1 else {}))
        trainer = standby.take(pool, folder, standby.reuse_key(config))
        if trainer is None:
            raise _trainer_error(folder, None)
        code = trainer.wait()
        if code != 0:
            raise _trainer_error(folder, code)
        if rank == 0:
            data = (folder / "result.npz").read_bytes()
            chunks = [data[i:i + RESULT_CHUNK] for i in range(0, len(data), RESULT_CHUNK)] or [b""]
            yield pa.RecordBatch.from_arrays(
                [pa.array([rank] * len(chunks), pa.int32()), pa.array(chunks, pa.binary())],
                names=["worker", "chunk"],
            )
    except BaseException as exc:
        try:
            client.send({
                "type": "error",
                "error": type(exc).__name__,
                "message": str(exc),
                "traceback": "" if isinstance(exc, TrainerError) else (
                    getattr(exc, "worker_traceback", "") or traceback.format_exc()),
            })
        except OSError:
            pass
        raise
    finally:
        if trainer is not None:
            trainer.release()
        client.close()
        shutil.rmtree(folder, ignore_errors=True)
