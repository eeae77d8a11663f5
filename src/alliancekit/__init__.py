"""alliancekit: feedback-informed psychotherapy care for practice-management software."""

from alliancekit.plugins.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
