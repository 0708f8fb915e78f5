"""How the engine counts task slots and shapes a worker's error (no Spark job)."""

import pytest

from zooapi.engine.jobs import expected_task_slots, python_worker_error, worker_exception


@pytest.mark.parametrize("conf, slots", [
    ({"spark.master": "local"}, 1),
    ({"spark.master": "local[2]"}, 2),
    ({"spark.master": "local[4, 3]", "spark.task.cpus": "2"}, 2),
    ({"spark.master": "local-cluster[2,1,1024]"}, 2),
    ({"spark.master": "local-cluster[3,4,1024]", "spark.task.cpus": "2"}, 6),
    ({"spark.master": "yarn", "spark.executor.instances": "4"}, 4),
    ({"spark.master": "k8s://https://h:6443", "spark.executor.instances": "3", "spark.executor.cores": "2"}, 6),
    ({"spark.master": "spark://h:7077", "spark.executor.instances": "2"}, None),
    ({"spark.master": "yarn", "spark.executor.instances": "4", "spark.dynamicAllocation.enabled": "true"}, None),
    ({"spark.master": "yarn"}, None),
])
def test_task_slots_come_from_the_configuration_only_where_it_is_exact(conf, slots):
    assert expected_task_slots(conf) == slots


def test_a_workers_bad_data_keeps_its_type_with_its_traceback_below_and_spark_aside():
    spark_error = RuntimeError("An error occurred while calling o1.collect.\n: [SPARK_JOB_CANCELLED] ...\n\tat org")
    error = worker_exception({"worker": 1, "error": "ValueError", "message": "Column 'x' has a null at row 3",
                              "traceback": "Traceback (most recent call last):\n  File \"spill.py\"\nValueError: ..."},
                             spark_error)
    assert type(error) is ValueError
    assert str(error).startswith("Column 'x' has a null at row 3\n\n--- worker 1 traceback ---\nTraceback")
    assert error.spark_error is spark_error and "SPARK_JOB_CANCELLED" not in str(error)


def test_another_worker_error_is_a_runtime_error_naming_the_worker():
    error = worker_exception({"worker": 0, "error": "KeyError", "message": "'w'", "traceback": "Traceback ..."})
    assert type(error) is RuntimeError
    assert str(error) == "Training failed on worker 0: KeyError: 'w'\n\n--- worker 0 traceback ---\nTraceback ..."


def test_a_python_task_error_reported_by_spark_is_rebuilt_with_its_traceback():
    text = ("An exception was thrown from the Python worker. Please see the stack trace below.\n"
            "Traceback (most recent call last):\n  File \"inference.py\", line 9, in decode\n"
            "TypeError: Column 'image' holds 3 channels, expected 1\n\nJVM stacktrace:\n\tat org.apache.spark.X")
    error = python_worker_error(RuntimeError(text))
    assert type(error) is TypeError
    assert str(error).splitlines()[0] == "Column 'image' holds 3 channels, expected 1"
    assert "File \"inference.py\", line 9" in str(error) and "JVM stacktrace" not in str(error)
    assert python_worker_error(RuntimeError("SparkException: Job aborted")) is None
