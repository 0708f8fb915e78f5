"""A training job as it travels to the trainer (`zooapi.worker.train_job`)."""

from __future__ import annotations

import dataclasses

import pytest

from zooapi.worker import train_job
from zooapi.worker.protocol import OfflineClient, read_messages
from zooapi.worker.train_job import Peer, Placement, TrainJob


def _placement(rank: int, rows: list[int], **kw) -> Placement:
    peers = tuple(Peer(host=f"h{i}", port=4000 + i, rows=r, val_rows=r // 10) for i, r in enumerate(rows))
    return Placement(rank=rank, peers=peers, **kw)


def test_every_worker_derives_the_same_steps_and_its_own_share_of_the_batch():
    places = [_placement(rank, [700, 701, 699]) for rank in range(3)]
    assert [p.local_batch(64) for p in places] == [22, 21, 21]  # sums to the global batch
    assert {p.steps(64) for p in places} == {33}  # ceil(2100 / 64), on every worker
    assert places[0].chief and not places[1].chief
    assert places[2].total_rows == 2100 and places[2].total_val_rows == 209


def test_tf_config_names_every_worker_in_rank_order_and_only_for_several():
    config = _placement(1, [5, 5]).tf_config()
    assert config == {"cluster": {"worker": ["h0:4000", "h1:4001"]}, "task": {"type": "worker", "index": 1}}
    assert _placement(0, [5]).tf_config() is None


def test_only_one_worker_jobs_without_gpus_can_reuse_a_trainer_with_the_same_threads():
    assert _placement(0, [5], threads=2).reuse_key() == "t2"
    assert _placement(0, [5], threads=1).reuse_key() == "t1"
    assert _placement(0, [5, 5], threads=2).reuse_key() is None
    assert _placement(0, [5], threads=2, gpus=("0",)).reuse_key() is None


def test_the_trainer_reads_the_job_and_placement_as_the_task_wrote_them(tmp_path):
    job = TrainJob(features=[], labels=[], num_workers=2, batch_size=64, epochs=3, driver="d:1",
                   model=object(), seed=5, trainer_part=b"\x00bytes")
    place = _placement(1, [10, 10], threads=3)
    train_job.write(tmp_path, job, place)
    read_job, read_place = train_job.read(tmp_path)
    assert read_place == place
    assert read_job == dataclasses.replace(job, model=None)  # the model travels as its own file
    with pytest.raises(dataclasses.FrozenInstanceError):
        read_job.epochs = 4  # a retry runs a replaced copy


def test_a_worker_that_cannot_reach_the_driver_records_its_messages_and_goes_on(tmp_path):
    client = OfflineClient(tmp_path / "events.jsonl", worker=1)
    assert client.request({"type": "epoch_end", "epoch": 0, "logs": {"loss": 0.5}}, payload=b"weights") == {}
    assert client.report_error("ValueError", "bad label 42", "Traceback ...")
    assert read_messages(tmp_path / "events.jsonl") == [
        {"type": "epoch_end", "epoch": 0, "logs": {"loss": 0.5}, "reply": True, "worker": 1},
        {"type": "error", "error": "ValueError", "message": "bad label 42", "traceback": "Traceback ...",
         "worker": 1},
    ]
    assert client.error_sent
    assert read_messages(tmp_path / "none.jsonl") == []
