"""zooapi: Keras-style deep learning on Spark DataFrames.

Importing zooapi is cheap: TensorFlow and Spark load only when used.

Example:
    >>> import zooapi
    >>> spark = zooapi.init_nncontext("demo")  # doctest: +SKIP
"""

from __future__ import annotations

import os

from zooapi.quiet import quiet_environment, quiet_tensorflow_import

# Keras reads its backend once, at first import; never override a user's choice.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's start-up lines stay out of the terminal unless the user set
# their own log level or ZOOAPI_VERBOSE_WORKERS=1 (zooapi.quiet); every Spark
# worker and trainer process imports zooapi before TensorFlow.
quiet_environment(os.environ)
quiet_tensorflow_import()

__version__ = "0.1.0"

from zooapi.context import init_nncontext  # noqa: E402

__all__ = ["__version__", "init_nncontext"]
