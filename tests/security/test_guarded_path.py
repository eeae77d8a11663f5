"""The guarantees where the paths meet: exports, supervisors' reads, idempotency, expected versions,
closing with open alerts, and a Practice's own lifecycle (issue: one guarded path)."""

from __future__ import annotations

import contextlib
import gc
import json
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, open_practice
from alliancekit.domain import Actor, Ending, Purpose, Review, Role, Session
from alliancekit.domain.vocab import EndingReason
from alliancekit.errors import (
    AccessDenied,
    ConflictError,
    IdempotencyKeyReused,
    NotFoundError,
    PracticeClosed,
)
from alliancekit.fhir import episode_bundle
from alliancekit.lifecycle.rules import CLOSING_NOTE
from alliancekit.security.encryption import PREFIX, FieldCipher, Keyring
from alliancekit.store.memory import MemoryStore

from .helpers import CLIENT, CLINIC, Clock, active_episode, ors

D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
ADMIN = Actor("adm", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
TEXT = "synthetic-words-of-the-client"


def _events(p: Practice, ep: str) -> int:
    return len(p.store.load_events(ep))


def _lockbox_whole_record(p: Practice, ep: str) -> None:
    p.set_lockbox(OWN, ep, scope="record", on=D)


# -- 1. exports go through the policy and the lockbox ---------------------------------------------------


@pytest.mark.parametrize(
    "who",
    [
        ADMIN,
        Actor("clin-b", Role.CLINICIAN, CLINIC),
        Actor("client-2", Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS),
    ],
    ids=["administrator", "another-clinician", "another-client"],
)
def test_fhir_export_is_refused_to_whoever_may_not_read_the_episode(who: Actor) -> None:
    setup = active_episode(text=TEXT)
    with pytest.raises(AccessDenied):
        setup.practice.episode(who, setup.episode_id)
    with pytest.raises(AccessDenied):
        episode_bundle(setup.practice, who, setup.episode_id, purpose="treatment")
    refused = [
        e for e in setup.practice.store.audit_records() if e.outcome == "refused" and e.actor_id == who.id
    ]
    assert refused
    assert refused[-1].action == "export-fhir"


def test_fhir_export_honours_a_whole_record_lockbox_and_says_so() -> None:
    setup = active_episode(text=TEXT)
    p, ep = setup.practice, setup.episode_id
    before = json.dumps(episode_bundle(p, SUPERVISOR, ep, purpose="treatment"))
    assert "Encounter" in before
    assert TEXT in before
    _lockbox_whole_record(p, ep)
    bundle = episode_bundle(p, SUPERVISOR, ep, purpose="treatment")
    text = json.dumps(bundle)
    assert TEXT not in text
    assert '"Encounter"' not in text
    assert '"Observation"' not in text
    assert "REDACTED" in text


def test_fhir_export_carries_the_decrypted_text_not_the_ciphertext() -> None:
    cipher = FieldCipher(Keyring({"k1": b"\x01" * 32}, "k1"))
    setup = active_episode(Practice(MemoryStore(), clock=Clock(), cipher=cipher), text=TEXT)
    raw = json.dumps([e.payload_json for e in setup.practice.store.load_events(setup.episode_id)])
    assert PREFIX in raw
    assert TEXT not in raw
    text = json.dumps(episode_bundle(setup.practice, OWN, setup.episode_id, purpose="treatment"))
    assert PREFIX not in text
    assert TEXT in text


def test_export_audit_entries_name_the_client_and_the_purpose() -> None:
    setup = active_episode()
    p = setup.practice
    episode_bundle(p, OWN, setup.episode_id, purpose="treatment")
    found = p.audit_entries(ADMIN, client_ref=CLIENT)
    exports = [e for e in found if e.action == "export-fhir"]
    assert len(exports) == 1
    assert (exports[0].client_ref, exports[0].purpose, exports[0].outcome) == (CLIENT, "treatment", "allowed")


def test_cli_export_fhir_leaves_out_lockboxed_sessions(tmp_path: Path) -> None:
    from alliancekit.cli.main import main

    db = tmp_path / "p.sqlite"
    with open_practice(db, clock=Clock()) as p:
        setup = active_episode(p, text=TEXT)
        _lockbox_whole_record(p, setup.episode_id)
    out = tmp_path / "bundle.json"
    assert (
        main(["export", "fhir", "--db", str(db), "--episode", setup.episode_id[:10], "--out", str(out)]) == 0
    )
    text = out.read_text()
    assert TEXT not in text
    assert '"Encounter"' not in text


# -- 2. a supervisor's reads honour the lockbox ----------------------------------------------------------


def _episode_with_an_alert(p: Practice | None = None) -> tuple[Practice, str]:
    setup = active_episode(p)
    p, ep = setup.practice, setup.episode_id
    # a big drop on the ORS raises a deterioration alert
    p.record_session(
        OWN, ep, Session(held_on=D, modality="video", attendance="attended", administrations=(ors(0.5),))
    )
    assert p.alerts(OWN, ep), "the setup needs an open alert"
    return p, ep


def test_supervisor_summaries_withhold_scores_and_alerts_under_a_lockbox() -> None:
    p, ep = _episode_with_an_alert()
    assert p.episode(SUPERVISOR, ep).latest_scores
    row = next(r for r in p.caseload(SUPERVISOR) if r.episode_id == ep)
    assert json.loads(row.latest_scores_json)
    assert row.open_alerts
    _lockbox_whole_record(p, ep)
    state = p.episode(SUPERVISOR, ep)
    assert not state.latest_scores
    assert not state.first_scores
    assert not state.alerts
    assert p.alerts(SUPERVISOR, ep) == {}
    row = next(r for r in p.caseload(SUPERVISOR) if r.episode_id == ep)
    assert json.loads(row.latest_scores_json) == {}
    assert row.open_alerts == 0
    assert row.latest_outcome is None
    # the treating clinician still sees everything
    assert p.episode(OWN, ep).latest_scores
    assert p.alerts(OWN, ep)
    own_row = next(r for r in p.caseload(OWN) if r.episode_id == ep)
    assert json.loads(own_row.latest_scores_json)


def test_a_withheld_row_shows_a_review_due_by_the_sessions_attended_not_one_an_alert_asked_for() -> None:
    p, ep = _episode_with_an_alert()  # a red alert asked for a review two sessions in
    # a directive on one item (the rupture) withholds the scores and alerts, and leaves the sessions shared
    # (a whole-record one leaves only the episode's frame: no sessions, no review due at all)
    rupture = next(e.event_id for e in p.timeline(OWN, ep) if e.type == "rupture-noted")
    p.set_lockbox(OWN, ep, scope="item", event_ids=[rupture], on=D)

    def due(who: Actor) -> bool:
        return next(r for r in p.caseload(who) if r.episode_id == ep).review_due

    assert due(OWN)
    assert not due(SUPERVISOR)
    attended = next(r for r in p.caseload(OWN) if r.episode_id == ep).sessions_attended
    for _ in range(p.review_every - attended):
        p.record_session(OWN, ep, Session(held_on=D, modality="video", attendance="attended"))
    assert due(SUPERVISOR)  # the scheduled review: a count of sessions, which the row shows anyway


def test_supervisor_session_history_is_withheld_under_a_lockbox() -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    assert p.session_history(SUPERVISOR, ep, setup.session_id).original.event_id == setup.session_event_id
    _lockbox_whole_record(p, ep)
    with pytest.raises(NotFoundError):
        p.session_history(SUPERVISOR, ep, setup.session_id)
    assert p.session_history(OWN, ep, setup.session_id).original.event_id == setup.session_event_id


def test_cli_reads_withhold_lockboxed_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from alliancekit.cli.main import main

    db = tmp_path / "p.sqlite"
    with open_practice(db, clock=Clock()) as p:
        _, ep = _episode_with_an_alert(p)
        _lockbox_whole_record(p, ep)
    assert main(["caseload", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["latest_scores"] == {}
    assert rows[0]["open_alerts"] == 0
    assert main(["episode", "show", "--db", str(db), ep[:10], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"]["latest_scores"] == {}
    assert shown["state"]["alerts"] == {}
    assert shown["withheld"] is True
    assert all(e["type"] == "episode-opened" for e in shown["timeline"])


# -- 3. idempotency keys are scoped and bound to the request ---------------------------------------------


def test_a_key_reused_on_another_episode_is_refused_and_writes_nothing() -> None:
    p = Practice(MemoryStore(), clock=Clock())
    a = active_episode(p)
    other = Actor("clin-b", Role.CLINICIAN, CLINIC)
    b = p.start_episode(other, client_ref="client-2", clinician_id="clin-b", opened_on=D)
    session = Session(held_on=D, modality="video", attendance="attended")
    first = p.record_session(OWN, a.episode_id, session, idempotency_key="k-1")
    assert first.duplicate is False
    before = _events(p, b)
    with pytest.raises(IdempotencyKeyReused) as refused:
        p.record_session(other, b, session, idempotency_key="k-1")
    assert (refused.value.field, refused.value.rule) == ("idempotency_key", "reused")
    assert _events(p, b) == before


def test_a_key_used_in_another_clinic_opens_a_new_episode() -> None:
    p = Practice(MemoryStore(), clock=Clock())
    north = Actor("clin-a", Role.CLINICIAN, "north")
    south = Actor("clin-a", Role.CLINICIAN, "south")
    ep_north = p.start_episode(
        north, client_ref="c-1", clinician_id="clin-a", opened_on=D, idempotency_key="open-1"
    )
    ep_south = p.start_episode(
        south, client_ref="c-1", clinician_id="clin-a", opened_on=D, idempotency_key="open-1"
    )
    assert ep_north != ep_south
    assert p.episode(south, ep_south).clinic_id == "south"
    # the same request again in the same clinic is the same episode
    again = p.start_episode(
        north, client_ref="c-1", clinician_id="clin-a", opened_on=D, idempotency_key="open-1"
    )
    assert again == ep_north


def test_a_key_given_to_another_command_is_another_key() -> None:
    """Keys are scoped to the clinic and the command (as the embedding guide says): a host that reuses an
    id across endpoints gets each command made once, and a repeat of each answered from its own key."""
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    session = Session(held_on=D, modality="video", attendance="attended")
    recorded = p.record_session(OWN, ep, session, idempotency_key="req-1")
    review = p.record_review(OWN, ep, Review(held_on=D, decision="continue"), idempotency_key="req-1")
    assert (review.duplicate, review.record_id != recorded.record_id) == (False, True)
    assert p.episode(OWN, ep).reviews == 1
    again = p.record_session(OWN, ep, session, idempotency_key="req-1")
    assert (again.duplicate, again.record_id, again.version) == (True, recorded.record_id, recorded.version)


def test_the_same_key_with_another_request_is_refused() -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    p.record_session(
        OWN, ep, Session(held_on=D, modality="video", attendance="attended"), idempotency_key="s"
    )
    version = p.episode(OWN, ep).version
    with pytest.raises(IdempotencyKeyReused):
        p.record_session(
            OWN, ep, Session(held_on=D, modality="phone", attendance="attended"), idempotency_key="s"
        )
    repeat = p.record_session(
        OWN, ep, Session(held_on=D, modality="video", attendance="attended"), idempotency_key="s"
    )
    assert repeat.duplicate
    assert repeat.episode_id == ep
    assert repeat.version == version
    assert p.episode(OWN, ep).version == version


@contextlib.contextmanager
def _on(p: Practice, path: str) -> Iterator[Any]:
    """The facade, or a batch of it: what is refused at a call must be refused the same on both."""
    if path == "facade":
        yield p
        return
    with p.batch() as batch:
        yield batch


def _refused_by(p: Practice, who: Actor) -> list[str]:
    return [r.action for r in p.store.audit_records() if r.outcome == "refused" and r.actor_id == who.id]


@pytest.mark.parametrize("path", ["facade", "batch"])
@pytest.mark.parametrize(
    "who",
    [Actor("clin-b", Role.CLINICIAN, CLINIC), Actor("client-2", Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)],
    ids=["another-clinician", "another-client"],
)
def test_a_keyed_repeat_by_someone_who_may_not_write_the_episode_is_refused_not_answered(
    who: Actor, path: str
) -> None:
    """The stored result of a key (the episode's version, the record's id) is an answer about the record:
    it is given only to whoever the policy lets make the command, and a refusal is audited."""
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    session = Session(held_on=D, modality="video", attendance="attended")
    p.record_session(OWN, ep, session, idempotency_key="k-1")
    before = _events(p, ep)
    with pytest.raises(AccessDenied), _on(p, path) as where:
        where.record_session(who, ep, session, idempotency_key="k-1")
    assert _refused_by(p, who) == ["record-session"]
    assert _events(p, ep) == before


@pytest.mark.parametrize("path", ["facade", "batch", "held-in-a-batch"])
def test_a_keyed_repeat_by_whoever_made_the_command_is_answered_after_they_lost_access(path: str) -> None:
    """They were answered once: a transfer since does not undo it (an import run again replays history
    as its clinicians). Another request under the key is refused like any command of theirs now."""
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    session = Session(held_on=D, modality="video", attendance="attended")
    with _on(p, path.removeprefix("held-in-a-")) as where:
        first = where.record_session(OWN, ep, session, idempotency_key="k-1")
        if path == "batch":
            where.flush()  # committed before the repeat; "held-in-a-batch" repeats it while still held
        where.transfer(OWN, ep, to_clinician_id="clin-b", on=D, reason="leave")
        again = where.record_session(OWN, ep, session, idempotency_key="k-1")
    assert again.duplicate
    assert (again.episode_id, again.version, again.record_id) == (ep, first.version, first.record_id)
    assert _refused_by(p, OWN) == []
    other = Session(held_on=D, modality="phone", attendance="attended")
    with pytest.raises(AccessDenied), _on(p, path.removeprefix("held-in-a-")) as where:
        where.record_session(OWN, ep, other, idempotency_key="k-1")
    assert _refused_by(p, OWN) == ["record-session"]


@pytest.mark.parametrize("path", ["facade", "batch"])
def test_an_expected_version_from_another_clinic_is_refused_before_it_is_compared(path: str) -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    elsewhere = Actor("clin-a", Role.CLINICIAN, "c2")
    session = Session(held_on=D, modality="video", attendance="attended")
    # another clinic's episode is refused as an unknown id is (no one learns which ids another clinic holds)
    with pytest.raises(NotFoundError) as refused, _on(p, path) as where:
        where.record_session(elsewhere, ep, session, expected_version=0)
    assert "version" not in str(refused.value)
    entries = [(r.action, r.outcome) for r in p.store.audit_records() if r.clinic_id == elsewhere.clinic_id]
    assert entries == [("record-session", "not-found")]


def test_the_same_key_on_another_command_is_another_command() -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    p.put_on_hold(OWN, ep, on=D, reason="travel", idempotency_key="k")
    resumed = p.resume(OWN, ep, on=D, idempotency_key="k")
    assert resumed.duplicate is False


# -- 9. expected versions, closing with open alerts, the Practice's lifecycle ------------------------------


def test_a_stale_expected_version_is_a_conflict_at_once() -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    version = p.episode(OWN, ep).version
    session = Session(held_on=D, modality="video", attendance="attended")
    recorded = p.record_session(OWN, ep, session, expected_version=version)
    assert recorded.version > version
    before = _events(p, ep)
    with pytest.raises(ConflictError) as stale:
        p.record_session(OWN, ep, session, expected_version=version)
    assert (stale.value.expected, stale.value.actual) == (version, recorded.version)
    assert _events(p, ep) == before


def test_closing_resolves_open_alerts_in_the_same_commit() -> None:
    p, ep = _episode_with_an_alert()
    open_ids = set(p.alerts(OWN, ep))
    p.close_episode(OWN, ep, Ending(ended_on=D, planned=False, reason=EndingReason.DROPOUT))
    assert p.alerts(OWN, ep) == {}
    timeline = p.timeline(OWN, ep)
    resolved = [e for e in timeline if e.type == "alert-resolved"]
    assert {e.event.alert_id for e in resolved} == open_ids
    assert all(e.event.note == CLOSING_NOTE for e in resolved)
    closed = next(e for e in timeline if e.type == "episode-closed")
    assert all(e.seq < closed.seq for e in resolved)
    assert {e.recorded_at for e in resolved} == {closed.recorded_at}


def test_a_closed_practice_refuses_every_call() -> None:
    setup = active_episode()
    p = setup.practice
    p.close()
    p.close()  # twice is harmless
    with pytest.raises(PracticeClosed):
        p.episode(OWN, setup.episode_id)
    with pytest.raises(PracticeClosed):
        p.record_session(OWN, setup.episode_id, Session(held_on=D, modality="video", attendance="attended"))
    with pytest.raises(PracticeClosed):
        p.outbox_status()


@pytest.mark.unclosed_practice
def test_a_practice_is_a_context_manager_and_warns_when_left_open() -> None:
    with Practice(MemoryStore()) as p:
        assert not p.closed
    assert p.closed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Practice(MemoryStore())
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)


def test_closing_resolves_only_what_is_open() -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    assert p.alerts(OWN, ep) == {}
    p.close_episode(OWN, ep, Ending(ended_on=D, planned=False, reason=EndingReason.DROPOUT))
    assert not [e for e in p.timeline(OWN, ep) if e.type == "alert-resolved"]
