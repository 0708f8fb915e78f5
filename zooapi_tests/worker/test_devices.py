"""GPU set-up of worker processes: the task's GPUs only, memory grown on demand.

This machine has no GPU, so TensorFlow's device calls are replaced by
recorders for the mapping tests; the cluster test runs a real fit and
predict where Spark schedules (discovered, fake) GPUs per task.
"""

from __future__ import annotations

import json

import pytest

from zooapi.worker.devices import configure_gpus, task_gpus
from zooapi_tests.conftest import classic_environment


def fake_gpu(index: int):
    import tensorflow as tf

    return tf.config.PhysicalDevice(name=f"/physical_device:GPU:{index}", device_type="GPU")


@pytest.fixture
def fake_gpus(monkeypatch):
    """Three fake physical GPUs; records what configure_gpus asks TensorFlow."""
    import tensorflow as tf

    calls = {"visible": None, "growth": []}
    gpus = [fake_gpu(i) for i in range(3)]
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: list(gpus))
    monkeypatch.setattr(tf.config, "set_visible_devices", lambda devices, kind=None: calls.update(visible=devices))
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth",
                        lambda device, on: calls["growth"].append((device, on)))
    return calls


def test_only_the_tasks_gpus_stay_visible_and_grow_their_memory(fake_gpus):
    assert configure_gpus(["2", "0"]) == [fake_gpu(0), fake_gpu(2)]
    assert fake_gpus["visible"] == [fake_gpu(0), fake_gpu(2)]
    assert fake_gpus["growth"] == [(fake_gpu(0), True), (fake_gpu(2), True)]


def test_without_a_task_assignment_every_gpu_stays_visible_and_grows(fake_gpus):
    assert configure_gpus(None) == [fake_gpu(0), fake_gpu(1), fake_gpu(2)]
    assert fake_gpus["visible"] is None
    assert [d for d, _ in fake_gpus["growth"]] == [fake_gpu(0), fake_gpu(1), fake_gpu(2)]


def test_an_address_that_is_not_a_visible_gpu_is_refused_naming_it(fake_gpus):
    with pytest.raises(ValueError, match=r"Spark gave this task GPU address '3', but this process sees 3 GPU\(s\) "
                                         r"\(indices 0 to 2\)"):
        configure_gpus(["1", "3"])
    with pytest.raises(ValueError, match=r"GPU address 'GPU-5a1b'"):
        configure_gpus(["GPU-5a1b"])
    assert fake_gpus["visible"] is None and fake_gpus["growth"] == []


def test_no_task_means_no_gpu_assignment():
    assert task_gpus() is None


# Run in a process of its own: settings given when a JVM starts stay in it as
# system properties, and a later session of the same process would inherit
# the GPU schedule (and wait forever for GPUs that local mode has not).
_CLUSTER_RUN = """
import json, sys
import zooapi
from zooapi import engine
from zooapi_tests.conftest import digits_frame, mlp
from sklearn.datasets import load_digits

spark = zooapi.init_nncontext("zooapi-tests-gpus", master="local-cluster[2,1,1024]", conf={
    "spark.worker.resource.gpu.amount": "2", "spark.worker.resource.gpu.discoveryScript": sys.argv[1],
    "spark.executor.resource.gpu.amount": "2", "spark.task.resource.gpu.amount": "1"})

def assigned(batches):
    import pyarrow as pa
    from zooapi.worker.devices import task_gpus
    for batch in batches:
        yield pa.RecordBatch.from_arrays([pa.array([json.dumps(task_gpus())] * batch.num_rows)], ["gpus"])

seen = sorted({r.gpus for r in spark.range(0, 8, numPartitions=4).mapInArrow(assigned, "gpus string").collect()})
data = load_digits()
x, y = (data.data / 16.0).astype("float32"), data.target
train, test = digits_frame(spark, x[:1200], y[:1200]), digits_frame(spark, x[1200:], y[1200:])
model = mlp()
engine.fit(model, train, "features", "label", batch_size=64, epochs=8, num_workers=2, verbose=0)
print("RESULT", json.dumps({"seen": seen, "accuracy": engine.evaluate(model, test, "features", "label")["accuracy"],
                            "predicted": engine.predict(model, test, "features").count()}))
spark.stop()
"""


@pytest.mark.slow
def test_fit_and_predict_run_where_spark_schedules_a_gpu_per_task(tmp_path):
    import os
    import subprocess
    import sys

    script = tmp_path / "gpus.sh"
    script.write_text('#!/usr/bin/env bash\necho \'{"name": "gpu", "addresses": ["0", "1"]}\'\n')
    script.chmod(0o755)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", _CLUSTER_RUN, str(script)], capture_output=True, text=True,
                         timeout=600, cwd=root, env=classic_environment())
    assert "RESULT " in out.stdout, out.stderr[-3000:]
    result = json.loads(out.stdout.split("RESULT ", 1)[1].splitlines()[0])
    # Every task got exactly one of the discovered GPUs.
    assert result["seen"] and set(result["seen"]) <= {'["0"]', '["1"]'}, result
    assert result["accuracy"] > 0.85
    assert result["predicted"] == 1797 - 1200
