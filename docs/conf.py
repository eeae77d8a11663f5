"""Sphinx configuration of the alliancekit documentation site (``tox -e docs``; warnings are errors)."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from sphinx.util import logging

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

logger = logging.getLogger(__name__)

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


# Every hook must have its section in reference/hooks.md, under a ``(hook_name)=`` label. A hook without one
# is a warning, so the -W build fails and names it.
def _check_every_hook_is_documented(app: Sphinx, env: BuildEnvironment) -> None:
    from alliancekit.plugins import hookspecs

    hooks = {name for name in vars(hookspecs) if name.startswith("alliancekit_")}
    labels = env.get_domain("std").labels  # type: ignore[attr-defined]
    for hook in sorted(hooks):
        if labels.get(hook, ("",))[0] != "reference/hooks":
            logger.warning("hook %s has no section labelled (%s)= in reference/hooks.md", hook, hook)


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("env-check-consistency", _check_every_hook_is_documented)
    return {"parallel_read_safe": True}
