"""alliancekit: feedback-informed psychotherapy care for practice-management software.

The public API: :func:`open_practice` returns a :class:`Practice`, the one facade a host calls. Domain
values live in :mod:`alliancekit.domain`, errors in :mod:`alliancekit.errors`.
"""

from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.practice import Practice, Recorded, TimelineEntry, open_practice

__version__ = "0.1.0"

__all__ = ["Practice", "Recorded", "TimelineEntry", "__version__", "hookimpl", "open_practice"]
