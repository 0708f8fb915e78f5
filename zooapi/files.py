"""Files on any file system, one way: `pyarrow.fs`, and `fsspec` (through
pyarrow's `FSSpecHandler`) for the schemes pyarrow does not know.

Paths without a scheme are local. Nothing here needs a JVM, so the same code
works on a classic SparkSession, over Spark Connect and on a worker.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a", "b.bin")
    >>> write_bytes(path, b"zoo")
    >>> read_bytes(path)
    b'zoo'
"""

from __future__ import annotations

import os
from urllib.parse import urlparse


def has_scheme(path: str) -> bool:
    """Whether `path` is a URL other than `file:` (one letter: a Windows drive)."""
    scheme = urlparse(str(path)).scheme
    return len(scheme) > 1 and scheme != "file"


def filesystem(path: str):
    """`(pyarrow.fs.FileSystem, path inside it)` for a local path or a URL.

    Raises:
        ValueError: neither pyarrow nor fsspec can open the URL's scheme.
    """
    import pyarrow.fs as pafs

    path = str(path)
    if not has_scheme(path):
        local = urlparse(path).path if path.startswith("file:") else path
        return pafs.LocalFileSystem(), os.path.abspath(local)
    try:
        return pafs.FileSystem.from_uri(path)
    except Exception as arrow_error:  # an unknown scheme, or a missing optional driver
        try:
            import fsspec
        except ImportError:
            raise ValueError(f"Cannot open {path!r}: pyarrow.fs does not support it ({arrow_error}) "
                             "and fsspec is not installed.") from arrow_error
        try:
            fs, inner = fsspec.core.url_to_fs(path)
        except (ValueError, ImportError) as fsspec_error:
            raise ValueError(f"Cannot open {path!r}: neither pyarrow.fs ({arrow_error}) nor fsspec "
                             f"({fsspec_error}) supports it.") from fsspec_error
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), inner


def read_bytes(path: str) -> bytes:
    """The whole file at `path`.

    Raises:
        FileNotFoundError: nothing at `path`.
    """
    import pyarrow.fs as pafs

    fs, inner = filesystem(path)
    if fs.get_file_info(inner).type != pafs.FileType.File:
        raise FileNotFoundError(f"No file at {path}")
    with fs.open_input_stream(inner) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` (creating its folder), under a temporary name
    first and then renamed, so a reader never sees half a file."""
    fs, inner = filesystem(path)
    parent = inner.rsplit("/", 1)[0] if "/" in inner else ""
    if parent:
        fs.create_dir(parent, recursive=True)
    tmp = f"{inner}.tmp"
    with fs.open_output_stream(tmp) as out:
        out.write(data)
    fs.move(tmp, inner)


def exists(path: str) -> bool:
    """Whether a file or folder is at `path`."""
    import pyarrow.fs as pafs

    fs, inner = filesystem(path)
    return fs.get_file_info(inner).type != pafs.FileType.NotFound


def remove(path: str) -> None:
    """Deletes the file or folder at `path`, if there is one."""
    import pyarrow.fs as pafs

    fs, inner = filesystem(path)
    kind = fs.get_file_info(inner).type
    if kind == pafs.FileType.Directory:
        fs.delete_dir(inner)
    elif kind != pafs.FileType.NotFound:
        fs.delete_file(inner)
