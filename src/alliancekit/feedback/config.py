"""The feedback engine's settings: one frozen value passed to ``open_practice(..., feedback=...)``.

Every default is traced to ``shared/domain/measures.md`` (and through it to the measure definitions'
citations) or marked as the project's own choice, *unconfirmed*, to be set by the practice.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

import attrs

from alliancekit.errors import ValidationError


class Comparison(StrEnum):
    """How an alliance total is compared with the measure's cutoff to count as a concern."""

    BELOW = "below"
    AT_OR_BELOW = "at-or-below"

    def concern(self, total: float, cutoff: float) -> bool:
        return total < cutoff if self is Comparison.BELOW else total <= cutoff


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(f"feedback.{attribute.name}", "positive", "a positive number is required")


def _as_set(value: object) -> object:
    """A collection as a frozenset (anything else, a bare string too, is left for :func:`_measure_ids`)."""
    return frozenset(value) if isinstance(value, set | tuple | list) else value


def _measure_ids(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, frozenset) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError(f"feedback.{attribute.name}", "type", "a set of measure ids is required")


def _flag(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ValidationError(f"feedback.{attribute.name}", "type", "true or false expected")


@attrs.frozen
class FeedbackConfig:
    """Thresholds of the built-in alert rules, reviews and the expected treatment response."""

    alliance_comparison: Comparison = attrs.field(default=Comparison.BELOW, converter=Comparison)
    """SRS < 36 raises the alliance alert (OpenFIT flags below 36; some sources use 36 or below, so it is
    configurable: measures.md, "Session Rating Scale"). The cutoff itself comes from the measure's norms."""
    alliance_drop: float = attrs.field(default=1.0, validator=_positive)
    """A fall of this many points or more since the previous session raises the alliance-drop alert
    (OpenFIT alert table: one point or more; measures.md, SRS)."""
    alliance_drop_measures: frozenset[str] = attrs.field(
        default=frozenset({"srs"}), converter=_as_set, validator=_measure_ids
    )
    """The alliance measures the alliance-drop alert reads: the SRS, the one the one-point fall was
    published for (OpenFIT alert table; measures.md, SRS). measures.md gives no fall for the WAI-SR ("no
    validated clinical cutoff: report scores and change only") nor any fact for the GSRS (its definition
    borrows only the SRS's below-36 cutoff, *unconfirmed*): a practice that wants the alert on another
    measure adds its id, with a threshold it has checked."""
    no_change_by_session: int = attrs.field(default=6, validator=_positive)
    """No reliable change on an outcome measure by this attended session raises an alert (issue 4 default;
    a project default, *unconfirmed*)."""
    missed_in_a_row: int = attrs.field(default=2, validator=_positive)
    """This many consecutive no-shows raise the dropout-risk alert (issue 4)."""
    gap_days: int = attrs.field(default=21, validator=_positive)
    """A gap of more than this many days between sessions (or since the last one, in the attention list)
    is a dropout risk: three missed weekly sessions. A project default, *unconfirmed*."""
    review_every: int = attrs.field(default=6, validator=_positive)
    """A progress review falls due after this many attended sessions since the last one (issue 4)."""
    split_alliance_gap: float = attrs.field(default=4.0, validator=_positive)
    """Participants' own alliance ratings of one session this many points apart or more raise the
    split-alliance alert. Split alliances predict dropout in couple and family therapy (Friedlander et al.
    2011; Muñiz de la Peña, Friedlander & Escudero 2009), but no threshold on the SRS or GSRS is published:
    four points (one point per item on average) is a project default, *unconfirmed*."""
    split_alliance_measures: frozenset[str] = attrs.field(
        default=frozenset({"srs", "gsrs"}), converter=_as_set, validator=_measure_ids
    )
    """The alliance measures the split-alliance alert reads: the four-item, 0-40 SRS and GSRS, the scales
    the four-point default was chosen for (*unconfirmed*, above). On a scale of another range (the WAI-SR's
    12-60) those points mean something else, and nothing is published for it: no alert."""
    rupture_unresolved_after: int = attrs.field(default=3, validator=_positive)
    """A rupture still open this many scheduled sessions after it was noted raises an alert. A project
    default, *unconfirmed*."""
    min_episodes_per_band: int = attrs.field(default=30, validator=_positive)
    """Closed episodes an intake band needs before its fitted curve replaces the rational expectation from
    the measure's norms. A project default, *unconfirmed* (Lambert's OQ curves used thousands)."""
    intake_bins: int = attrs.field(default=5, validator=_positive)
    """Equal-width intake bands for measures that declare no severity bands (ORS)."""
    refit_after: timedelta = timedelta(hours=1)
    """How often a host should call ``Practice.refit_expectations`` (a scheduled job): recording a session
    never refits. ``ExpectationFit.stale`` compares the last
    fit's age with it."""
    enabled: bool = True
    """False turns rule evaluation off (benchmarks compare the two)."""
    missed_measure_alert: bool = attrs.field(default=False, validator=_flag)
    """True raises the info alert ``measure-missed`` for each measure a command makes missed under the
    episode's measurement protocol: its threshold is one occasion (a session, a review, the ending) passed
    without it (see :mod:`alliancekit.protocols.schedule`). Off by default, as the caseload row lists missed
    measures either way; a project default, *unconfirmed*."""
