"""The API reference builds from the docstrings without a warning (`./dev docs`).

CI runs only the tests, so this is where a docstring that breaks the Sphinx
build (bad indentation under `Args:`, a broken reference, a duplicate object)
fails CI. The build imports every public package, and must not start Spark.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("sphinx", reason="sphinx comes with the `test` extra: pip install -e '.[test]'")
pytestmark = pytest.mark.slow  # ~30 s: autodoc imports Keras and PySpark (no Spark session starts)


def test_api_reference_builds_without_warnings(tmp_path):
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    assert "WARNING" not in result.stderr, result.stderr
    for page in ("zooapi", "engine", "keras", "nnframes", "optim", "feature", "models", "serving", "feed"):
        assert (out / f"{page}.html").is_file(), page
    # Each page documents its package's __all__: spot-check one name per page.
    for page, name in (("engine", "zooapi.engine.fit"), ("optim", "zooapi.optim.SequentialSchedule"),
                       ("feature", "zooapi.feature.ImageHFlip"), ("feed", "zooapi.feed.decode_column"),
                       ("nnframes", "zooapi.nnframes.NNClassifier"), ("keras", "zooapi.keras.Net"),
                       ("models", "zooapi.models.ImageClassifier"), ("serving", "zooapi.serving.InferenceModel"),
                       ("zooapi", "zooapi.init_nncontext")):
        assert f'id="{name}"' in (out / f"{page}.html").read_text(encoding="utf-8"), name
