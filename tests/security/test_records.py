"""Process notes, corrections (signed sessions, addenda, statements of disagreement) and the lockbox."""

from __future__ import annotations

import itertools
import json
from datetime import date

import attrs
import pytest

from alliancekit import Practice
from alliancekit.domain import (
    Actor,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    RepairAttempt,
    Role,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import RepairStrategy, RuptureCause, RuptureKind, RuptureMarker
from alliancekit.errors import LifecycleError, NotFoundError, ValidationError
from alliancekit.events import converter
from alliancekit.store.memory import MemoryStore

from .helpers import CLIENT, Clock, active_episode, actor

D = date(2026, 1, 5)


# ------------------------------------------------------------------------------------------ process notes


def test_process_notes_are_for_their_author_only() -> None:
    setup = active_episode(text="ordinary words")
    p, ep = setup.practice, setup.episode_id
    me = actor("clin_own")
    p.record_process_note(me, ep, written_on=D, text="PRIVATE-PROCESS-NOTE")
    assert [n.text for n in p.process_notes(me, ep)] == ["ordinary words", "PRIVATE-PROCESS-NOTE"]
    p.transfer(me, ep, to_clinician_id="clin-b", on=date(2026, 2, 1), reason="leave")
    assert p.process_notes(actor("clin_other"), ep) == []  # the new clinician of record sees none
    assert len(p.process_notes(me, ep)) == 2  # the author still does
    everything = [
        p.timeline(actor("clin_other"), ep),
        p.timeline(actor("supervisor"), ep),
        p.shared_record(actor("system"), ep).entries,
        p.shared_record(actor("clin_other"), ep, override_reason="court order").entries,
        p.break_glass(actor("clin_emergency"), ep, reason="crisis"),
    ]
    for entries in everything:
        assert all(e.type != "process-note-recorded" for e in entries)
        assert "PRIVATE" not in json.dumps([converter.unstructure(e.event) for e in entries])
    view = p.client_view(actor("client_own"), ep)
    assert "PRIVATE" not in json.dumps(converter.unstructure(view))
    assert "PRIVATE" not in repr(p.caseload(actor("supervisor"), include_closed=True))


def test_a_process_note_changes_nothing_but_the_version() -> None:
    setup = active_episode()
    p, ep, me = setup.practice, setup.episode_id, actor("clin_own")
    before = p.episode(me, ep)
    p.record_process_note(me, ep, written_on=D, text="note")
    after = p.episode(me, ep)
    assert after.version == before.version + 1
    assert attrs.evolve(after, version=before.version) == before
    assert p.rebuild_state(actor("system"), ep) == after
    with pytest.raises(ValidationError):
        p.record_process_note(me, ep, written_on=D, text="   ")


# ------------------------------------------------------------------------------------------- corrections


def test_a_signed_session_keeps_its_original_with_corrections_addenda_and_statements() -> None:
    setup = active_episode(text="ORIGINAL")
    p, ep, me = setup.practice, setup.episode_id, actor("clin_own")
    corrected = Session(held_on=date(2026, 1, 12), modality="phone", attendance="attended", helpful="FIXED")
    p.correct_session(me, ep, setup.session_id, corrected, reason="wrong modality")
    p.add_addendum(
        me, ep, setup.session_id, text="ADDED LATER", reason="remembered", added_on=date(2026, 1, 13)
    )
    p.attach_disagreement(
        actor("client_own"), ep, setup.session_event_id, statement="I DISAGREE", received_on=D
    )
    history = p.session_history(me, ep, setup.session_id)
    assert history.original.event.session.helpful == "ORIGINAL"  # still readable, unchanged
    assert [c.event.reason for c in history.corrections] == ["wrong modality"]
    assert [a.event.text for a in history.addenda] == ["ADDED LATER"]
    assert [(d.event.statement, d.actor_role) for d in history.disagreements] == [("I DISAGREE", "client")]
    assert all(e.corrects == history.original.event_id for e in (*history.corrections, *history.addenda))
    # the client's statement can be attached to a correction too, and to any record but private ones
    p.attach_disagreement(
        actor("client_own"), ep, history.corrections[0].event_id, statement="still wrong", received_on=D
    )
    assert len(p.session_history(me, ep, setup.session_id).disagreements) == 2
    note_event = next(e.event_id for e in p.store.load_events(ep) if e.type == "process-note-recorded")
    with pytest.raises(NotFoundError):
        p.attach_disagreement(actor("client_own"), ep, note_event, statement="x", received_on=D)


def test_addenda_and_statements_are_refused_without_a_target_or_text() -> None:
    setup = active_episode()
    p, ep, me = setup.practice, setup.episode_id, actor("clin_own")
    with pytest.raises(NotFoundError):
        p.add_addendum(me, ep, "no-such-session", text="t", reason="r", added_on=D)
    with pytest.raises(ValidationError):
        p.add_addendum(me, ep, setup.session_id, text="t", reason=" ", added_on=D)
    with pytest.raises(LifecycleError):
        p.add_addendum(me, ep, setup.session_id, text="t", reason="r", added_on=date(2025, 1, 1))
    with pytest.raises(ValidationError):
        p.attach_disagreement(actor("client_own"), ep, setup.session_event_id, statement="", received_on=D)
    # a closed episode still takes addenda and statements
    from alliancekit.domain import Ending

    p.close_episode(me, ep, Ending(ended_on=date(2026, 2, 1), planned=False, reason="dropout"))
    p.add_addendum(me, ep, setup.session_id, text="t", reason="r", added_on=date(2026, 2, 2))
    p.attach_disagreement(
        actor("client_own"), ep, setup.session_event_id, statement="s", received_on=date(2026, 2, 2)
    )


# ----------------------------------------------------------------------------------------------- lockbox

MARKERS = {
    "consultation": "M-CONSULT",
    "goals": "M-GOAL",
    "session1": "M-SESSION1",
    "session2": "M-SESSION2",
    "correction": "M-CORRECTION",
    "addendum": "M-ADDENDUM",
    "disagreement": "M-DISAGREE",
    "rupture": "M-RUPTURE",
    "repair": "M-REPAIR",
    "process-note": "M-PNOTE",
}
SESSION_FAMILY = {"session1", "session2", "correction", "addendum", "disagreement"}


def _lockbox_episode() -> tuple[Practice, str, dict[str, str]]:
    """An episode with a distinct marker in each item's text; returns the practice, episode, event ids."""
    p = Practice(MemoryStore(), clock=Clock())
    me = actor("clin_own")
    assert me is not None
    ep = p.start_episode(me, client_ref=CLIENT, clinician_id="clin-a", opened_on=D)
    p.record_consultation(
        me,
        ep,
        Consultation(
            held_on=D,
            modality="video",
            consent=Consent(treatment=True, measures=True),
            presenting_concerns=(MARKERS["consultation"],),
        ),
    )
    p.decide_fit(me, ep, FitDecision(outcome="proceed", decided_on=D))
    p.agree_goals(me, ep, [GoalDraft(MARKERS["goals"])], agreed_on=D)
    s1 = p.record_session(
        me, ep, Session(held_on=D, modality="video", attendance="attended", helpful=MARKERS["session1"])
    )
    p.record_session(
        me, ep, Session(held_on=D, modality="video", attendance="attended", helpful=MARKERS["session2"])
    )
    assert s1.record_id is not None
    p.correct_session(
        me,
        ep,
        s1.record_id,
        Session(held_on=D, modality="phone", attendance="attended", helpful="fixed"),
        reason=MARKERS["correction"],
    )
    p.add_addendum(me, ep, s1.record_id, text=MARKERS["addendum"], reason="r", added_on=D)
    rupture = p.note_rupture(
        me,
        ep,
        RuptureNote(
            noted_on=D,
            kind=RuptureKind.WITHDRAWAL,
            markers=(RuptureMarker.DENIAL,),
            likely_cause=RuptureCause.OTHER,
            description=MARKERS["rupture"],
        ),
    )
    assert rupture.record_id is not None
    p.record_repair(
        me,
        ep,
        rupture.record_id,
        RepairAttempt(
            attempted_on=D,
            strategies=(RepairStrategy.GIVE_RATIONALE,),
            resolved=True,
            client_view=MARKERS["repair"],
        ),
    )
    p.record_process_note(me, ep, written_on=D, text=MARKERS["process-note"])
    ids = {e.type + ":" + str(i): e.event_id for i, e in enumerate(p.store.load_events(ep))}
    session1 = next(v for k, v in ids.items() if k.startswith("session-recorded"))
    p.attach_disagreement(actor("client_own"), ep, session1, statement=MARKERS["disagreement"], received_on=D)
    rupture_event = next(v for k, v in ids.items() if k.startswith("rupture-noted"))
    return p, ep, {"session1": session1, "rupture": rupture_event}


DIRECTIVES = {
    "none": None,
    "whole-record": {"scope": "record"},
    "class-sessions": {"scope": "class", "classes": ["sessions"]},
    "class-ruptures-goals": {"scope": "class", "classes": ["ruptures", "goals"]},
    "item-session1": {"scope": "item", "items": ["session1"]},
    "item-rupture": {"scope": "item", "items": ["rupture"]},
    "sessions-from-hospital-x": {"scope": "class", "classes": ["sessions"], "recipients": ["hospital-x"]},
    "lifted": {"scope": "record", "lift": True},
}
WITHHOLDS = {
    "none": set(),
    "whole-record": set(MARKERS),
    "class-sessions": SESSION_FAMILY,
    "class-ruptures-goals": {"rupture", "repair", "goals"},
    "item-session1": {"session1", "correction", "addendum", "disagreement"},
    "item-rupture": {"rupture", "repair"},
    "sessions-from-hospital-x": SESSION_FAMILY,
    "lifted": set(),
}
#: Whom a share naming no recipient is with: it may go anywhere, so every directive applies to it.
UNNAMED = "(unnamed)"
READERS = ("export-system", "export-clinician", "supervisor", "break-glass", "treating-clinician")
RECIPIENTS = (None, "hospital-x", "hospital-y")


def _read(p: Practice, ep: str, reader: str, recipient: str | None) -> tuple[list[object], bool, str]:
    """What ``reader`` gets, whether it says something was withheld, and whom it was shared with."""
    if reader == "export-system":
        shared = p.shared_record(actor("system"), ep, recipient=recipient)
        return list(shared.entries), shared.withheld, recipient or UNNAMED
    if reader == "export-clinician":
        shared = p.shared_record(actor("clin_own"), ep, recipient=recipient)
        return list(shared.entries), shared.withheld, recipient or UNNAMED
    if reader == "supervisor":
        timeline = p.timeline(actor("supervisor"), ep)
        return list(timeline), timeline.withheld, "sup-1"
    if reader == "break-glass":
        timeline = p.break_glass(actor("clin_emergency"), ep, reason="crisis")
        return list(timeline), timeline.withheld, "clin-b"
    timeline = p.timeline(actor("clin_own"), ep)
    return list(timeline), timeline.withheld, "treating"


@pytest.mark.parametrize(
    ("directive", "reader", "recipient"), list(itertools.product(DIRECTIVES, READERS, RECIPIENTS))
)
def test_lockbox_matrix_has_zero_leaks(directive: str, reader: str, recipient: str | None) -> None:
    p, ep, events = _lockbox_episode()
    spec = DIRECTIVES[directive]
    if spec is not None:
        set_by = actor("client_own")
        recorded = p.set_lockbox(
            set_by,
            ep,
            scope=spec["scope"],
            classes=spec.get("classes", ()),
            event_ids=[events[i] for i in spec.get("items", ())],
            recipients=spec.get("recipients", ()),
            on=D,
        )
        if spec.get("lift"):
            assert recorded.record_id is not None
            p.lift_lockbox(set_by, ep, recorded.record_id, on=D)
    entries, withheld, shared_with = _read(p, ep, reader, recipient)
    applies = shared_with != "treating" and (
        spec is None or not spec.get("recipients") or shared_with in (UNNAMED, *spec["recipients"])
    )
    expected = WITHHOLDS[directive] if applies else set()
    text = json.dumps([converter.unstructure(e.event) for e in entries])  # type: ignore[attr-defined]
    leaked = {name for name in expected | {"process-note"} if MARKERS[name] in text}
    assert not leaked
    missing = {name for name in set(MARKERS) - expected - {"process-note"} if MARKERS[name] not in text}
    assert not missing  # nothing withheld that the directive did not cover
    assert withheld is bool(expected)
    assert all(e.type not in ("lockbox-set", "lockbox-lifted") for e in entries)  # type: ignore[attr-defined]


def test_overriding_the_lockbox_needs_a_reason_and_is_audited() -> None:
    p, ep, _ = _lockbox_episode()
    p.set_lockbox(actor("client_own"), ep, scope="record", on=D)
    me = actor("clin_own")
    assert p.shared_record(me, ep).withheld
    before = set(p.store.audit_records())  # listed by shard: the new entry is the one not there before
    shared = p.shared_record(me, ep, override_reason="subpoena 2026-17")
    assert not shared.withheld
    assert MARKERS["session1"] in json.dumps([converter.unstructure(e.event) for e in shared.entries])
    [entry] = [e for e in p.store.audit_records() if e not in before]
    assert (entry.action, entry.outcome, entry.detail) == (
        "override-lockbox",
        "lockbox-override",
        "subpoena 2026-17",
    )
    with pytest.raises(ValidationError):
        p.shared_record(me, ep, override_reason=" ")


def test_lockbox_directives_are_checked() -> None:
    p, ep, _ = _lockbox_episode()
    client = actor("client_own")
    with pytest.raises(ValidationError):
        p.set_lockbox(client, ep, scope="everything", on=D)
    with pytest.raises(ValidationError):
        p.set_lockbox(client, ep, scope="class", classes=["secrets"], on=D)
    with pytest.raises(ValidationError):
        p.set_lockbox(client, ep, scope="item", on=D)
    with pytest.raises(NotFoundError):
        p.lift_lockbox(client, ep, "no-such-directive", on=D)
    # the client's view is theirs: the lockbox does not hide their own record from them
    p.set_lockbox(client, ep, scope="record", on=D)
    assert p.client_view(client, ep).goals[0].description == MARKERS["goals"]


def test_the_client_view_holds_goals_scores_and_plan_only() -> None:
    setup = active_episode(text="CLINICIAN-WORDS")
    view = setup.practice.client_view(actor("client_own"), setup.episode_id)
    assert [g.status for g in view.goals] == ["active"]
    assert [(s.measure_id, s.total) for s in view.scores] == [("ors", 20.0)]
    dumped = json.dumps(converter.unstructure(view))
    assert dumped.count("CLINICIAN-WORDS") == 1  # the goal, in the client's words; no notes
    with pytest.raises(Exception, match="own record"):
        setup.practice.client_view(Actor("client-2", Role.CLIENT, "c1"), setup.episode_id)
