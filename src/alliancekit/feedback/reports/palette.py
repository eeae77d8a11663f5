"""Every colour of the HTML report and its charts, and how each expected-response zone is drawn.

One place, so that contrast can be checked from what is declared here (tests/feedback/test_report_palette.py
computes each ratio): text against its backgrounds needs 4.5:1 and the marks of a chart 3:1 against every
surface they are drawn on (WCAG 2.1 AA, success criteria 1.4.3 and 1.4.11). Meaning never rests on colour
alone: every zone has its own marker shape and a label that says what it means.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from alliancekit.domain.vocab import AlertSeverity
from alliancekit.feedback.expectation import Zone

# ------------------------------------------------------------------------------------------ surfaces, text

PAGE = "#fafafa"
SURFACE = "#ffffff"
"""Tables and charts."""
TABLE_HEAD = "#f0f0f0"
NOTICE = "#fff3e0"
"""The background of an 'empty' notice."""
BORDER = "#d6d6d6"
"""Table and panel borders (decorative: the content does not depend on them)."""
GRID = "#eeeeee"
"""Chart grid lines (decorative)."""
BAND = "#dcedc8"
"""The expected-response band, drawn opaque under the marks."""

TEXT = "#212121"
MUTED = "#595959"
LINK = "#0d47a1"

#: Text colours and every background they are used on.
TEXT_ON: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        TEXT: (PAGE, SURFACE, TABLE_HEAD, NOTICE, BAND),
        MUTED: (PAGE, SURFACE, TABLE_HEAD, BAND),
        LINK: (PAGE, SURFACE),
    }
)


@attrs.frozen
class Badge:
    """A severity badge: its text colour on its background."""

    text: str
    background: str


SEVERITY_BADGES: Mapping[AlertSeverity, Badge] = MappingProxyType(
    {
        AlertSeverity.URGENT: Badge("#ffffff", "#6a1b9a"),
        AlertSeverity.RED: Badge("#ffffff", "#b71c1c"),
        # dark text on amber: white on a recognisable amber cannot reach 4.5:1
        AlertSeverity.AMBER: Badge(TEXT, "#ffc107"),
        AlertSeverity.INFO: Badge("#ffffff", "#1565c0"),
    }
)

# -------------------------------------------------------------------------------------------- chart marks

OUTCOME_LINE = "#37474f"
EXPECTED_LINE = "#2e7d32"
LIMIT_LINE = "#c62828"
CUTOFF_LINE = "#616161"
ALLIANCE = "#5e35b1"
REVIEW = "#1565c0"
MISSED = "#5f5f5f"
RUPTURE = "#6a1b9a"
REPAIR = "#00695c"
ALERT = "#b71c1c"
"""The alert mark (its severity is in its words, so one colour serves every severity)."""


@attrs.frozen
class ZoneStyle:
    """How the points of one zone are drawn and named. ``label`` is what the zone means, in words."""

    colour: str
    shape: str
    """A marker shape, named as Vega-Lite names it: ``circle``, ``square``, ``diamond``, ``triangle-up``,
    ``triangle-down`` (the static SVG draws the same five)."""
    label: str


#: The one mapping from a zone to its look and words; the charts and their legends use nothing else.
ZONE_STYLES: Mapping[Zone, ZoneStyle] = MappingProxyType(
    {
        Zone.GREEN: ZoneStyle("#2e7d32", "circle", "on track"),
        Zone.AMBER: ZoneStyle("#b45f06", "triangle-up", "behind the expected response"),
        Zone.RED: ZoneStyle("#c62828", "diamond", "off track: past the bound"),
        Zone.GREY: ZoneStyle("#616161", "square", "first score: nothing to compare yet"),
    }
)

#: Another participant's or a collateral rater's series, in turn: (colour, marker shape). Dashed lines, and
#: named in the legend and in each point's tooltip, so the colour is never the only cue.
OTHER_SERIES: tuple[tuple[str, str], ...] = (
    ("#00796b", "triangle-down"),
    ("#ad1457", "square"),
    ("#6d4c41", "diamond"),
    ("#1b5e20", "circle"),
)

#: Marks drawn on chart surfaces (they need 3:1 against each of these).
CHART_SURFACES = (SURFACE, BAND)
CHART_MARKS: tuple[str, ...] = (
    OUTCOME_LINE,
    EXPECTED_LINE,
    LIMIT_LINE,
    CUTOFF_LINE,
    ALLIANCE,
    REVIEW,
    MISSED,
    RUPTURE,
    REPAIR,
    ALERT,
    *(style.colour for style in ZONE_STYLES.values()),
    *(colour for colour, _ in OTHER_SERIES),
)
#: Text in a chart (labels, the review letter, the missed-session cross, the alert mark): 4.5:1 on every
#: chart surface.
CHART_TEXT: tuple[str, ...] = (TEXT, MUTED, REVIEW, MISSED, ALERT)
