"""The lockbox over every non-treating read: each reader (supervisor, client, system export, administrator)
x each read of the facade, export and report, after the client withheld their whole record. Every read is
either refused or carries none of the record (the canary text, the distinctive scores), and says that
something was withheld where it can.

The reads are enumerated from the facade: a new public query must be added to READS, or this fails."""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Practice, open_practice
from alliancekit.cli.main import main
from alliancekit.core.command_table import COMMANDS
from alliancekit.domain import Actor, Administration, Purpose, Review, Role, Session
from alliancekit.errors import AccessDenied, NotFoundError, ValidationError
from alliancekit.events import converter
from alliancekit.exports.research import export_research
from alliancekit.feedback.reports import attention_list, practice_outcomes, progress_chart, render_report
from alliancekit.fhir import episode_bundle, export_ndjson, ids

from .helpers import CLINIC, Clock, active_episode

CANARY = "CANARY-lockbox-7c1d"
LEVEL = 3.7  # ORS items of 3.7: a total of 14.8, found nowhere else in the record
#: A date and time as the exports write them, milliseconds and offset included.
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
SCORE = "14.8"
#: The alert a risk item endorsed raises, and the review it asks for: about the scores, withheld with them.
ALERT = "risk-item-endorsed"
ALERT_MARKS = (ALERT, '"review_requested": true', '"review_due": true')
D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)

READERS = {
    "supervisor": Actor("sup-1", Role.SUPERVISOR, CLINIC),
    # another client: the record's own client is not withheld their own record by their own directive
    # (the right of access; see test_the_client_reads_their_own_record_despite_their_lockbox)
    "client": Actor("client-2", Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS),
    "system-export": Actor("exporter", Role.SYSTEM, CLINIC, Purpose.OPERATIONS),
    "administrator": Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS),
}

Read = Callable[[Practice, Actor, str, Path], object]

#: Every public read of client content: the facade's queries, the exports and the reports.
READS: dict[str, Read] = {
    "episode": lambda p, a, ep, tmp: p.episode(a, ep),
    "alerts": lambda p, a, ep, tmp: p.alerts(a, ep),
    "due_measures": lambda p, a, ep, tmp: p.due_measures(a, ep, for_next_session=True),
    "timeline": lambda p, a, ep, tmp: p.timeline(a, ep),
    "session_history": lambda p, a, ep, tmp: p.session_history(a, ep, _session_id(p, ep)),
    "caseload": lambda p, a, ep, tmp: p.caseload(a, include_closed=True),
    "closed_outcomes": lambda p, a, ep, tmp: p.closed_outcomes(a),
    "shared_record": lambda p, a, ep, tmp: p.shared_record(a, ep),
    "export_record": lambda p, a, ep, tmp: p.export_record(a, ep),
    "break_glass": lambda p, a, ep, tmp: p.break_glass(
        attrs.evolve(a, purpose=Purpose.EMERGENCY), ep, reason="r"
    ),
    "rebuild_state": lambda p, a, ep, tmp: p.rebuild_state(a, ep),
    "process_notes": lambda p, a, ep, tmp: p.process_notes(a, ep),
    "episode_ids": lambda p, a, ep, tmp: p.episode_ids(a),
    "audit_entries": lambda p, a, ep, tmp: p.audit_entries(a),
    "fhir_bundle": lambda p, a, ep, tmp: episode_bundle(p, a, ep, purpose="quality-improvement"),
    "fhir_bulk": lambda p, a, ep, tmp: _bulk(p, a, tmp),
    "html_report": lambda p, a, ep, tmp: render_report(p, a),
    "attention_list": lambda p, a, ep, tmp: attention_list(p, a),
    "practice_outcomes": lambda p, a, ep, tmp: practice_outcomes(p, a),
    "progress_chart": lambda p, a, ep, tmp: progress_chart(p, a, ep),
}
#: Public methods that are not reads of client content, and why.
NOT_CONTENT = {
    "client_view": "the client's own view: their lockbox is about sharing with others (anyone else the "
    "policy lets read it reads it withheld: see test_the_client_view_is_withheld_from_its_clinician_...)",
    "verify": "returns findings about hashes and positions, never content",
    "verify_audit": "the same as verify",
    "audit_checkpoint": "returns a seal",
    "rotate_encryption": "returns counts, and the ids (host's labels) of the keys audit reasons are under",
    "back_up": "a copy of the store's file for the host's backup (free text stays encrypted), shown to no "
    "reader; decided (administrators, the system actor) and audited (tests/security/test_policy_matrix.py)",
    "refit_expectations": "returns per-band counts and spreads over the whole practice, no client's record",
    "clinics": "clinic ids",
    "mark_demo": "a write of the demo mark, no record",
    "is_demo": "whether the demo mark is there",
    "measure_definitions": "published measure definitions kept with the data, no record",
    "import_checkpoint": "a source row and a key: where an import got to",
    "save_import_checkpoint": "a write of where an import got to, no record",
    "imported_command": "whether a key holds a request (decided as the command): an episode id, no record",
    "clinic_today": "a date: the clock in the clinic's configured time zone",
    "now": "an instant: the practice's clock",
    "batched_reads": "a scope: the reads made in it are decided and withheld as everywhere else",
    "batch": "a scope: the commands made in it are decided as on the facade",
    "outbox_status": "counts",
    "outbox_records": "references and codes only, never a request's link (tests/notify/test_outbox_links.py)",
    "dispatcher": "the delivery worker",
    "dispatch_pending": "the delivery worker",
    "run_dispatcher": "the delivery worker",
    "retry_message": "the delivery worker",
    "close": "lifecycle",
    "discard": "lifecycle: closes, removing what the opening created",
    "record_group_session": "a write: each member's part is the record_session command",
    "open_request": "the questionnaire of a measure (its items), no record",
    "redeem_kiosk_code": "the questionnaire of a measure and a one-use token, no record",
}


def _session_id(p: Practice, ep: str) -> str:
    entry = next(e for e in p.timeline(OWN, ep) if e.type == "session-recorded")
    return entry.event.session_id  # type: ignore[attr-defined,no-any-return]


def _bulk(p: Practice, a: Actor, tmp: Path) -> str:
    out = tmp / "bulk"
    export_ndjson(p, a, out, purpose="quality-improvement")
    return "".join(f.read_text() for f in sorted(out.iterdir()))


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(converter.unstructure(_plain(value)), default=str)


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def test_every_public_read_is_in_the_matrix() -> None:
    public = {
        name
        for name, member in inspect.getmembers(Practice, predicate=inspect.isfunction)
        if not name.startswith("_")
    }
    facade_reads = public - set(COMMANDS) - set(NOT_CONTENT)
    assert facade_reads <= set(READS), facade_reads - set(READS)


@pytest.fixture
def locked(tmp_path: Path) -> tuple[Practice, str]:
    setup = active_episode(_practice_on(tmp_path), text=CANARY)
    p, ep = setup.practice, setup.episode_id
    items = dict.fromkeys(("individually", "interpersonally", "socially", "overall"), LEVEL)
    p.record_session(
        OWN,
        ep,
        Session(
            held_on=D,
            modality="video",
            attendance="attended",
            administrations=(Administration("ors", "1.0", "start", items),),
        ),
    )
    # a PHQ-9 with its risk item endorsed: an urgent alert, which asks for a review (only 3 sessions in)
    phq9 = Administration("phq-9", "1.0", "start", {**{f"q{i}": 1 for i in range(1, 9)}, "q9": 2})
    p.record_session(
        OWN, ep, Session(held_on=D, modality="video", attendance="attended", administrations=(phq9,))
    )
    # and the same distinctive answers filled in by the client themselves, between sessions
    answered = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    p.record_client_response(OWN, ep, Administration("ors", "1.0", "end", items), responded_at=answered)
    p.set_lockbox(OWN, ep, scope="record", on=D)
    return p, ep


def _practice_on(tmp_path: Path) -> Practice:
    return open_practice(tmp_path / "p.sqlite", clock=Clock(), default_protocol="fit")


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("read", sorted(READS))
def test_a_locked_record_reaches_no_non_treating_reader(
    read: str, reader: str, locked: tuple[Practice, str], tmp_path: Path
) -> None:
    p, ep = locked
    # the treating clinician sees the canary and the score: the checks below can fail
    assert SCORE in _text(p.episode(OWN, ep))
    assert CANARY in _text(p.timeline(OWN, ep))
    assert all(mark in _text(p.episode(OWN, ep)) for mark in ALERT_MARKS[:2])
    assert ALERT_MARKS[2] in _text(p.caseload(OWN))
    try:
        result = READS[read](p, READERS[reader], ep, tmp_path)
    except (AccessDenied, NotFoundError):
        return  # refused, or withheld as if absent
    # instants (a Bulk manifest's transactionTime, say) are not scores: "17:41:14.861" holds "14.8"
    text = _INSTANT.sub("<instant>", _text(result))
    assert CANARY not in text
    assert SCORE not in text
    assert [mark for mark in ALERT_MARKS if mark in text] == []
    p.close()


@pytest.mark.parametrize("purpose", sorted(set(Purpose) - {Purpose.TREATMENT}))
def test_the_client_view_is_withheld_from_its_clinician_reading_for_another_purpose(
    purpose: Purpose, locked: tuple[Practice, str]
) -> None:
    """The policy lets the clinician of record read the client-facing view for any purpose; only acting for
    treatment spares them the lockbox, so for another purpose the view shows what their timeline shows."""
    p, ep = locked
    treating = _text(p.client_view(OWN, ep))
    assert CANARY in treating  # the goal agreed: the check below can fail
    assert SCORE in treating
    view = p.client_view(attrs.evolve(OWN, purpose=purpose), ep)
    assert view.goals == ()
    assert view.scores == ()
    assert view.maintenance_plan is None
    p.close()


def test_a_reader_a_host_policy_lets_read_the_client_view_reads_it_withheld(tmp_path: Path) -> None:
    """The lockbox is applied on the guarded path whatever the policy allows: a host's policy that lets a
    supervisor read client views does not open the view past the client's directive."""
    from alliancekit.security.policy import AccessRequest, Decision, DefaultPolicy

    class ClientViews:
        def decide(self, request: AccessRequest) -> Decision:
            if request.actor.role is Role.SUPERVISOR and request.action == "read-client-view":
                return Decision.allow()
            return DefaultPolicy().decide(request)

    p = open_practice(tmp_path / "p.sqlite", clock=Clock(), policy=ClientViews())
    ep = active_episode(p, text=CANARY).episode_id
    supervisor = READERS["supervisor"]
    assert CANARY in _text(p.client_view(supervisor, ep))  # allowed, and nothing withheld yet
    p.set_lockbox(OWN, ep, scope="class", classes=["goals"], on=D)
    view = p.client_view(supervisor, ep)
    assert view.goals == ()
    assert view.scores  # only the class withheld is left out
    p.close()


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("export", ["fhir_bundle", "fhir_bulk"])
def test_a_whole_record_lockbox_withholds_that_the_episode_exists_from_exports(
    export: str, reader: str, locked: tuple[Practice, str], tmp_path: Path
) -> None:
    """The catalog's frame facts (the episode's opening, its participants) are withheld by a whole-record
    lockbox only: an export then holds no EpisodeOfCare (its status, period, care manager, fit outcome)."""
    p, ep = locked
    episode_of_care = ids.episode_of_care_id(ep)  # what the exports named it by before (each failed then)
    try:
        text = _text(READS[export](p, READERS[reader], ep, tmp_path))
    except (AccessDenied, NotFoundError):
        return
    assert episode_of_care not in text
    assert '"EpisodeOfCare"' not in text
    p.close()


@pytest.fixture
def sessions_locked(tmp_path: Path) -> tuple[Practice, str]:
    """The distinctive ORS as the latest score of a progress review, then the sessions class withheld from
    everyone: the review is in another class, but its scores are the withheld sessions'."""
    setup = active_episode(_practice_on(tmp_path), text=CANARY)
    p, ep = setup.practice, setup.episode_id
    items = dict.fromkeys(("individually", "interpersonally", "socially", "overall"), LEVEL)
    administration = Administration("ors", "1.0", "start", items)
    p.record_session(
        OWN,
        ep,
        Session(held_on=D, modality="video", attendance="attended", administrations=(administration,)),
    )
    p.record_review(OWN, ep, Review(held_on=D, decision="continue"))
    p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], on=D)
    return p, ep


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("read", sorted(READS))
def test_withheld_sessions_leave_no_score_in_a_review(
    read: str, reader: str, sessions_locked: tuple[Practice, str], tmp_path: Path
) -> None:
    p, ep = sessions_locked
    [review] = [e for e in p.timeline(OWN, ep) if e.type == "review-recorded"]
    assert SCORE in _text(review)  # the treating clinician sees it: the check below can fail
    try:
        result = READS[read](p, READERS[reader], ep, tmp_path)
    except (AccessDenied, NotFoundError):
        return
    assert SCORE not in _INSTANT.sub("<instant>", _text(result))
    p.close()


#: The reads that share the record: the lockbox applies to them whoever shares, the treating clinician too
#: (their own reads are not shares), in the entries and in the summary that travels with them.
SHARES: dict[str, Read] = {
    "shared_record": lambda p, a, ep, tmp: p.shared_record(a, ep),
    "shared_record_to_a_recipient": lambda p, a, ep, tmp: p.shared_record(a, ep, recipient="hospital-x"),
    "export_record": lambda p, a, ep, tmp: p.export_record(a, ep),
    "fhir_bundle": READS["fhir_bundle"],
    "fhir_bulk": READS["fhir_bulk"],
}


@pytest.mark.parametrize("share", sorted(SHARES))
def test_a_locked_record_is_not_shared_by_its_treating_clinician_either(
    share: str, locked: tuple[Practice, str], tmp_path: Path
) -> None:
    p, ep = locked
    text = _INSTANT.sub("<instant>", _text(SHARES[share](p, OWN, ep, tmp_path)))
    assert CANARY not in text
    assert SCORE not in text
    assert [mark for mark in ALERT_MARKS if mark in text] == []
    p.close()


def test_a_directive_for_one_recipient_withholds_the_summary_from_that_recipient_only(tmp_path: Path) -> None:
    setup = active_episode(_practice_on(tmp_path), text=CANARY)
    p, ep = setup.practice, setup.episode_id
    p.set_lockbox(OWN, ep, scope="record", recipients=["hospital-x"], on=D)
    supervisor = READERS["supervisor"]
    withheld = p.shared_record(supervisor, ep, recipient="hospital-x")
    assert withheld.withheld
    assert withheld.state is None  # a whole-record directive: nothing of the episode, not even its state
    shared = p.shared_record(supervisor, ep, recipient="hospital-y")
    assert not shared.withheld
    assert shared.state is not None
    assert shared.state.latest_scores
    p.close()


def test_the_client_reads_their_own_record_despite_their_lockbox(locked: tuple[Practice, str]) -> None:
    """A directive withholds the record from others; the client's own access (their view, their export)
    is not withheld by it. Process notes stay out of it all the same."""
    p, ep = locked
    own = Actor("client-1", Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
    exported = p.export_record(own, ep)
    assert exported.withheld is False
    assert CANARY in _text(exported)
    assert all(e.type != "process-note-recorded" for e in exported.entries)
    assert SCORE in _text(p.client_view(own, ep))


# -- between the participants of one episode -----------------------------------------------------------------

A_STATEMENT = "CANARY-statement-of-A-3e1f"
B_STATEMENT = "CANARY-statement-of-B-9a0c"
NOTE = "CANARY-process-note-51aa"
RUPTURE_TEXT = "CANARY-rupture-withheld-by-B-77d2"
A_REF, B_REF = "client-1", "client-3"

#: What a participant of the episode can read at all: their view and their right-of-access exports.
PARTICIPANT_READS: dict[str, Read] = {
    "client_view": lambda p, a, ep, tmp: p.client_view(a, ep),
    "shared_record": lambda p, a, ep, tmp: p.shared_record(a, ep),
    "export_record": lambda p, a, ep, tmp: p.export_record(a, ep),
    "fhir_bundle": lambda p, a, ep, tmp: episode_bundle(p, a, ep, purpose="client-access"),
}


def _ors(level: float, about: str | None = None) -> Administration:
    items = {"individually": level, "interpersonally": 5.0, "socially": 5.0, "overall": 5.0}
    return Administration("ors", "1.0", "start", items, about=about)


def _srs(level: float, about: str | None = None) -> Administration:
    items = {"relationship": level, "goals_topics": 9.0, "approach": 9.0, "overall": 9.0}
    return Administration("srs", "1.0", "end", items, about=about)


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Practice, str, dict[str, str]]:
    """A couple: A (identified) and B, each with their own ORS and SRS, statement and lockbox choice."""
    from alliancekit.domain import (
        Consent,
        Consultation,
        FitDecision,
        GoalDraft,
        Participant,
        Review,
        RuptureNote,
    )

    p = _practice_on(tmp_path)
    ep = p.start_episode(OWN, client_ref=A_REF, clinician_id=OWN.id, opened_on=date(2026, 1, 5))
    consent = Consent(treatment=True, measures=True)
    p.record_consultation(OWN, ep, Consultation(held_on=date(2026, 1, 5), modality="video", consent=consent))
    p.add_participant(OWN, ep, Participant(B_REF, "partner", consent), added_on=date(2026, 1, 5))
    p.decide_fit(OWN, ep, FitDecision(outcome="proceed", decided_on=date(2026, 1, 5)))
    p.agree_goals(OWN, ep, [GoalDraft("a goal of both")], agreed_on=date(2026, 1, 5))
    p.record_session(
        OWN,
        ep,
        Session(
            held_on=D,
            modality="in-person",
            attendance="attended",
            administrations=(_ors(3.1), _ors(2.7, B_REF), _srs(4.3), _srs(9.7, B_REF)),
        ),
    )
    p.note_rupture(
        OWN,
        ep,
        RuptureNote(
            noted_on=D,
            kind="withdrawal",
            markers=("topic-shift",),
            likely_cause="other",
            description=RUPTURE_TEXT,
        ),
    )
    p.record_process_note(OWN, ep, written_on=D, text=NOTE)
    # a second session and a review: the review's scores against expectation are A's own
    p.record_session(
        OWN,
        ep,
        Session(
            held_on=D,
            modality="in-person",
            attendance="attended",
            administrations=(_ors(3.1), _ors(2.7, B_REF)),
        ),
    )
    p.record_review(OWN, ep, Review(held_on=D, decision="continue"))
    a, b = (Actor(ref, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS) for ref in (A_REF, B_REF))
    session_event = next(e for e in p.timeline(OWN, ep) if e.type == "session-recorded").event_id
    p.attach_disagreement(a, ep, session_event, statement=A_STATEMENT, received_on=D)
    p.attach_disagreement(b, ep, session_event, statement=B_STATEMENT, received_on=D)
    p.set_lockbox(b, ep, scope="class", classes=["ruptures"], on=D)  # B's choice binds A too
    state = p.episode(OWN, ep)
    totals = {
        "A-ors": str(state.latest_scores["ors"].total),
        "A-srs": str(state.latest_scores["srs"].total),
        "B-ors": str(state.tracks[f"ors|{B_REF}|client"].latest.total),
        "B-srs": str(state.tracks[f"srs|{B_REF}|client"].latest.total),
    }
    assert len(set(totals.values())) == 4
    return p, ep, totals


@pytest.mark.parametrize("reader", [A_REF, B_REF])
@pytest.mark.parametrize("read", sorted(PARTICIPANT_READS))
def test_a_participant_reads_nothing_that_is_another_participants(
    read: str, reader: str, couple: tuple[Practice, str, dict[str, str]], tmp_path: Path
) -> None:
    p, ep, totals = couple
    treating = _text(p.timeline(OWN, ep)) + _text(p.episode(OWN, ep))
    for value in (*totals.values(), A_STATEMENT, B_STATEMENT, RUPTURE_TEXT):
        assert value in treating  # the clinician sees it all: the checks below can fail
    me, other = ("A", "B") if reader == A_REF else ("B", "A")
    text = _text(
        PARTICIPANT_READS[read](p, Actor(reader, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS), ep, tmp_path)
    )
    assert totals[f"{me}-ors"] in text  # their own measures reach them
    assert totals[f"{other}-ors"] not in text
    assert totals[f"{other}-srs"] not in text
    assert NOTE not in text
    assert (B_STATEMENT if reader == A_REF else A_STATEMENT) not in text
    if reader == A_REF:
        assert RUPTURE_TEXT not in text  # withheld by B's lockbox
    assert "split-alliance" not in text  # about both of them: shown to neither
    p.close()


def test_a_participants_own_lockbox_choice_does_not_bind_them(
    couple: tuple[Practice, str, dict[str, str]],
) -> None:
    p, ep, _ = couple
    b = Actor(B_REF, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
    assert RUPTURE_TEXT in _text(p.export_record(b, ep))
    assert p.export_record(Actor(A_REF, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS), ep).withheld is True


@pytest.mark.parametrize("read", sorted(set(PARTICIPANT_READS) - {"client_view"}))
def test_another_participants_directive_for_a_recipient_binds_a_participants_share(
    read: str, couple: tuple[Practice, str, dict[str, str]]
) -> None:
    """A withholds the goals from hospital-x: B's export to hospital-x, or to no one named (it could go
    anywhere), leaves them out as anyone else's would; B's export to another recipient and B's own view
    keep them, and so does A's own export (their choice is about others)."""
    p, ep, _ = couple
    a, b = (Actor(ref, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS) for ref in (A_REF, B_REF))
    p.set_lockbox(a, ep, scope="class", classes=["goals"], recipients=[TARGET], on=D)

    def share(actor: Actor, to: str | None) -> str:
        if read == "fhir_bundle":
            return _text(episode_bundle(p, actor, ep, purpose="client-access", recipient=to))
        return _text(getattr(p, read)(actor, ep, recipient=to))

    goal = "a goal of both"
    assert goal in share(b, OTHER)  # the check below can fail
    assert goal in _text(p.client_view(b, ep))
    assert goal in share(a, TARGET)
    assert goal not in share(b, TARGET)
    assert goal not in share(b, None)
    p.close()


def test_someone_outside_the_episode_reads_nothing(couple: tuple[Practice, str, dict[str, str]]) -> None:
    p, ep, _ = couple
    stranger = Actor("client-9", Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
    for read in PARTICIPANT_READS.values():
        with pytest.raises(AccessDenied):
            read(p, stranger, ep, Path())


# -- exports and a directive for one recipient ---------------------------------------------------------------

#: Whom the client withheld their sessions from, and someone else.
TARGET, OTHER = "hospital-x", "hospital-y"
EXPORTER = Actor("sup-1", Role.SUPERVISOR, CLINIC, Purpose.QUALITY_IMPROVEMENT)
PSEUDONYM_KEY = b"k" * 32
AUDITOR = Actor("adm-1", Role.ADMINISTRATOR, CLINIC)

#: An export of one episode, for a recipient (or none): its text. Made by the library or by the CLI (which
#: acts as a supervisor of the clinic), on the practice's file.
Export = Callable[[Practice, str, Path, Path, "str | None"], str]


def _py_bundle(bundle_type: str) -> Export:
    def export(p: Practice, ep: str, db: Path, tmp: Path, recipient: str | None) -> str:
        bundle = episode_bundle(
            p, EXPORTER, ep, purpose="quality-improvement", bundle_type=bundle_type, recipient=recipient
        )
        return _text(bundle)

    return export


def _py_bulk(p: Practice, ep: str, db: Path, tmp: Path, recipient: str | None) -> str:
    out = tmp / "bulk"
    export_ndjson(p, EXPORTER, out, purpose="quality-improvement", recipient=recipient)
    return "".join(f.read_text() for f in sorted(out.iterdir()))


def _py_csv(identified: bool) -> Export:
    def export(p: Practice, ep: str, db: Path, tmp: Path, recipient: str | None) -> str:
        out = tmp / "tables"
        key = None if identified else PSEUDONYM_KEY
        export_research(p, EXPORTER, out, key=key, identified=identified, recipient=recipient)
        return "".join(f.read_text() for f in sorted(out.iterdir()) if f.name != "data_dictionary.csv")

    return export


def _cli(*command: str, stdout: bool = False) -> Export:
    """``alliancekit export <command>`` on the practice's file, with ``--recipient`` when one is named."""

    def export(p: Practice, ep: str, db: Path, tmp: Path, recipient: str | None) -> str:
        p.close()
        out = tmp / "out"
        words = [w.replace("{ep}", ep).replace("{tmp}", str(tmp)) for w in command]
        named = [] if recipient is None else ["--recipient", recipient]
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            code = main(["export", *words, "--db", str(db), "--out", "-" if stdout else str(out), *named])
        assert code == 0
        if stdout:
            return printed.getvalue()
        files = sorted(out.iterdir()) if out.is_dir() else [out]
        return "".join(f.read_text() for f in files if f.name != "data_dictionary.csv")

    return export


#: Every export path, Python and CLI: each takes a recipient.
EXPORTS: dict[str, Export] = {
    "shared_record": lambda p, ep, db, tmp, to: _text(p.shared_record(EXPORTER, ep, recipient=to)),
    "export_record": lambda p, ep, db, tmp, to: _text(p.export_record(EXPORTER, ep, recipient=to)),
    "fhir_collection": _py_bundle("collection"),
    "fhir_batch": _py_bundle("batch"),
    "fhir_transaction": _py_bundle("transaction"),
    "fhir_ndjson": _py_bulk,
    "csv_identified": _py_csv(identified=True),
    "csv_de_identified": _py_csv(identified=False),
    "cli_fhir_collection": _cli("fhir", "--episode", "{ep}", "--purpose", "quality-improvement"),
    "cli_fhir_batch": _cli(
        "fhir", "--episode", "{ep}", "--type", "batch", "--purpose", "quality-improvement"
    ),
    "cli_fhir_transaction": _cli(
        "fhir", "--episode", "{ep}", "--type", "transaction", "--purpose", "quality-improvement"
    ),
    "cli_fhir_transactions_split": _cli(
        "fhir",
        "--episode",
        "{ep}",
        "--type",
        "transaction",
        "--max-entries",
        "2",
        "--purpose",
        "quality-improvement",
    ),
    "cli_fhir_bulk": _cli("fhir", "--all", "--purpose", "quality-improvement"),
    "cli_fhir_bulk_stdout": _cli("fhir", "--all", "--purpose", "quality-improvement", stdout=True),
    "cli_csv_identified": _cli("csv", "--identified"),
    "cli_csv_de_identified": _cli("csv", "--key-file", "{tmp}/key"),
}


@pytest.fixture
def withheld_from_target(tmp_path: Path) -> tuple[Practice, str, Path]:
    """The distinctive scores in a session, the sessions withheld from hospital-x alone."""
    db = tmp_path / "p.sqlite"
    setup = active_episode(_practice_on(tmp_path), text=CANARY)
    p, ep = setup.practice, setup.episode_id
    items = dict.fromkeys(("individually", "interpersonally", "socially", "overall"), LEVEL)
    p.record_session(
        OWN,
        ep,
        Session(
            held_on=D,
            modality="video",
            attendance="attended",
            administrations=(Administration("ors", "1.0", "start", items),),
        ),
    )
    p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], recipients=[TARGET], on=D)
    (tmp_path / "key").write_bytes(PSEUDONYM_KEY)
    return p, ep, db


@pytest.mark.parametrize("recipient", [None, TARGET, OTHER])
@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_an_export_is_withheld_for_its_recipient_and_one_naming_none_for_every_recipient(
    export: str, recipient: str | None, withheld_from_target: tuple[Practice, str, Path], tmp_path: Path
) -> None:
    """An export naming no recipient may go to hospital-x: what is withheld from them is withheld from it.
    Named, it is withheld for whom it names: for hospital-y the sessions are exported."""
    p, ep, db = withheld_from_target
    text = _INSTANT.sub("<instant>", EXPORTS[export](p, ep, db, tmp_path, recipient))
    if recipient == OTHER:
        assert SCORE in text  # the directive is not theirs: the score is exported (and the check can fail)
    else:
        assert SCORE not in text
    p.close()


@pytest.mark.parametrize("export", sorted(e for e in EXPORTS if not e.startswith("cli_")))
def test_an_export_is_withheld_for_whoever_makes_it_too(
    export: str, withheld_from_target: tuple[Practice, str, Path], tmp_path: Path
) -> None:
    """What is withheld from the supervisor is withheld from what they export, to whomever they name: the
    export comes back to them, so naming another recipient must not open what their own reads withhold."""
    p, ep, db = withheld_from_target
    assert SCORE in _INSTANT.sub("<instant>", EXPORTS[export](p, ep, db, tmp_path / "1", OTHER))  # can fail
    p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], recipients=[EXPORTER.id], on=D)
    assert SCORE not in _text(p.timeline(EXPORTER, ep))
    text = _INSTANT.sub("<instant>", EXPORTS[export](p, ep, db, tmp_path / "2", OTHER))
    assert SCORE not in text
    p.close()


@pytest.mark.parametrize("recipient", [None, TARGET])
@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_the_audit_entry_of_every_export_names_its_recipient(
    export: str, recipient: str | None, withheld_from_target: tuple[Practice, str, Path], tmp_path: Path
) -> None:
    """An accounting of disclosures says to whom: each export's entry for the episode names the recipient,
    or ``(unnamed)`` when none was named; the log still verifies (the recipient is hashed with the entry)."""
    p, ep, db = withheld_from_target
    before = {e.entry_id for e in p.audit_entries(AUDITOR)}
    EXPORTS[export](p, ep, db, tmp_path, recipient)
    p.close()
    with open_practice(db) as again:
        written = [e for e in again.audit_entries(AUDITOR) if e.entry_id not in before]
        report = again.verify(AUDITOR)
    disclosures = [e for e in written if e.record_type == "episode"]
    assert [e.record_id for e in disclosures] == [ep]
    assert disclosures[0].action.startswith("export")
    assert disclosures[0].recipient == (recipient or "(unnamed)")
    # what else the export wrote (the CLI's listing of the clinic's episodes) discloses nothing
    assert all(e.recipient == "" for e in written if e.record_type != "episode")
    assert report.ok, report.describe()


@pytest.mark.parametrize("export", sorted(e for e in EXPORTS if not e.startswith("cli_")))
def test_an_export_refuses_a_recipient_that_is_not_an_id_and_writes_nothing(
    export: str, withheld_from_target: tuple[Practice, str, Path], tmp_path: Path
) -> None:
    p, ep, db = withheld_from_target
    audited = len(p.audit_entries(AUDITOR))
    with pytest.raises(ValidationError) as refused:
        EXPORTS[export](p, ep, db, tmp_path, " hospital-x")
    assert (refused.value.field, refused.value.rule) == ("recipient", "whitespace")
    assert not (tmp_path / "bulk").exists()
    assert not (tmp_path / "tables").exists()
    # the auditor's own read of the log is its only new entry
    assert len(p.audit_entries(AUDITOR)) == audited + 1
    p.close()


@pytest.mark.parametrize("command", [["fhir", "--all"], ["csv", "--identified"]])
def test_the_cli_refuses_a_recipient_that_is_not_an_id(
    command: list[str], withheld_from_target: tuple[Practice, str, Path], tmp_path: Path
) -> None:
    p, _, db = withheld_from_target
    p.close()
    out = tmp_path / "out"
    with contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["export", *command, "--db", str(db), "--out", str(out), "--recipient", " hospital-x"])
    assert code != 0
    assert "recipient" in err.getvalue()
    assert "hospital-x" not in err.getvalue()  # the value is not echoed
    assert not out.exists()
