"""Sphinx configuration: MyST Markdown pages, the API reference from the docstrings, the PyData theme.

Build: `python -m sphinx -W -b html docs docs/_build/html` (warnings are errors; no network: no
intersphinx, nothing fetched at build time, and the maths rendered to MathML then, so nothing is fetched when a
page is viewed either).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
os.environ.setdefault("KERAS_BACKEND", "jax")

import seqnet  # noqa: E402

project = "seqnet"
author = "the seqnet developers"
copyright = "2026, the seqnet developers"
release = version = seqnet.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "mathml",  # docs/_ext/mathml.py: the maths as MathML at build time, readable offline
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "api/generated/*.md"]
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
suppress_warnings = ["config.cache"]

html_theme = "pydata_sphinx_theme"
html_title = f"seqnet {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_math_renderer = "mathml"  # no MathJax: nothing is fetched when a page is viewed either
