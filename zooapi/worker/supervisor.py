"""What one barrier task of a training job does.

The task spills its partition to local files, agrees on the cluster with the
other tasks (`_meet`), and hands the job
(`zooapi.worker.train_job`: the driver's `TrainJob` and this worker's
`Placement`, unchanged) with its connection to the driver to a trainer
process (TF's collectives can be configured once per process, and Spark
reuses its Python workers; the executor's zygote forks trainers with
TensorFlow imported, `zooapi.worker.standby`). It waits for the trainer and
yields the chief's trained model as Arrow rows. Each worker has one channel
to the driver: this task's connection, used by the task before and after
the trainer runs and by the trainer meanwhile; whichever fails reports its
own error on it, once, so the driver fails the job at once instead of
waiting for Spark's retries.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import traceback
from pathlib import Path
from typing import Iterator

import pyarrow as pa

from zooapi.feed.codecs import decode_feed
from zooapi.feed.spill import SpillWriter
from zooapi.worker import standby, train_job
from zooapi.worker.devices import task_gpus
from zooapi.worker.protocol import DATA_ERRORS, RENDEZVOUS, DriverClient, OfflineClient, read_messages
from zooapi.worker.train_job import Peer, Placement, TrainJob

logger = logging.getLogger(__name__)

SPLIT_COLUMN = "__zooapi_split"  # 0: training row, 1: validation row
WORKER_ROWS = "worker_rows"  # the chief's report to the driver: every worker's rows, once spilled
RESULT_CHUNK = 64 << 20
# The chief's result row that says the partitions were too unequal to train
# on: its chunk holds every worker's rows, as JSON, for the driver to deal them.
UNBALANCED_WORKER = -1
# The chief's result row that holds the messages its job recorded because the
# driver could not be reached (`OfflineClient`), as JSON lines.
OFFLINE_MESSAGES = -2
# Partitions are trained on as they are when the largest has at most this much
# more rows than the smallest, relative to the mean share (or one row).
TOLERANCE = 0.02


def is_balanced(rows: list[int], tolerance: float = TOLERANCE) -> bool:
    """Whether the shares `rows` are within `tolerance` of the mean share
    of each other (always within one row)."""
    if not rows or min(rows) == 0:
        return False
    spread = max(rows) - min(rows)
    return spread <= max(1, int(tolerance * sum(rows) / len(rows)))


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


def check_rows(job: TrainJob, rows: list[int]) -> None:
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


def _trainer_error(folder: Path, code: int | None) -> TrainerError:
    """The error of a trainer that ended without reporting one itself (killed,
    out of memory, or the driver unreachable): the end of its output."""
    log = folder / "child.log"
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    ended = "ended without an exit code (killed?)" if code is None else f"exited with code {code}"
    return TrainerError(f"the training process {ended}; the end of its output:\n{tail}")


def _result_batch(worker: int, chunks: list[bytes]) -> pa.RecordBatch:
    """Rows of the job's result (`worker int, chunk binary`): `chunks` under
    `worker`, a rank or one of the markers above."""
    return pa.RecordBatch.from_arrays(
        [pa.array([worker] * len(chunks), pa.int32()), pa.array(chunks, pa.binary())], names=["worker", "chunk"])


def _rows_row(peers: tuple[Peer, ...]) -> pa.RecordBatch:
    """The chief's answer when the partitions are too unequal: every worker's rows."""
    rows = json.dumps({"rows": [p.rows for p in peers], "val_rows": [p.val_rows for p in peers]})
    return _result_batch(UNBALANCED_WORKER, [rows.encode()])


def _connect(driver: str, rank: int, folder: Path) -> DriverClient | OfflineClient:
    """This worker's channel to the driver; an `OfflineClient` recording in
    `folder` when the driver cannot be reached (its first message says why)."""
    try:
        return DriverClient(driver, rank)
    except ConnectionError as exc:
        logger.warning("%s Training without live progress.", exc)
        client = OfflineClient(folder / train_job.EVENTS_FILE, rank)
        client.send({"type": "offline", "address": driver, "message": str(exc)})
        return client


def _meet(ctx, client: DriverClient | OfflineClient, me: Peer) -> tuple[Peer, ...]:
    """Every worker's `Peer`, in rank order. The driver's job server answers
    as soon as the last worker checks in (`zooapi.engine.server.Rendezvous`);
    Spark's `allGather` polls once a second, so it is the way only when a
    worker cannot reach the driver (the server then sends every worker
    there). One worker meets no one."""
    if len(ctx.getTaskInfos()) == 1:
        return (me,)
    if client.sock is not None:
        answer = client.request({"type": RENDEZVOUS, "peer": me.__dict__})
        if "peers" in answer:
            return tuple(Peer(**p) for p in answer["peers"])
    return tuple(Peer(**json.loads(p)) for p in ctx.allGather(json.dumps(me.__dict__)))


def _recorded_error(folder: Path, rank: int) -> Exception:
    """The error the trainer recorded when it could not reach the driver,
    rebuilt for Spark to report: bad data keeps its type (the driver finds it
    in Spark's report, `zooapi.engine.jobs.python_worker_error`)."""
    error = next((m for m in reversed(read_messages(folder / train_job.EVENTS_FILE)) if m["type"] == "error"), None)
    if error is None:
        return _trainer_error(folder, standby.ERROR_REPORTED)
    text = f"{error['message']}\n--- trainer traceback ---\n{error['traceback'].rstrip()}"
    kind = DATA_ERRORS.get(error["error"])
    return kind(text) if kind is not None else TrainerError(f"worker {rank}: {error['error']}: {text}")


def train_partition(job: TrainJob, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The barrier task: spill, agree on a cluster, train in a child, return
    the chief's trained weights (`zooapi.worker.serialization.model_state_to_bytes`)
    as Arrow rows; or, with `job.check_balance` and unequal partitions, only
    the workers' rows, without training."""
    from pyspark import BarrierTaskContext

    ctx = BarrierTaskContext.get()
    rank = ctx.partitionId()
    folder = Path(tempfile.mkdtemp(prefix=f"zooapi-train-{rank}-"))
    pool = standby.pool_folder()
    standby.start_zygote(pool)  # imports TensorFlow while the partition spills (once per executor)
    client = _connect(job.driver, rank, folder)
    trainer = None
    try:
        rows, val_rows = _spill(job, batches, folder)
        host = ctx.getTaskInfos()[rank].address.rsplit(":", 1)[0]
        me = Peer(host=host, port=_free_port(), rows=rows, val_rows=val_rows)
        peers = _meet(ctx, client, me)
        counts = [p.rows for p in peers]
        if job.check_balance and sum(counts) >= job.num_workers and not is_balanced(counts):
            if rank == 0:
                yield _rows_row(peers)
            return
        if rank == 0:
            client.send({"type": WORKER_ROWS, "rows": counts, "val_rows": [p.val_rows for p in peers]})
        check_rows(job, counts)
        local = sum(1 for p in peers if p.host == host)
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        gpus = task_gpus()
        placement = Placement(rank=rank, peers=peers, threads=max(1, (cpus or 1) // local),
                              gpus=None if gpus is None else tuple(gpus))
        train_job.write(folder, job, placement)
        blob = job.model.value
        (folder / "model.keras").write_bytes(blob.data)
        (folder / "custom_objects.pkl").write_bytes(blob.custom_objects)
        # The trainer reports on this task's connection to the driver, its errors too.
        trainer = standby.take(pool, folder, placement.reuse_key(), channel=client.sock, worker=rank)
        if trainer is None:
            raise _trainer_error(folder, None)
        code = trainer.wait()
        if code == standby.ERROR_REPORTED and client.sock is None:
            raise _recorded_error(folder, rank)
        if code == standby.ERROR_REPORTED:
            client.error_sent = True
            raise TrainerError(f"the training process of worker {rank} failed; it sent its error to the driver")
        if code != 0:
            raise _trainer_error(folder, code)
        if rank == 0:
            data = (folder / "result.npz").read_bytes()
            chunks = [data[i:i + RESULT_CHUNK] for i in range(0, len(data), RESULT_CHUNK)] or [b""]
            yield _result_batch(rank, chunks)
            if client.sock is None:
                yield _result_batch(OFFLINE_MESSAGES, [(folder / train_job.EVENTS_FILE).read_bytes()])
    except BaseException as exc:
        if not client.error_sent:
            client.report_error(type(exc).__name__, str(exc),
                                "" if isinstance(exc, TrainerError) else traceback.format_exc())
        raise
    finally:
        if trainer is not None:
            trainer.release()
        client.close()
        shutil.rmtree(folder, ignore_errors=True)
