"""The driver's job server: where a job's workers meet (no Spark job)."""

from concurrent.futures import ThreadPoolExecutor

from zooapi.engine import server as job_server
from zooapi.engine.server import JobServer
from zooapi.worker.protocol import RENDEZVOUS, DriverClient


def _check_in(address: str, rank: int) -> dict:
    with DriverClient(address, rank) as client:
        client.sock.settimeout(10)  # an unanswered check-in fails the test instead of hanging it
        return client.request({"type": RENDEZVOUS, "peer": {"host": "h", "port": 7000 + rank}})


def test_workers_learn_every_peer_in_rank_order_once_the_last_checks_in():
    with JobServer("127.0.0.1", workers=3) as server, ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda rank: _check_in(server.address, rank), [2, 0, 1]))
        assert server.events.empty()  # meeting is not a progress event
    expected = [{"host": "h", "port": 7000 + rank} for rank in range(3)]
    assert answers == [{"peers": expected}] * 3


def test_workers_go_to_spark_all_gather_when_one_never_checks_in(monkeypatch):
    monkeypatch.setattr(job_server, "GATHER_AFTER", 0.3)
    with JobServer("127.0.0.1", workers=3) as server, ThreadPoolExecutor(3) as pool:
        waiting = list(pool.map(lambda rank: _check_in(server.address, rank), [0, 1]))
        late = _check_in(server.address, 2)  # the answer of its meeting stands
    assert waiting == [{"gather": True}] * 2 and late == {"gather": True}

