"""`zooapi.files`: one file layer (pyarrow.fs, fsspec for other schemes)."""

from __future__ import annotations

import pytest

from zooapi import files


def test_write_read_exists_remove_on_a_local_path(tmp_path):
    path = str(tmp_path / "a" / "b" / "model.keras")
    assert not files.exists(path)
    files.write_bytes(path, b"x" * 10_000)
    assert files.exists(path)
    assert files.read_bytes(path) == b"x" * 10_000
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["model.keras"]  # no temporary left
    files.remove(str(tmp_path / "a"))
    assert not files.exists(path)
    files.remove(str(tmp_path / "a"))  # nothing there: no error


def test_file_urls_and_fsspec_schemes_reach_the_same_api(tmp_path):
    files.write_bytes(f"file://{tmp_path}/c.bin", b"zoo")
    assert files.read_bytes(str(tmp_path / "c.bin")) == b"zoo"
    files.write_bytes("memory://zooapi-test/d.bin", b"in memory")  # pyarrow lacks it: fsspec's
    assert files.read_bytes("memory://zooapi-test/d.bin") == b"in memory"
    files.remove("memory://zooapi-test/d.bin")
    assert not files.exists("memory://zooapi-test/d.bin")


def test_missing_files_and_unknown_schemes_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="No file at .*missing"):
        files.read_bytes(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="Cannot open 'nosuchscheme://x/y'"):
        files.read_bytes("nosuchscheme://x/y")
