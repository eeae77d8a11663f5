"""An alert a visible session raised against an earlier, withheld one is withheld from the share.

Some rules compare the new score with an earlier one: a reliable deterioration (and the expected-response
and no-change rules) with the intake, an alliance drop with the session before. Such an alert, shared,
says something of the withheld session's score (that the intake was at least a reliable change better),
so :func:`alliancekit.security.lockbox.apply_lockbox` withholds it when a score it was computed from is in
a withheld event, and with it its acknowledgement. An alert whose compared score is shared stays, and so
does one about the new score alone (an alliance below its cutoff). On an SQLite file, through the
clinician's share and export, the FHIR export's Flags and a participant's share.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Practice, hookimpl
from alliancekit.domain import Actor, Administration, Consent, Participant, Purpose, Role, Session
from alliancekit.feedback import AlertRule, RuleContext
from alliancekit.feedback.rules import AlertRuleRegistrar
from alliancekit.fhir import episode_bundle
from alliancekit.plugins.manager import make_plugin_host

from .helpers import CLIENT, CLINIC, PARTNER, active_episode, open_on, ors

TREATING = Actor("clin-a", Role.CLINICIAN, CLINIC)
THE_CLIENT = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
THE_PARTNER = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
NAMED = "hospital-x"
DIRECTIVE_ON = date(2026, 3, 2)
#: The rules the fourth session fires, and the earlier session each compares its score with (1: the
#: intake; 3: the session before; ``None``: none, the new score alone).
COMPARED = {"reliable-deterioration": 1, "alliance-dropped": 3, "alliance-below-cutoff": None}


def srs(level: float) -> Administration:
    return Administration(
        "srs",
        "1.0",
        "end",
        {"relationship": level, "goals_topics": level, "approach": level, "overall": level},
    )


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = open_on("sqlite", tmp_path)
    yield p
    p.close()


def _fourth_session(ctx: RuleContext) -> Iterator[str | None]:
    """A plugin's rule, whose comparison the library cannot know: it fires at the fourth session, about
    the ORS and about no measure."""
    if ctx.after.sessions_scheduled == 4 and any(True for _ in ctx.sessions()):
        yield "ors"
        yield None


class FourthSessionPlugin:
    @hookimpl
    def alliancekit_register_alert_rules(self, register: AlertRuleRegistrar) -> None:
        register(AlertRule("myclinic.fourth-session", "info", "A fourth session was held.", _fourth_session))


def _four_sessions(p: Practice) -> tuple[str, dict[int, str]]:
    """An episode of four sessions: ORS 20, 20, 20, 8 (the fourth is a reliable deterioration from the
    intake) and SRS 38, 38, 30 from the second (the fourth fell from the third's, and is below its cutoff).
    Its id, and the event id of each session by its number."""
    setup = active_episode(p)  # the intake: ORS 20 on 12 January
    ep = setup.episode_id
    for week, (outcome, alliance) in enumerate([(5.0, 9.5), (5.0, 9.5), (2.0, 7.5)], start=1):
        held = Session(
            held_on=date(2026, 1, 12) + timedelta(weeks=week),
            modality="video",
            attendance="attended",
            administrations=(ors(outcome), srs(alliance)),
        )
        p.record_session(TREATING, ep, held)
    events = {e.event.number: e.event_id for e in p.timeline(TREATING, ep) if e.type == "session-recorded"}
    assert sorted(events) == [1, 2, 3, 4]
    return ep, events


def _fourth_sessions_alerts(p: Practice, ep: str) -> dict[str, str]:
    """The alerts the fourth session raised, by rule: their ids."""
    return {
        e.event.rule_id: e.event.alert_id
        for e in p.timeline(TREATING, ep)
        if e.type == "alert-raised" and e.event.at_session == 4 and e.event.rule_id in COMPARED
    }


def _shared_alerts(entries: Iterable[Any]) -> set[str]:
    """The rules of the shared alerts the fourth session raised."""
    return {e.event.rule_id for e in entries if e.type == "alert-raised" and e.event.at_session == 4}


def _acknowledged(entries: Iterable[Any]) -> set[str]:
    return {e.event.alert_id for e in entries if e.type == "alert-acknowledged"}


def _flags(p: Practice, ep: str) -> set[str]:
    """The Flags of the FHIR export for the recipient, of the alerts raised on the fourth session's day."""
    bundle = episode_bundle(p, TREATING, ep, recipient=NAMED)
    return {
        r["code"]["coding"][0]["code"]
        for r in (entry["resource"] for entry in bundle["entry"])
        if r["resourceType"] == "Flag" and r["period"]["start"] == "2026-02-02"
    }


@pytest.mark.parametrize("withheld", [1, 2, 3])
def test_an_alert_is_withheld_with_the_session_whose_score_it_compared(
    practice: Practice, withheld: int
) -> None:
    ep, sessions = _four_sessions(practice)
    raised = _fourth_sessions_alerts(practice, ep)
    assert set(raised) == set(COMPARED)  # the fourth session raised all three (or the test tests nothing)
    for alert_id in raised.values():
        practice.acknowledge_alert(TREATING, ep, alert_id, on=date(2026, 2, 3))
    assert _shared_alerts(practice.shared_record(TREATING, ep, recipient=NAMED).entries) >= set(COMPARED)
    assert set(COMPARED) <= _flags(practice, ep)

    directive = practice.set_lockbox(
        THE_CLIENT, ep, scope="item", event_ids=[sessions[withheld]], recipients=[NAMED], on=DIRECTIVE_ON
    ).record_id
    kept = {rule for rule, compared in COMPARED.items() if compared != withheld}
    gone = set(COMPARED) - kept
    assert gone == (
        {"reliable-deterioration"} if withheld == 1 else {"alliance-dropped"} if withheld == 3 else set()
    )
    for record in (
        practice.shared_record(TREATING, ep, recipient=NAMED),
        practice.export_record(TREATING, ep, recipient=NAMED),
        practice.export_record(TREATING, ep),  # naming no recipient: every directive applies
    ):
        assert record.withheld
        assert _shared_alerts(record.entries) & set(COMPARED) == kept
        # an alert withheld takes its acknowledgement with it; one kept keeps its own
        assert _acknowledged(record.entries) & set(raised.values()) == {raised[rule] for rule in kept}
        assert record.state is not None
        assert not {raised[rule] for rule in gone} & set(record.state.alerts)
    assert _flags(practice, ep) & set(COMPARED) == kept
    # a recipient the directive does not name is shared every alert
    other = practice.shared_record(TREATING, ep, recipient="clinic-y")
    assert _shared_alerts(other.entries) >= set(COMPARED)
    assert directive is not None

    practice.lift_lockbox(THE_CLIENT, ep, directive, on=DIRECTIVE_ON)
    assert _shared_alerts(practice.shared_record(TREATING, ep, recipient=NAMED).entries) >= set(COMPARED)
    assert set(COMPARED) <= _flags(practice, ep)


def test_a_partners_share_withholds_their_deterioration_from_a_withheld_intake(practice: Practice) -> None:
    """The client withholds the partner's first session from a recipient the partner then shares with: the
    partner's reliable deterioration, which a later session raised against that session's score, goes."""
    setup = active_episode(practice)
    ep = setup.episode_id
    partner = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
    practice.add_participant(TREATING, ep, partner, added_on=date(2026, 1, 13))
    for week, theirs in enumerate([6.0, 6.0, 1.0], start=1):
        held = Session(
            held_on=date(2026, 1, 12) + timedelta(weeks=week),
            modality="video",
            attendance="attended",
            administrations=(ors(5.0), attrs.evolve(ors(theirs), about=PARTNER)),
        )
        practice.record_session(TREATING, ep, held)
    first, *_ = (
        e.event_id
        for e in practice.timeline(TREATING, ep)
        if e.type == "session-recorded" and e.event.number == 2
    )

    def partners_deteriorations() -> set[int]:
        entries = practice.shared_record(THE_PARTNER, ep, recipient=NAMED).entries
        return {
            e.event.at_session
            for e in entries
            if e.type == "alert-raised" and e.event.rule_id == "reliable-deterioration"
        }

    assert partners_deteriorations() == {4}  # raised by the fourth session against the partner's first
    practice.set_lockbox(THE_CLIENT, ep, scope="item", event_ids=[first], recipients=[NAMED], on=DIRECTIVE_ON)
    assert partners_deteriorations() == set()


@pytest.mark.parametrize("withheld", ["rupture", "session"])
def test_a_plugin_rules_alert_is_withheld_after_any_withheld_score_of_its_measure(
    tmp_path: Path, withheld: str
) -> None:
    """What a plugin's rule compared is not known when the record is read: its alerts fail closed, withheld
    once an earlier withheld event carried a score of their measure (of any measure, for one about none)."""
    host = make_plugin_host(load_entry_points=False, extra_plugins=[FourthSessionPlugin()])
    with open_on("sqlite", tmp_path, plugins=host) as p:
        ep, sessions = _four_sessions(p)

        def plugins_alerts() -> list[str | None]:
            entries = p.shared_record(TREATING, ep, recipient=NAMED).entries
            return sorted(
                (
                    e.event.measure_id or ""
                    for e in entries
                    if e.type == "alert-raised" and "." in e.event.rule_id
                ),
            )

        assert plugins_alerts() == ["", "ors"]
        rupture = next(e.event_id for e in p.timeline(TREATING, ep) if e.type == "rupture-noted")
        # the session before (neither the intake nor the session before the fourth), or an event with no
        # scores: the built-in rules' alerts stay in both
        named = sessions[2] if withheld == "session" else rupture
        p.set_lockbox(THE_CLIENT, ep, scope="item", event_ids=[named], recipients=[NAMED], on=DIRECTIVE_ON)
        shared = p.shared_record(TREATING, ep, recipient=NAMED)
        assert shared.withheld
        assert _shared_alerts(shared.entries) >= set(COMPARED)
        assert plugins_alerts() == ([] if withheld == "session" else ["", "ors"])
