"""One training job, as it travels from the driver to the trainer processes.

`TrainJob` is what the driver decides (columns, batch, epochs, where to
report, the model); it reaches the barrier tasks in the Spark closure.
`Placement` is what a task learns when the workers meet (`supervisor._meet`):
its rank, every worker's address and rows, its threads and GPUs. The task
writes both, unchanged, to the job folder (`write`), and the trainer reads
them back as they are (`read`); everything derived from them (the local
batch, steps per epoch, `TF_CONFIG`, which trainers can be reused) is a
method here, computed the same way on every side.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zooapi.feed.columns import TensorFeed

JOB_FILE = "job.pkl"
# What a worker that cannot reach the driver records (`protocol.OfflineClient`).
EVENTS_FILE = "events.jsonl"


@dataclass(frozen=True)
class TrainJob:
    """Everything the driver decides about a training job; the same object
    for every worker (pickled into the Spark closure). A retry or the second
    deal of an unbalanced DataFrame runs a `dataclasses.replace`d copy."""

    features: list[TensorFeed]
    labels: list[TensorFeed]
    num_workers: int
    batch_size: int
    epochs: int
    driver: str = ""  # host:port of the driver's job server, set per attempt
    model: Any = None  # a shipped ModelBlob (`zooapi.sessions.ship_model`), set per attempt
    initial_epoch: int = 0
    shuffle: bool = True
    seed: int = 0
    has_validation: bool = False
    sync_weights: bool = False
    progress_interval: float = 0.25
    steps_per_execution: int = 64
    # The trainer's own part, pickled on the driver: (feature preprocessing,
    # label preprocessing, zooapi.worker.loop.Control). The barrier task passes
    # the bytes on without unpickling them, since that would import what they
    # need (zooapi.optim, hence Keras and TensorFlow: 9 s) there.
    trainer_part: bytes = b""
    initial_epoch_step: int = 0
    weights: list[TensorFeed] = field(default_factory=list)  # a per-row loss weight column, or none
    class_weight: dict[int, float] | None = None
    # Train only when the partitions' rows are within a tolerance of each
    # other; else end the job with the rows per worker (see the supervisor).
    check_balance: bool = False


@dataclass(frozen=True)
class Peer:
    """One worker as the others see it."""

    host: str
    port: int  # where its TensorFlow collectives listen
    rows: int  # training rows in its partition
    val_rows: int


@dataclass(frozen=True)
class Placement:
    """Where one worker stands in its job: its rank among `peers` (every
    worker, in rank order), and the intra-op threads and GPUs it may use."""

    rank: int
    peers: tuple[Peer, ...]
    threads: int = 1
    gpus: tuple[str, ...] | None = None

    @property
    def num_workers(self) -> int:
        return len(self.peers)

    @property
    def chief(self) -> bool:
        return self.rank == 0

    @property
    def total_rows(self) -> int:
        return sum(p.rows for p in self.peers)

    @property
    def total_val_rows(self) -> int:
        return sum(p.val_rows for p in self.peers)

    def local_batch(self, global_batch: int) -> int:
        """This worker's share of `global_batch` (`worker_batch_sizes`)."""
        return worker_batch_sizes(global_batch, self.num_workers)[self.rank]

    def steps(self, global_batch: int) -> int:
        """Steps per epoch, the same on every worker."""
        return steps_per_epoch(self.total_rows, global_batch)

    def tf_config(self) -> dict | None:
        """TensorFlow's `TF_CONFIG` for a job of several workers; None for one."""
        if self.num_workers == 1:
            return None
        return {"cluster": {"worker": [f"{p.host}:{p.port}" for p in self.peers]},
                "task": {"type": "worker", "index": self.rank}}

    def reuse_key(self) -> str | None:
        """Which trainers that ran a job can run this one: None for a job of
        several workers (collectives are set up when TensorFlow starts) or
        one with GPUs (so are the visible devices); else the intra-op
        threads, fixed once TensorFlow runs."""
        if self.num_workers != 1 or self.gpus:
            return None
        return f"t{self.threads}"


def worker_batch_sizes(global_batch: int, num_workers: int) -> list[int]:
    """The global batch split as evenly as it goes: sizes differ by at most one."""
    base, rest = divmod(global_batch, num_workers)
    return [base + (1 if i < rest else 0) for i in range(num_workers)]


def steps_per_epoch(total_rows: int, global_batch: int) -> int:
    return max(1, math.ceil(total_rows / global_batch))


def write(folder: Path, job: TrainJob, placement: Placement) -> None:
    """Writes the job and this worker's placement for the trainer (the model
    travels as its own files: see the supervisor)."""
    (folder / JOB_FILE).write_bytes(pickle.dumps((replace(job, model=None), placement)))


def read(folder: Path) -> tuple[TrainJob, Placement]:
    """The job and placement `write` left in `folder`."""
    return pickle.loads((folder / JOB_FILE).read_bytes())
