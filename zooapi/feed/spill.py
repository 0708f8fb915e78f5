"""Local spill files: a partition's decoded tensors, written once, memory-mapped
for every epoch.

Numeric tensors are raw little-endian files read back with `np.memmap`, so a
random batch is one gather and a partition larger than memory still trains.
String and binary tensors go to an Arrow IPC file, memory-mapped as well.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa


class SpillWriter:
    """Appends batches of tensors (one array per tensor) to files in `folder`.

    Example:
        >>> w = SpillWriter(tmp_path, ["x", "y"])  # doctest: +SKIP
        >>> w.append([np.zeros((4, 3)), np.ones(4)]); w.close()  # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike, names: Sequence[str]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.names = list(names)
        self.rows = 0
        self._meta: list[dict | None] = [None] * len(names)
        self._files: list = [None] * len(names)

    def append(self, arrays: Sequence[np.ndarray]) -> None:
        for i, arr in enumerate(arrays):
            meta = self._meta[i]
            if meta is None:
                meta = self._open(i, arr)
            elif list(arr.shape[1:]) != meta["shape"]:
                raise ValueError(
                    f"{self.names[i]} has rows of shape {tuple(arr.shape[1:])} from row "
                    f"{self.rows} of its partition on; earlier rows had shape "
                    f"{tuple(meta['shape'])}. Expected the same shape in every row."
                )
            if meta["kind"] == "numeric":
                self._files[i].write(np.ascontiguousarray(arr, dtype=meta["dtype"]).tobytes())
            else:
                self._files[i].write_batch(pa.record_batch([pa.array(arr.reshape(-1).tolist())], names=["v"]))
        if arrays:
            self.rows += len(arrays[0])

    def _open(self, i: int, arr: np.ndarray) -> dict:
        if arr.dtype == object:
            # Stored flat, one Arrow value per element; `shape` restores the rows.
            meta = {"kind": "object", "file": f"t{i}.arrow", "shape": list(arr.shape[1:])}
            sample = pa.array(arr[:1].reshape(-1).tolist())
            self._files[i] = pa.ipc.new_file(str(self.folder / meta["file"]), pa.schema([("v", sample.type)]))
        else:
            meta = {"kind": "numeric", "file": f"t{i}.bin", "dtype": arr.dtype.str, "shape": list(arr.shape[1:])}
            self._files[i] = open(self.folder / meta["file"], "wb")
        self._meta[i] = meta
        return meta

    def close(self) -> dict:
        """Closes the files and writes `meta.json`; returns the metadata."""
        for f in self._files:
            if f is not None:
                f.close()
        meta = {"rows": self.rows, "names": self.names, "tensors": self._meta}
        (self.folder / "meta.json").write_text(json.dumps(meta))
        return meta


class SpillReader:
    """Reads what a `SpillWriter` wrote; `take(indices)` gathers rows."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        meta = json.loads((self.folder / "meta.json").read_text())
        self.rows = meta["rows"]
        self.tensors = []
        self._row_shapes = [tuple(t["shape"]) if t else () for t in meta["tensors"]]
        for t in meta["tensors"]:
            path = str(self.folder / t["file"]) if t else None
            if t is None or self.rows == 0:
                self.tensors.append(None)
            elif t["kind"] == "numeric":
                shape = (self.rows, *t["shape"])
                self.tensors.append(np.memmap(path, dtype=np.dtype(t["dtype"]), mode="r", shape=shape))
            else:
                table = pa.ipc.open_file(pa.memory_map(path)).read_all()
                self.tensors.append(table.column("v"))

    def take(self, indices: np.ndarray) -> list[np.ndarray]:
        """The rows at `indices`, in that order. The files are read in
        ascending row order (sequential reads of the memory map) and the rows
        then put back in the order asked for."""
        indices = np.asarray(indices)
        ascending = indices.size < 2 or bool(np.all(indices[1:] >= indices[:-1]))
        order = None if ascending else np.argsort(indices, kind="stable")
        reads = indices if ascending else indices[order]
        out = []
        for t, row_shape in zip(self.tensors, self._row_shapes):
            if isinstance(t, np.ndarray):
                rows = np.asarray(t[reads])
            else:
                width = int(np.prod(row_shape, dtype=np.int64))
                flat = reads if width == 1 else (reads[:, None] * width + np.arange(width)).reshape(-1)
                rows = t.take(pa.array(flat)).to_numpy(zero_copy_only=False).reshape(len(reads), *row_shape)
            if order is not None:
                restored = np.empty_like(rows)
                restored[order] = rows
                rows = restored
            out.append(rows)
        return out

    def slice(self, start: int, stop: int) -> list[np.ndarray]:
        return self.take(np.arange(start, min(stop, self.rows)))
