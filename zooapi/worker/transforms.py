"""User preprocessing applied on the workers to decoded NumPy batches."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Preprocessing = Callable[[Any], Any]


def apply_preprocessing(fn: Preprocessing | None, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """`fn` applied to one batch: to the array itself for one tensor, to the
    list for several. Keras preprocessing layers work as `fn` (they return
    tensors, turned back into NumPy here)."""
    if fn is None:
        return arrays
    out = fn(arrays[0] if len(arrays) == 1 else list(arrays))
    out = list(out) if isinstance(out, (list, tuple)) else [out]
    return [o if isinstance(o, np.ndarray) else np.asarray(o) for o in out]
