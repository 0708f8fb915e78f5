"""TensorFlow's start-up lines stay out of the user's terminal.

Every process that loads TensorFlow prints its start-up lines to stderr;
with zooapi that is the driver, each Spark Python worker that predicts, and
each trainer process, so a fit with two workers printed some thirty lines
(measured with TensorFlow 2.21 on a machine without a GPU):

- `Could not find cuda drivers on your machine, GPU will not be used.`,
  twice per process, each after `WARNING: All log messages before
  absl::InitializeLog() is called are written to STDERR`: logged while
  TensorFlow's shared libraries load, before TensorFlow reads
  `TF_CPP_MIN_LOG_LEVEL`, so no environment variable hides them;
- `E0000 ... failed call to cuInit: ... UNKNOWN ERROR (303)` when the first
  device is listed: an ERROR line, hidden only by `TF_CPP_MIN_LOG_LEVEL=3`;
- `oneDNN custom operations are on` and `This TensorFlow binary is optimized
  to use available CPU instructions` (INFO) on some CPUs.

So zooapi sets quiet defaults in the environment of the processes it starts
(`quiet_environment`), never overriding a value the user set, and makes the
first `import tensorflow` of every process that imported zooapi before it
drop the lines logged while the libraries load that the log level in force
would have hidden (`quiet_tensorflow_import`): the Python workers import
TensorFlow when they unpickle a job, before any zooapi code runs there. `TF_ENABLE_ONEDNN_OPTS` changes numerics, not logging: it is
left alone.

`ZOOAPI_VERBOSE_WORKERS=1` turns all of this off: every line comes back.

Example:
    >>> env = quiet_environment({"TF_CPP_MIN_LOG_LEVEL": "1"})
    >>> env["TF_CPP_MIN_LOG_LEVEL"], env["GRPC_VERBOSITY"]
    ('1', 'ERROR')
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from typing import MutableMapping

__all__ = ["QUIET_DEFAULTS", "VERBOSE_SWITCH", "quiet_environment", "quiet_tensorflow_import", "verbose"]

VERBOSE_SWITCH = "ZOOAPI_VERBOSE_WORKERS"
QUIET_DEFAULTS = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's C++ INFO, WARNING and ERROR lines
    "GRPC_VERBOSITY": "ERROR",  # gRPC, under TensorFlow's multi-worker collectives
    "GLOG_minloglevel": "2",  # libraries that log through glog
}
# An absl/TensorFlow log line: severity letter, date, time, thread, file:line].
_LOG_LINE = re.compile(rb"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] ")
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
_PRE_INIT_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# The second line of cpu_feature_guard's INFO message.
_CONTINUATION = b"To enable the following instructions:"


def verbose(env: MutableMapping[str, str] | None = None) -> bool:
    """Whether `ZOOAPI_VERBOSE_WORKERS` asks for TensorFlow's own lines."""
    value = (os.environ if env is None else env).get(VERBOSE_SWITCH, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def quiet_environment(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Adds zooapi's quiet logging defaults to a process environment.

    A variable that is already set keeps its value, and with
    `ZOOAPI_VERBOSE_WORKERS=1` nothing is added.

    Args:
        env: `os.environ`, or the environment of a process about to start;
            changed in place.

    Returns:
        `env`.

    Example:
        >>> quiet_environment({"ZOOAPI_VERBOSE_WORKERS": "1"})
        {'ZOOAPI_VERBOSE_WORKERS': '1'}
    """
    if not verbose(env):
        for key, value in QUIET_DEFAULTS.items():
            env.setdefault(key, value)
    return env


def _min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def drop_hidden_lines(text: bytes, min_log_level: int) -> bytes:
    """`text` without the log lines that `TF_CPP_MIN_LOG_LEVEL=min_log_level`
    hides (and without absl's banner when anything is hidden); every other
    line is kept, in order."""
    if min_log_level <= 0:
        return text
    kept = []
    dropping = False
    for line in text.splitlines(keepends=True):
        match = _LOG_LINE.match(line)
        if match:
            dropping = _SEVERITY[match.group(1)] < min_log_level
        elif line.rstrip(b"\r\n") == _PRE_INIT_BANNER:
            dropping = True
        elif not (dropping and line.startswith(_CONTINUATION)):
            dropping = False
        if not dropping:
            kept.append(line)
    return b"".join(kept)


@contextmanager
def _stderr_filtered():
    """This process's stderr goes to a temporary file meanwhile; afterwards
    what `drop_hidden_lines` keeps of it is written to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                captured.seek(0)
                rest = drop_hidden_lines(captured.read(), _min_log_level())
                while rest:
                    rest = rest[os.write(2, rest):]
    finally:
        os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with `_stderr_filtered`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__spec__.loader = module.__loader__ = self._loader
        _remove_finder()
        with _stderr_filtered():
            self._loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the path finder does, with a `_QuietLoader`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or verbose():
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _QuietLoader(spec.loader)
        return spec


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]


def quiet_tensorflow_import() -> None:
    """Makes this process's first `import tensorflow` (whoever imports it:
    `import keras`, a model being unpickled) drop the start-up lines that
    the log level in force (`TF_CPP_MIN_LOG_LEVEL`) would hide.

    While TensorFlow's package loads, stderr goes to a temporary file; every
    other line is written to stderr afterwards, also when the import fails
    (a crash inside the import loses them: set `ZOOAPI_VERBOSE_WORKERS=1`
    to see them). Nothing happens where TensorFlow is already loaded or
    `ZOOAPI_VERBOSE_WORKERS=1` is set. zooapi calls it when it is imported.

    Example:
        >>> quiet_tensorflow_import()
        >>> import tensorflow  # doctest: +SKIP
    """
    if "tensorflow" in sys.modules or verbose():
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
