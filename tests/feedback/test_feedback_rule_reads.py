"""What a rule reads: a rule that declares ``reads`` is skipped after a command with no event of those types
(the batch path's saving), so it must never fire without one, whatever the state of the episode."""

from __future__ import annotations

from datetime import timedelta

import attrs

from alliancekit.domain import Attendance, RuptureCause, RuptureKind, RuptureMarker, RuptureNote
from alliancekit.events.types import EVENT_TYPES, Event, SessionRecorded
from alliancekit.feedback.builtin import (
    ALLIANCE_BELOW_CUTOFF,
    BUILTIN_RULES,
    MEASURE_MISSED,
    RELIABLE_DETERIORATION,
    REVIEW_DUE,
)
from alliancekit.feedback.engine import EngineContext, evaluate
from alliancekit.feedback.rules import AlertRule, RuleContext
from alliancekit.lifecycle.state import EpisodeState

from .conftest import CLINICIAN, Clinic, ors, phq9, srs


def test_every_builtin_rule_says_what_it_reads() -> None:
    # Only rules comparing the states before and after (whatever changed them) are checked after every
    # command: a new built-in rule lands here unless it declares the events it reads.
    assert {rule.id for rule in BUILTIN_RULES if rule.reads is None} == {MEASURE_MISSED, REVIEW_DUE}
    for rule in BUILTIN_RULES:
        assert rule.reads is None or (rule.reads and rule.reads <= set(EVENT_TYPES))


def _primed(clinic: Clinic) -> tuple[EpisodeState, list[Event]]:
    """An episode where every rule has what it needs in the state (falling ORS, a low alliance, risk, a
    rupture left unresolved, no-shows in a row), and the events of its timeline (many types)."""
    p = clinic.p
    ep = clinic.episode()
    first = clinic.session(ep, ors(30), srs(39), phq9(5))
    rupture = RuptureNote(
        noted_on=clinic.day,
        kind=RuptureKind.WITHDRAWAL,
        markers=(RuptureMarker.MINIMAL_RESPONSE,),
        likely_cause=RuptureCause.TRUST_IN_PROCESS,
    )
    p.note_rupture(CLINICIAN, ep, rupture)
    clinic.session(ep, ors(10), srs(20), phq9(20, item9=2))
    clinic.session(ep, attendance=Attendance.NO_SHOW)
    clinic.session(ep, attendance=Attendance.NO_SHOW, days=60)
    p.add_addendum(CLINICIAN, ep, first, text="a later word", reason="remembered", added_on=clinic.day)
    p.put_on_hold(CLINICIAN, ep, on=clinic.day, reason="travel")
    p.resume(CLINICIAN, ep, on=clinic.day)
    events = [entry.event for entry in p.timeline(CLINICIAN, ep)]
    return p.episode(CLINICIAN, ep), events


def _rule_context(clinic: Clinic, state: EpisodeState, event: Event) -> RuleContext:
    s = clinic.p._s  # the practice's own settings, measures and expectations
    return RuleContext(state, (event,), state, s.feedback, s.plugins.measures(), s.expectations)


def test_a_rule_that_declares_what_it_reads_is_quiet_without_those_events(clinic: Clinic) -> None:
    state, events = _primed(clinic)
    kinds = {event.TYPE for event in events}
    assert len(kinds) >= 8
    for rule in BUILTIN_RULES:
        for event in events:
            if rule.reads is not None and event.TYPE not in rule.reads:
                assert list(rule.check(_rule_context(clinic, state, event))) == [], (rule.id, event.TYPE)


def test_the_primed_state_makes_rules_fire_with_the_events_they_read(clinic: Clinic) -> None:
    state, events = _primed(clinic)
    session = [e for e in events if isinstance(e, SessionRecorded) and e.scores][-1]
    ctx = _rule_context(clinic, state, session)
    fired = {rule.id for rule in BUILTIN_RULES if rule.reads is not None and list(rule.check(ctx))}
    assert {RELIABLE_DETERIORATION, ALLIANCE_BELOW_CUTOFF} <= fired


def test_skipping_the_rules_a_command_cannot_fire_changes_no_alert(clinic: Clinic) -> None:
    state, events = _primed(clinic)
    s = clinic.p._s  # the practice's own settings, measures and expectations
    rules = s.rules()
    every = tuple(attrs.evolve(rule, reads=None) for rule in rules)
    before = attrs.evolve(
        state, version=state.version - 1, last_session_on=state.last_session_on - timedelta(1)
    )

    def alerts(checked: tuple[AlertRule, ...], event: Event) -> list[Event]:
        context = EngineContext(
            s.feedback, checked, s.plugins.measures(), lambda i: f"alert-{i}", s.expectations
        )
        return evaluate(before, [event], state, context)

    for event in events:
        assert alerts(rules, event) == alerts(every, event), event.TYPE
