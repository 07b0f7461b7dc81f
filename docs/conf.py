"""Sphinx configuration for the scribe-sync guide (built by ``tox -e docs`` into docs/_build).

The guide is Markdown (MyST); the API reference is generated at build time from every public
module's ``__all__`` (docs/_ext/apiref.py), so a new public name appears without editing a page,
and a public name that fails to reach the reference fails the build. ``tox -e docs`` runs
sphinx-build with ``-W -n``: any warning, a broken cross-reference included, is an error.
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from scribe_sync import __version__  # noqa: E402

project = "scribe-sync"
author = "The scribe-sync authors"
copyright = "The scribe-sync authors, MIT License"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "apiref",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
html_theme = "furo"
html_title = f"scribe-sync {__version__}"

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# Google-style docstrings, as the code is written.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = [("Fixtures", "params_style")]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
autodoc_default_options = {"show-inheritance": True}

# Every cross-reference to scribe_sync or mock_server must resolve. References into the
# standard library and third-party packages cannot (the build is offline: no intersphinx
# inventories), so those targets are exempt; a typo in one of our own names is not.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!(scribe_sync|mock_server)\.).*"),
    # Docstrings name private modules and classes for maintainers; the reference leaves them out.
    (r"py:.*", r"(scribe_sync|mock_server)(\.\w+)*\._\w+.*"),
    # Type variables in generic signatures.
    (r"py:.*", r"(scribe_sync|mock_server)\.\w+\.(T|E|FaultT)"),
]
