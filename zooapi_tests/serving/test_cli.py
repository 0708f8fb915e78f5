from __future__ import annotations

import pytest

from zooapi.serving import cli


def test_serve_arguments_reach_the_server(monkeypatch):
    seen = {}
    monkeypatch.setattr("zooapi.serving.server.serve", lambda path, **kwargs: seen.update(path=path, **kwargs))
    cli.main(["serve", "digits.keras", "--port", "8600", "--name", "digits", "--max-batch-size", "32",
              "--batch-timeout-ms", "5", "--max-queue", "10", "--concurrent-num", "2", "--quantize", "int8", "--runtime", "litert"])
    assert seen["path"] == "digits.keras"
    assert {k: seen[k] for k in ("port", "name", "max_batch_size", "batch_timeout_ms", "max_queue",
                                 "concurrent_num", "quantize", "safe_mode", "host", "runtime")} == {
        "port": 8600, "name": "digits", "max_batch_size": 32, "batch_timeout_ms": 5.0, "max_queue": 10,
        "concurrent_num": 2, "quantize": "int8", "safe_mode": True, "host": "127.0.0.1",
        "runtime": "litert"}


def test_the_console_script_points_at_main():
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["zooapi"] == "zooapi.serving.cli:main"


def test_unknown_quantization_is_refused(capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "m.keras", "--quantize", "int4"])
    assert "invalid choice: 'int4'" in capsys.readouterr().err
