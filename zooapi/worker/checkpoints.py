"""Checkpoints: the model (weights, optimizer state, schedule state) as a
`.keras` file plus the training position as JSON, on any file system that
`zooapi.files` opens (local paths, `s3://`, `hdfs://`, `gs://`, fsspec's).

Each file is written under a temporary name and then renamed; the JSON is
written last, so a checkpoint counts only once it is complete.
"""

from __future__ import annotations

import json
import re
from typing import Any

from zooapi.files import filesystem

_NAME = re.compile(r"^ckpt-(\d+)\.json$")


def _write(fs, target: str, data: bytes) -> None:
    tmp = f"{target}.tmp"
    with fs.open_output_stream(tmp) as out:
        out.write(data)
    fs.move(tmp, target)


def write_checkpoint(path: str, model_bytes: bytes, position: dict[str, Any], overwrite: bool = True) -> str:
    """Writes `ckpt-<iteration>.keras` and `.json` under `path`; with
    `overwrite`, removes the older checkpoints. Returns the checkpoint's name."""
    import pyarrow.fs as pafs

    fs, root = filesystem(path)
    fs.create_dir(root, recursive=True)
    name = f"ckpt-{position['iteration']:012d}"
    _write(fs, f"{root}/{name}.keras", model_bytes)
    _write(fs, f"{root}/{name}.json", json.dumps(position).encode())
    if overwrite:
        for info in fs.get_file_info(pafs.FileSelector(root)):
            if info.base_name.startswith("ckpt-") and not info.base_name.startswith(name):
                fs.delete_file(info.path)
    return name


def latest_checkpoint(path: str) -> tuple[bytes, dict[str, Any]] | None:
    """The newest complete checkpoint under `path`: (model bytes, position)."""
    import pyarrow.fs as pafs

    fs, root = filesystem(path)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return None
    found = [(int(m.group(1)), info.path) for info in fs.get_file_info(pafs.FileSelector(root))
             if (m := _NAME.match(info.base_name))]
    if not found:
        return None
    _, meta_path = max(found)
    with fs.open_input_stream(meta_path) as f:
        position = json.loads(f.read())
    with fs.open_input_stream(meta_path[: -len(".json")] + ".keras") as f:
        return f.read(), position
