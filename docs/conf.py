"""Sphinx configuration of the alliancekit documentation site (``tox -e docs``; warnings are errors)."""

from __future__ import annotations

from importlib import metadata

project = "alliancekit"
author = "alliancekit contributors"
copyright = "alliancekit contributors"

# Sphinx reads every module-level name as a setting, so no stray imports named like one (``version``).
try:
    release = metadata.version("alliancekit")
except metadata.PackageNotFoundError:  # not installed: autodoc would fail anyway
    release = "unknown"
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: (label)= targets for the hook reference, ::: fences and definition lists for the guides.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc: document what the installed package exposes, in source order, with inherited bases shown.
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = f"alliancekit {release}"
