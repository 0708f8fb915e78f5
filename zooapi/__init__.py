"""zooapi: Keras-style deep learning on Spark DataFrames.

Importing zooapi is cheap: TensorFlow and Spark load only when used.

Example:
    >>> import zooapi
    >>> spark = zooapi.init_nncontext("demo")  # doctest: +SKIP
"""

from __future__ import annotations

import os

# Keras reads its backend once, at first import; never override a user's choice.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO and WARNING lines

__version__ = "0.1.0"

from zooapi.context import init_nncontext  # noqa: E402

__all__ = ["__version__", "init_nncontext"]
