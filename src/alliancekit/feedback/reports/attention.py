"""The caseload attention list: who needs attention today and why, most urgent first.

Computed from the caseload projection rows of one clinician (or a clinic): open alerts (kept in the row,
most severe first, each worded by its rule about its measure: a measure whose plugin is gone by its latest
definition stored with the data, read under the caseload read's audit entry), reviews due, and how long
since the last session. Ordering: highest open severity (urgent, red, amber, info), then the number of red
and urgent alerts, then the longest time since the last session, then the episode id, so the order is
stable.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

import attrs

from alliancekit import CaseloadRow
from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_date
from alliancekit.domain.reprs import hidden
from alliancekit.domain.vocab import AlertSeverity, Stage
from alliancekit.feedback.builtin import REVIEW_DUE
from alliancekit.feedback.rules import alert_rules
from alliancekit.measures.stored import StoredMeasures
from alliancekit.security.views import CarriesDefinitions

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice


@attrs.frozen
class Reason:
    """One reason an episode needs attention, in fixed words."""

    severity: AlertSeverity = attrs.field(repr=hidden)
    text: str = attrs.field(repr=hidden)
    alert_id: str | None = None
    rule_id: str | None = attrs.field(default=None, repr=hidden)


@attrs.frozen
class AttentionItem:
    episode_id: str
    client_ref: str = attrs.field(repr=hidden)
    clinician_id: str
    stage: str
    severity: AlertSeverity = attrs.field(repr=hidden)
    """The most severe reason's severity."""
    reasons: tuple[Reason, ...]
    last_session_on: date | None
    days_since_session: int
    sessions_attended: int
    review_due: bool


def attention_list(
    practice: Practice, actor: Actor, *, clinician_id: str | None = None, today: date | None = None
) -> list[AttentionItem]:
    """The open episodes that need attention on ``today`` (by default, today in the actor's clinic's time
    zone), most urgent first; episodes with nothing to attend to are left out."""
    day = None if today is None else check_date("today", today)  # bad input first: it writes nothing
    rows = practice.caseload(actor, clinician_id=clinician_id)  # the guarded read checks the actor
    return attention_from_rows(practice, rows, practice.clinic_today(actor.clinic_id) if day is None else day)


def attention_from_rows(practice: Practice, rows: list[CaseloadRow], today: date) -> list[AttentionItem]:
    """The attention items of ``rows``; rows read by :meth:`~alliancekit.Practice.caseload` (a
    :class:`~alliancekit.security.views.Caseload`) carry the stored definitions an alert's measure whose
    plugin is gone is named by, read only then and under that read's entry; other rows name it "the
    measure"."""
    rules = alert_rules(practice.plugins)
    measures = StoredMeasures(practice.plugins.measures())
    if isinstance(rows, CarriesDefinitions):
        measures.covered_by(rows)
    gap_days = practice.feedback.gap_days
    messages: dict[tuple[str, str | None], str] = {}

    def message(rule_id: str, measure_id: str | None) -> str:
        key = (rule_id, measure_id)
        if key not in messages:
            try:
                rule = rules.get(rule_id)
            except KeyError:  # a rule from a plugin no longer installed
                messages[key] = f"Alert from rule {rule_id}."
            else:
                # the installed plugin's latest version, else the latest definition stored with the data
                messages[key] = rule.message_for(measures.latest(measure_id) if measure_id else None)
        return messages[key]

    items = []
    for row in rows:
        reasons: list[Reason] = []
        if row.open_alerts:
            for alert in json.loads(row.open_alerts_json):
                text = message(alert["rule"], alert.get("measure"))
                if "participant" in alert:  # an episode with several clients: whose alert it is
                    text += f" (participant {alert['participant']})"
                if alert["status"] == "acknowledged":
                    text += " (acknowledged)"
                reasons.append(Reason(AlertSeverity(alert["severity"]), text, alert["id"], alert["rule"]))
        if row.review_due and not any(r.rule_id == REVIEW_DUE for r in reasons):
            reasons.append(Reason(AlertSeverity.INFO, "A progress review is due."))
        since = row.last_session_on or row.opened_on
        days = (today - since).days
        if days > gap_days and row.stage not in (Stage.ON_HOLD.value, Stage.CONSULTATION.value):
            reasons.append(Reason(AlertSeverity.AMBER, f"No session for {days} days: risk of dropout."))
        if not reasons:
            continue
        reasons.sort(key=lambda r: -r.severity.rank)
        items.append(
            AttentionItem(
                episode_id=row.episode_id,
                client_ref=row.client_ref,
                clinician_id=row.clinician_id,
                stage=row.stage,
                severity=reasons[0].severity,
                reasons=tuple(reasons),
                last_session_on=row.last_session_on,
                days_since_session=days,
                sessions_attended=row.sessions_attended,
                review_due=row.review_due,
            )
        )
    items.sort(
        key=lambda item: (
            -item.severity.rank,
            -sum(r.severity.rank >= AlertSeverity.RED.rank for r in item.reasons),
            -item.days_since_session,
            item.episode_id,
        )
    )
    return items
