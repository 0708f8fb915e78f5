"""Sphinx configuration: the API reference, generated from zooapi's docstrings.

Build with `./dev docs` (HTML into docs/_build/html); `zooapi_tests/test_docs.py`
builds it with `-W` so that a docstring that breaks the build fails the tests.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
# Importing zooapi sets this too; set before autodoc imports anything that may load Keras.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

project = "zooapi"
author = "zooapi contributors"
copyright = "zooapi contributors"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

# Google-style docstrings, as zooapi writes them.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
autodoc_typehints = "signature"
autodoc_class_signature = "separated"
autodoc_inherit_docstrings = False
# Markdown-style `code` in the docstrings renders as literal text.
default_role = "literal"

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
