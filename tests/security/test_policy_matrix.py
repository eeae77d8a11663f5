"""Role x operation x record type: every public call of the facade, allowed or refused as the default
policy says, every refusal raised as AccessDenied and audited."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Practice, hookimpl
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    GoalRevision,
    GroupSession,
    MemberAttendance,
    Participant,
    RepairAttempt,
    Review,
    Role,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import RepairStrategy, RuptureCause, RuptureKind, RuptureMarker
from alliancekit.errors import AccessDenied, AlliancekitError, NotFoundError
from alliancekit.feedback.reports import attention_list, practice_outcomes, progress_chart, render_report
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.imports import ImportCheckpoint
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.security.policy import AccessRequest, Decision, DefaultPolicy
from alliancekit.store.memory import MemoryStore

from .helpers import (
    CLIENT,
    CLINIC,
    COFACILITATED_GROUP,
    FACILITATORS,
    PARTNER,
    Setup,
    active_episode,
    actor,
)

D = date(2026, 1, 19)
SESSION = Session(held_on=D, modality="video", attendance="attended")
GROUP_SESSION_ID = "gs-1"
#: A member's part of a group session, and its correction (another modality) keeping the group session.
GROUP_PART = attrs.evolve(SESSION, group_session_id=GROUP_SESSION_ID)
GROUP_PART_CORRECTED = attrs.evolve(GROUP_PART, modality="phone")

Op = Callable[[Practice, Any, Setup], object]

# operation -> (record type, call, the actor kinds the default policy allows)
CLIN = {"clin_own"}
CLIN_AND_COFACILITATOR = {"clin_own", "clin_cofacilitator"}
READERS = {"clin_own", "supervisor"}
OPERATIONS: dict[str, tuple[str, Op, set[str]]] = {
    "start_episode": (
        "episode",
        lambda p, a, s: p.start_episode(a, client_ref="client-9", clinician_id="clin-a", opened_on=D),
        {"clin_own", "clin_elsewhere"},
    ),
    "record_consultation": (
        "episode",
        lambda p, a, s: p.record_consultation(a, s.episode_id, _consultation()),
        CLIN,
    ),
    "decide_fit": (
        "episode",
        lambda p, a, s: p.decide_fit(a, s.episode_id, FitDecision(outcome="proceed", decided_on=D)),
        CLIN,
    ),
    "agree_goals": (
        "goal",
        lambda p, a, s: p.agree_goals(a, s.episode_id, [GoalDraft("g")], agreed_on=D),
        CLIN,
    ),
    "revise_goal": (
        "goal",
        lambda p, a, s: p.revise_goal(a, s.episode_id, GoalRevision(s.goal_id, reason="r"), revised_on=D),
        CLIN,
    ),
    "record_session": ("session", lambda p, a, s: p.record_session(a, s.episode_id, SESSION), CLIN),
    "correct_session": (
        "session",
        lambda p, a, s: p.correct_session(
            a,
            s.episode_id,
            s.session_id,
            Session(held_on=date(2026, 1, 12), modality="phone", attendance="attended"),
            reason="typo",
        ),
        CLIN,
    ),
    # A group's co-facilitator writes parts of the group's sessions only: not an individual session, nor a
    # correction that adds, drops or changes the group session of the session it corrects. A group session
    # is made by record_group_session only: a plain record_session naming one, made up ("gs-1") or made by
    # record_group_session, is the clinician of record's alone.
    "record_session_made_up_group_part": (
        "session",
        lambda p, a, s: p.record_session(a, _in_group(p, s), GROUP_PART),
        CLIN,
    ),
    "record_session_group_part": (
        "session",
        lambda p, a, s: p.record_session(
            a, _in_group(p, s), attrs.evolve(GROUP_PART, group_session_id=_group_session(p, s))
        ),
        CLIN,
    ),
    "correct_session_group_part": (
        "session",
        lambda p, a, s: _correcting_made_part(p, a, s),
        CLIN_AND_COFACILITATOR,
    ),
    "correct_session_hand_written_group_part": (
        "session",
        lambda p, a, s: p.correct_session(
            a, s.episode_id, _group_part(p, s), GROUP_PART_CORRECTED, reason="r"
        ),
        CLIN,
    ),
    "correct_session_dropping_group": (
        "session",
        lambda p, a, s: p.correct_session(
            a,
            s.episode_id,
            _group_part(p, s),
            attrs.evolve(GROUP_PART_CORRECTED, group_session_id=None),
            reason="r",
        ),
        CLIN,
    ),
    "correct_session_adding_group": (
        "session",
        lambda p, a, s: p.correct_session(
            a,
            _in_group(p, s),
            s.session_id,
            attrs.evolve(GROUP_PART_CORRECTED, held_on=date(2026, 1, 12)),
            reason="r",
        ),
        CLIN,
    ),
    "correct_session_moving_group": (
        "session",
        lambda p, a, s: p.correct_session(
            a,
            s.episode_id,
            _group_part(p, s),
            attrs.evolve(GROUP_PART_CORRECTED, group_session_id="gs-2"),
            reason="r",
        ),
        CLIN,
    ),
    "add_addendum": (
        "session",
        lambda p, a, s: p.add_addendum(a, s.episode_id, s.session_id, text="t", reason="r", added_on=D),
        CLIN,
    ),
    "record_review": (
        "review",
        lambda p, a, s: p.record_review(a, s.episode_id, Review(held_on=D, decision="continue")),
        CLIN,
    ),
    "note_rupture": (
        "rupture",
        lambda p, a, s: p.note_rupture(
            a,
            s.episode_id,
            RuptureNote(
                noted_on=D,
                kind=RuptureKind.WITHDRAWAL,
                markers=(RuptureMarker.DENIAL,),
                likely_cause=RuptureCause.OTHER,
            ),
        ),
        CLIN,
    ),
    "record_repair": (
        "rupture",
        lambda p, a, s: p.record_repair(
            a,
            s.episode_id,
            s.rupture_id,
            RepairAttempt(attempted_on=D, strategies=(RepairStrategy.GIVE_RATIONALE,), resolved=True),
        ),
        CLIN,
    ),
    "put_on_hold": ("episode", lambda p, a, s: p.put_on_hold(a, s.episode_id, on=D, reason="r"), CLIN),
    "resume": ("episode", lambda p, a, s: p.resume(a, s.episode_id, on=D), CLIN),
    "transfer": (
        "episode",
        lambda p, a, s: p.transfer(a, s.episode_id, to_clinician_id="clin-c", on=D, reason="r"),
        CLIN,
    ),
    "plan_ending": ("episode", lambda p, a, s: p.plan_ending(a, s.episode_id, on=D), CLIN),
    "close_episode": (
        "episode",
        lambda p, a, s: p.close_episode(a, s.episode_id, Ending(ended_on=D, planned=False, reason="dropout")),
        CLIN,
    ),
    "add_participant": (
        "episode",
        lambda p, a, s: p.add_participant(
            a, s.episode_id, Participant("client-4", "parent", Consent(True, True)), added_on=D
        ),
        CLIN,
    ),
    "join_group": (
        "episode",
        lambda p, a, s: p.join_group(
            a, s.episode_id, group_id="g-1", facilitator_ids=("clin-a",), joined_on=D
        ),
        CLIN,
    ),
    # The episode is in no group (but for the co-facilitator's cell): the policy allows its clinician, then
    # the membership check refuses.
    "record_group_session": (
        "session",
        lambda p, a, s: p.record_group_session(
            a, "g-1", GroupSession(D, "in-person", (MemberAttendance(s.episode_id, "attended"),))
        ),
        CLIN_AND_COFACILITATOR,
    ),
    "record_process_note": (
        "process-note",
        lambda p, a, s: p.record_process_note(a, s.episode_id, written_on=D, text="t"),
        CLIN,
    ),
    "process_notes": (
        "process-note",
        lambda p, a, s: p.process_notes(a, s.episode_id),
        {"clin_own", "clin_other", "clin_emergency"},
    ),
    "attach_disagreement": (
        "statement",
        lambda p, a, s: p.attach_disagreement(
            a, s.episode_id, s.session_event_id, statement="s", received_on=D
        ),
        {"clin_own", "client_own"},
    ),
    "set_lockbox": (
        "lockbox",
        lambda p, a, s: p.set_lockbox(a, s.episode_id, scope="class", classes=["ruptures"], on=D),
        {"clin_own", "client_own"},
    ),
    "lift_lockbox": (
        "lockbox",
        lambda p, a, s: p.lift_lockbox(a, s.episode_id, "no-such-directive", on=D),
        {"clin_own", "client_own"},
    ),
    "set_protocol": ("episode", lambda p, a, s: p.set_protocol(a, s.episode_id, "fit", on=D), CLIN),
    "change_population": (
        "episode",
        lambda p, a, s: p.change_population(a, s.episode_id, "adolescent", on=D),
        CLIN,
    ),
    "change_measures_consent": (
        "episode",
        lambda p, a, s: p.change_measures_consent(a, s.episode_id, False, on=D),
        CLIN,
    ),
    "due_measures": ("episode", lambda p, a, s: p.due_measures(a, s.episode_id), READERS),
    "episode": ("episode", lambda p, a, s: p.episode(a, s.episode_id), READERS),
    "timeline": ("episode", lambda p, a, s: p.timeline(a, s.episode_id), READERS),
    "session_history": (
        "session",
        lambda p, a, s: p.session_history(a, s.episode_id, s.session_id),
        READERS,
    ),
    "caseload": (
        "caseload",
        lambda p, a, s: p.caseload(a),
        {"clin_own", "clin_other", "clin_elsewhere", "clin_emergency", "supervisor"},
    ),
    "caseload_of_another": (
        "caseload",
        lambda p, a, s: p.caseload(a, clinician_id="clin-a"),
        {"clin_own", "clin_elsewhere", "supervisor"},
    ),
    "client_view": (
        "client-view",
        lambda p, a, s: p.client_view(a, s.episode_id),
        {"clin_own", "client_own"},
    ),
    "shared_record": (
        "export",
        lambda p, a, s: p.shared_record(a, s.episode_id, recipient="hospital-x"),
        {"clin_own", "supervisor", "system", "client_own"},
    ),
    "shared_record_override": (
        "export",
        lambda p, a, s: p.shared_record(a, s.episode_id, override_reason="court order"),
        {"clin_own", "supervisor"},
    ),
    "export_record": (
        "export",
        lambda p, a, s: p.export_record(a, s.episode_id),
        {"clin_own", "supervisor", "system", "client_own"},
    ),
    "episode_ids": (
        "caseload",
        lambda p, a, s: p.episode_ids(a),
        {"clin_own", "clin_other", "clin_elsewhere", "clin_emergency", "supervisor"},
    ),
    "break_glass": (
        "episode",
        lambda p, a, s: p.break_glass(a, s.episode_id, reason="client in crisis at the front desk"),
        {"clin_emergency"},
    ),
    "rebuild_state": ("episode", lambda p, a, s: p.rebuild_state(a, s.episode_id), {"clin_own", "system"}),
    # Alerts: an unknown alert id is refused by the lifecycle after the policy has allowed the call.
    "acknowledge_alert": (
        "alert",
        lambda p, a, s: p.acknowledge_alert(a, s.episode_id, "alert-x", on=D),
        {"clin_own", "supervisor"},
    ),
    "resolve_alert": (
        "alert",
        lambda p, a, s: p.resolve_alert(a, s.episode_id, "alert-x", note="done", on=D),
        {"clin_own", "supervisor"},
    ),
    "alerts": ("episode", lambda p, a, s: p.alerts(a, s.episode_id), READERS),
    "closed_outcomes": ("practice", lambda p, a, s: p.closed_outcomes(a), {"supervisor"}),
    "audit_entries": ("audit", lambda p, a, s: p.audit_entries(a, client_ref=CLIENT), {"admin"}),
    "verify": ("audit", lambda p, a, s: p.verify(a), {"admin"}),
    "verify_audit": ("audit", lambda p, a, s: p.verify_audit(a), {"admin"}),
    "audit_checkpoint": ("audit", lambda p, a, s: p.audit_checkpoint(a), {"admin", "system"}),
    "rotate_encryption": ("keys", lambda p, a, s: p.rotate_encryption(a), {"admin", "system"}),
    "back_up": ("store", lambda p, a, s: p.back_up(a, "never-written.sqlite"), {"admin", "system"}),
    # a store that also holds another clinic's records: the system's to back up, not a clinic's admin's
    "back_up_of_another": ("store", lambda p, a, s: p.back_up(a, _with_another_clinic(p)), {"system"}),
    "refit_expectations": (
        "expectation-model",
        lambda p, a, s: p.refit_expectations(a),
        {"admin", "system"},
    ),
    "mark_demo": ("practice-meta", lambda p, a, s: p.mark_demo(a), {"admin", "system"}),
    # Published measure definitions, no client data: any actor reads them (audited); only no actor is refused.
    "measure_definitions": (
        "measure-definitions",
        lambda p, a, s: p.measure_definitions(a),
        {
            "clin_own",
            "clin_other",
            "clin_elsewhere",
            "clin_emergency",
            "supervisor",
            "admin",
            "client_own",
            "client_other",
            "system",
        },
    ),
    "request_administration": (
        "episode",
        lambda p, a, s: p.request_administration(a, s.episode_id, measure="phq-9"),
        CLIN,
    ),
    "kiosk_code": ("episode", lambda p, a, s: p.kiosk_code(a, s.episode_id, measure="phq-9"), CLIN),
    "revoke_request": (
        "episode",
        lambda p, a, s: p.revoke_request(a, s.episode_id, _requested(p, s).request_id),
        CLIN,
    ),
    "record_client_response": (
        "episode",
        lambda p, a, s: p.record_client_response(
            a,
            s.episode_id,
            Administration("phq-9", "1.0", "start", {f"q{i}": 1 for i in range(1, 10)}),
            responded_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        ),
        CLIN,
    ),
    # The facade's submit_response runs this command as the request's client; here it runs as each actor,
    # so least privilege is tested: only the episode's own client (or a participant) may answer.
    "submit_response": ("episode", lambda p, a, s: _submit_as(p, a, s), {"client_own"}),
    "import_checkpoint": (
        "import-checkpoint",
        lambda p, a, s: p.import_checkpoint(a, "history.csv"),
        {"admin", "system"},
    ),
    # whether a key holds a request is an answer about the record: decided as the command itself
    "imported_command": (
        "episode",
        lambda p, a, s: p.imported_command(
            a,
            "record_session",
            {"session": SESSION},
            idempotency_key="import-key",
            episode_id=s.episode_id,
        ),
        CLIN,
    ),
    "save_import_checkpoint": (
        "import-checkpoint",
        lambda p, a, s: p.save_import_checkpoint(a, "history.csv", ImportCheckpoint(12, "import-key")),
        {"admin", "system"},
    ),
}


def _in_group(p: Practice, s: Setup) -> str:
    """The episode, in the group clin-a facilitates with clin-f (joined by clin-a if it is not yet)."""
    me = actor("clin_own")
    if p.episode(me, s.episode_id).group_id is None:
        p.join_group(
            me, s.episode_id, group_id=COFACILITATED_GROUP, facilitator_ids=FACILITATORS, joined_on=D
        )
    return s.episode_id


def _group_session(p: Practice, s: Setup) -> str:
    """The id of a group session of the episode's group, made by clin-a (with only this member)."""
    members = (MemberAttendance(_in_group(p, s), "attended"),)
    made = p.record_group_session(actor("clin_own"), COFACILITATED_GROUP, GroupSession(D, "video", members))
    return made.group_session_id


def _correcting_made_part(p: Practice, a: Any, s: Setup) -> object:
    """A correction (keeping its group session) of the episode's part of a group session clin-a made."""
    members = (MemberAttendance(_in_group(p, s), "attended"),)
    made = p.record_group_session(actor("clin_own"), COFACILITATED_GROUP, GroupSession(D, "video", members))
    (part,) = made.sessions
    assert part.record_id is not None
    change = attrs.evolve(GROUP_PART_CORRECTED, group_session_id=made.group_session_id)
    return p.correct_session(a, s.episode_id, part.record_id, change, reason="r")


def _group_part(p: Practice, s: Setup) -> str:
    """The id of the episode's session that clin-a recorded with a group session id written by hand (a
    plain record_session): no group session's part, as far as the library knows."""
    recorded = p.record_session(actor("clin_own"), _in_group(p, s), GROUP_PART)
    assert recorded.record_id is not None
    return recorded.record_id


def _with_another_clinic(p: Practice) -> str:
    """The copy's name, once the store holds an episode of clinic c2 too."""
    elsewhere = actor("clin_elsewhere")
    p.start_episode(elsewhere, client_ref="client-c2", clinician_id="clin-a", opened_on=D)
    return "never-written.sqlite"


def _requested(p: Practice, s: Setup) -> Any:
    return p.request_administration(actor("clin_own"), s.episode_id, measure="phq-9")


def _submit_as(p: Practice, a: Any, s: Setup) -> object:
    from alliancekit.core.command_table import COMMANDS

    record = p.store.get_request(CLINIC, _requested(p, s).request_id)  # type: ignore[attr-defined]
    answers = Administration("phq-9", "1.0", "start", {f"q{i}": 1 for i in range(1, 10)})
    return p._runner.run(
        COMMANDS["submit_response"],
        a,
        s.episode_id,
        {"request": record, "administration": answers},
        private={"now": p._s.clock()},
    )


#: Exports and reports read through the facade: the same policy decides them.
OPERATIONS.update(
    {
        "fhir_bundle": (
            "export",
            lambda p, a, s: episode_bundle(p, a, s.episode_id, purpose="treatment"),
            {"clin_own", "supervisor", "client_own"},
        ),
        "fhir_bulk": (
            "export",
            lambda p, a, s: export_ndjson(p, a, Path(tempfile.mkdtemp()) / "bulk", purpose="treatment"),
            {"clin_own", "clin_other", "clin_elsewhere", "clin_emergency", "supervisor"},
        ),
        "html_report": ("report", lambda p, a, s: render_report(p, a), {"supervisor"}),
        "attention_list": (
            "report",
            lambda p, a, s: attention_list(p, a),
            {"clin_own", "clin_other", "clin_elsewhere", "clin_emergency", "supervisor"},
        ),
        "practice_outcomes": ("report", lambda p, a, s: practice_outcomes(p, a), {"supervisor"}),
        "progress_chart": ("report", lambda p, a, s: progress_chart(p, a, s.episode_id), READERS),
    }
)
#: Not facade methods: the matrix's completeness check skips them.
EXPORTS_AND_REPORTS = {
    "fhir_bundle",
    "fhir_bulk",
    "html_report",
    "attention_list",
    "practice_outcomes",
    "progress_chart",
}

# Another participant of the episode (a partner) may do what its identified client may: every call is
# decided on the same record, and what the two may see of each other is the participant matrix's business
# (test_lockbox_matrix.py).
for _record_type, _call, _allowed in OPERATIONS.values():
    if "client_own" in _allowed:
        _allowed.add("client_partner")
# A group's co-facilitator is, outside the group's sessions, a clinician of the clinic without the episode
# on their caseload.
for _record_type, _call, _allowed in OPERATIONS.values():
    if "clin_other" in _allowed:
        _allowed.add("clin_cofacilitator")

KINDS = [
    "clin_own",
    "clin_other",
    "clin_cofacilitator",
    "clin_elsewhere",
    "clin_emergency",
    "supervisor",
    "admin",
    "client_own",
    "client_other",
    "client_partner",
    "system",
    "none",
]


def _consultation() -> Consultation:

    return Consultation(held_on=D, modality="video", consent=Consent(treatment=True, measures=True))


def _refusals(p: Practice) -> list[Any]:
    return [r for r in p.store.audit_records() if r.outcome in ("refused", "not-found")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_role_operation_matrix(operation: str, kind: str) -> None:
    record_type, call, allowed = OPERATIONS[operation]
    setup = active_episode()
    p = setup.practice
    if kind == "client_partner":
        partner = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
        p.add_participant(actor("clin_own"), setup.episode_id, partner, added_on=D)
    if kind == "clin_cofacilitator":
        _in_group(p, setup)
    before = len(_refusals(p))
    who = actor(kind)
    if kind in allowed:
        missing = None
        try:
            call(p, who, setup)
        except AccessDenied:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"{kind} refused {operation} on a {record_type}")
        except NotFoundError as error:
            missing = error.kind
        except AlliancekitError:
            pass  # allowed by the policy, then refused by a lifecycle or input rule
        if missing is None:
            assert len(_refusals(p)) == before
        else:  # allowed, then a record of the episode it names not found: its entry (unknown_record_audit)
            assert missing != "episode"
            assert [r.record_type for r in _refusals(p)[before:]] == [missing]
    elif who is not None and who.clinic_id != CLINIC:
        # Refused as it is refused on an id that names no episode: no one learns which ids another clinic
        # holds (a reach into another clinic's episode is a NotFoundError, as on a store of one clinic).
        with pytest.raises((AccessDenied, NotFoundError)) as refused:
            call(p, who, setup)
        refusals = _refusals(p)
        assert len(refusals) == before + 1, f"{kind} refused {operation} without an audit entry"
        assert refusals[-1].actor_id == who.id
        # filed in the actor's clinic's log, which must not name this clinic's client
        assert (refusals[-1].clinic_id, refusals[-1].client_ref) == (who.clinic_id, "")
        with pytest.raises(AlliancekitError) as unknown:
            call(p, who, attrs.evolve(setup, episode_id="0" * 32))
        assert (type(refused.value), str(refused.value)) == (type(unknown.value), str(unknown.value))
    else:
        with pytest.raises(AccessDenied) as refused:
            call(p, who, setup)
        refusals = _refusals(p)
        assert len(refusals) == before + 1, f"{kind} refused {operation} without an audit entry"
        assert refusals[-1].actor_id == (who.id if who is not None else "(none)")
        assert refusals[-1].action == refused.value.action


#: The outbox worker's calls take no actor, write no audit entry and are practice-wide: they run in the host's
#: delivery worker, read and write only outbox rows and no episode, and return references and alert codes,
#: never clinical content (tests/notify/test_canary.py) nor a request's link, token or kiosk code
#: (tests/notify/test_outbox_links.py); docs/reference/security.md states the exemption.
OUTBOX_WORKER_CALLS = {
    "dispatch_pending",
    "run_dispatcher",
    "dispatcher",
    "outbox_status",
    "outbox_records",
    "retry_message",
}
#: Calls that read nothing of any client: the clinic ids in the store (a CLI chooses its clinic by them),
#: a clinic's date now (the clock in the clinic's configured time zone), the practice's clock (``now``),
#: the scope whose reads are audited in batches (each read in it is decided as everywhere else), and
#: whether the demo mark is there; the batch path's scope (each command in it is decided as on the
#: facade: the batch tests check it).
NO_CLIENT_DATA = {"clinics", "clinic_today", "now", "batched_reads", "is_demo", "batch"}
#: The client's calls through a token or a kiosk code take no actor: the token names the request and the
#: library acts as its client (submit_response is in the matrix as its command, run as every actor).
TOKEN_CALLS = {"open_request", "redeem_kiosk_code"}


#: The calls that end a practice rather than read or change a record.
CLOSING = {"close", "discard"}


def test_every_public_call_is_in_the_matrix() -> None:
    public = (
        {
            name
            for name in dir(Practice)
            # closing (and discard, which closes a practice cut short, removing what its opening created)
            if not name.startswith("_") and callable(getattr(Practice, name)) and name not in CLOSING
        }
        - OUTBOX_WORKER_CALLS
        - NO_CLIENT_DATA
        - TOKEN_CALLS
    )
    covered = {name.removesuffix("_of_another").removesuffix("_override") for name in OPERATIONS}
    covered -= EXPORTS_AND_REPORTS
    assert public <= covered, public - covered


#: The bullet of docs/reference/security.md that states the worker exemption.
WORKER_BULLET = "- **The outbox worker's calls take no actor and show references and codes only.**"


def worker_exemption_text() -> str:
    """That bullet's text: the exemption and the calls it names."""
    text = (Path(__file__).parents[2] / "docs" / "reference" / "security.md").read_text(encoding="utf-8")
    start = text.index(WORKER_BULLET)
    return text[start : text.index("\n- ", start + 1)]


def test_the_worker_exemption_names_every_worker_call() -> None:
    bullet = worker_exemption_text()
    assert all(f"`{name}`" in bullet for name in OUTBOX_WORKER_CALLS), bullet
    assert "return no link, token or kiosk code" in " ".join(bullet.split())


def test_every_command_of_the_command_table_is_in_the_matrix() -> None:
    from alliancekit.core.command_table import COMMANDS

    assert set(COMMANDS) <= set(OPERATIONS), set(COMMANDS) - set(OPERATIONS)


def test_allowed_calls_really_succeed_for_the_treating_clinician() -> None:
    setup = active_episode()
    p, me = setup.practice, actor("clin_own")
    assert p.episode(me, setup.episode_id).stage.value == "active"
    assert len(p.process_notes(me, setup.episode_id)) == 1
    assert p.process_notes(actor("clin_other"), setup.episode_id) == []


def test_a_call_without_an_actor_reads_nothing() -> None:
    class Spy(MemoryStore):
        reads = 0

        def load_snapshot(self, episode_id: str) -> Any:
            Spy.reads += 1
            return super().load_snapshot(episode_id)

    store = Spy()
    setup = active_episode(Practice(store))
    Spy.reads = 0
    for operation in ("episode", "timeline", "record_session", "client_view"):
        with pytest.raises(AccessDenied):
            OPERATIONS[operation][1](setup.practice, None, setup)
    assert Spy.reads == 0


def test_reads_are_audited_before_the_data_is_returned() -> None:
    setup = active_episode()
    p, me = setup.practice, actor("clin_own")
    before = set(p.store.audit_records())  # listed by shard: the new entry is the one not there before
    p.timeline(me, setup.episode_id)
    [last] = [r for r in p.store.audit_records() if r not in before]
    assert (last.action, last.outcome, last.client_ref) == ("read-timeline", "allowed", CLIENT)


def test_a_failed_audit_write_fails_the_read() -> None:
    from alliancekit.errors import StoreError

    class Broken(MemoryStore):
        broken = False

        def append_audit(self, records: Any) -> None:
            if self.broken:
                raise StoreError("audit unavailable")
            super().append_audit(records)

    store = Broken()
    setup = active_episode(Practice(store))
    store.broken = True
    with pytest.raises(StoreError):
        setup.practice.episode(actor("clin_own"), setup.episode_id)


def test_break_glass_is_audited_with_its_reason() -> None:
    setup = active_episode()
    p = setup.practice
    p.break_glass(actor("clin_emergency"), setup.episode_id, reason="crisis call")
    entry = p.store.audit_records()[-1]
    assert (entry.outcome, entry.detail, entry.actor_id) == ("break-glass", "crisis call", "clin-b")
    with pytest.raises(AlliancekitError):
        p.break_glass(actor("clin_emergency"), setup.episode_id, reason="  ")


def test_supervisor_team_limits_reads() -> None:
    policy = DefaultPolicy(teams={"sup-1": frozenset({"clin-b"})})
    setup = active_episode(policy=policy)
    with pytest.raises(AccessDenied):
        setup.practice.episode(actor("supervisor"), setup.episode_id)
    assert setup.practice.caseload(actor("supervisor"), clinician_id="clin-b") == []


class OnlyClientsPolicy:
    """A plugin's policy: every call is refused except a client's own view."""

    def decide(self, request: AccessRequest) -> Decision:
        if request.actor.role is Role.CLIENT:
            return Decision.allow()
        return Decision.refuse("this clinic's policy refuses it")


def test_alliancekit_access_policy_hook_supplies_the_policy() -> None:
    class Plugin:
        @hookimpl
        def alliancekit_access_policy(self) -> OnlyClientsPolicy:
            return OnlyClientsPolicy()

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Plugin()])
    setup = active_episode(Practice(MemoryStore(), plugins=make_plugin_host(load_entry_points=False)))
    p = Practice(setup.practice.store, plugins=host)
    assert isinstance(p.policy, OnlyClientsPolicy)
    with pytest.raises(AccessDenied, match="this clinic's policy refuses it"):
        p.episode(actor("clin_own"), setup.episode_id)
    assert p.client_view(actor("client_own"), setup.episode_id).episode_id == setup.episode_id
    # an explicit policy takes precedence over the plugin's
    explicit = Practice(setup.practice.store, plugins=host, policy=DefaultPolicy())
    assert explicit.episode(actor("clin_own"), setup.episode_id).client_ref == CLIENT


def test_alliancekit_access_policy_without_decide_is_a_plugin_error() -> None:
    from alliancekit.errors import PluginError

    class Bad:
        @hookimpl
        def alliancekit_access_policy(self) -> object:
            return object()

    with pytest.raises(PluginError):
        Practice(MemoryStore(), plugins=make_plugin_host(load_entry_points=False, extra_plugins=[Bad()]))


def test_refusal_messages_name_the_action_and_a_fixed_reason() -> None:
    setup = active_episode()
    with pytest.raises(AccessDenied) as refused:
        setup.practice.timeline(Actor("clin-b", Role.CLINICIAN, "c1"), setup.episode_id)
    assert str(refused.value) == "read-timeline: the episode is not on this clinician's caseload"


def test_a_write_is_checked_again_on_the_state_it_is_decided_on() -> None:
    """Another process transfers the episode away; this practice's cached state still says it is ours."""
    setup = active_episode()
    store = setup.practice.store
    mine = Practice(store)
    me = actor("clin_own")
    mine.episode(me, setup.episode_id)  # cache the state
    other = Practice(store)
    other.transfer(me, setup.episode_id, to_clinician_id="clin-b", on=D, reason="leave")
    with pytest.raises(AccessDenied):
        mine.record_session(me, setup.episode_id, SESSION)


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [
        ("clin_own", True),
        ("clin_other", False),
        ("supervisor", True),
        ("admin", False),
        ("client_own", False),
    ],
)
def test_acknowledging_alerts_is_for_the_clinician_and_the_supervisor(kind: str, allowed: bool) -> None:
    setup = active_episode()
    who = actor(kind)
    assert who is not None
    request = AccessRequest(
        who, "acknowledge-alert", "alert", "a1", setup.practice.episode(actor("clin_own"), setup.episode_id)
    )
    assert DefaultPolicy().decide(request).allowed is allowed


def test_a_missing_actor_is_both_a_refusal_and_invalid_input() -> None:
    from alliancekit.errors import MissingActor, ValidationError

    setup = active_episode()
    with pytest.raises(MissingActor) as caught:
        setup.practice.timeline(None, setup.episode_id)  # type: ignore[arg-type]
    assert isinstance(caught.value, AccessDenied)
    assert isinstance(caught.value, ValidationError)
    assert (caught.value.field, caught.value.rule, caught.value.action) == (
        "actor",
        "required",
        "read-timeline",
    )


# -- a group's co-facilitator writes the group's sessions only --------------------------------------------


def _cofacilitated() -> tuple[Setup, Actor, Actor]:
    setup = active_episode()
    _in_group(setup.practice, setup)
    me, co = actor("clin_own"), actor("clin_cofacilitator")
    assert me is not None
    assert co is not None
    return setup, me, co


def _cofacilitators_part(p: Practice, co: Actor, ep: str) -> tuple[str, str]:
    """The group session the co-facilitator records (with this member only), and the member's part."""
    members = (MemberAttendance(ep, "attended"),)
    made = p.record_group_session(co, COFACILITATED_GROUP, GroupSession(D, "video", members))
    (part,) = made.sessions
    assert part.record_id is not None
    return made.group_session_id, part.record_id


def test_a_cofacilitator_writes_the_groups_sessions_and_not_the_clinicians_own() -> None:
    setup, me, co = _cofacilitated()
    p, ep = setup.practice, setup.episode_id
    group_session, part = _cofacilitators_part(p, co, ep)
    change = attrs.evolve(GROUP_PART_CORRECTED, group_session_id=group_session)
    corrected = p.correct_session(co, ep, part, change, reason="modality")
    assert corrected.record_id == part
    before = len(_refusals(p))
    with pytest.raises(AccessDenied) as refused:
        p.record_session(co, ep, SESSION)
    assert (
        str(refused.value)
        == "record-session: a group's co-facilitator writes only parts of the group's sessions"
    )
    # clin-a's own session: neither recorded nor corrected by the co-facilitator, its scores as they were
    with pytest.raises(AccessDenied, match="only parts of the group's sessions"):
        p.correct_session(
            co, ep, setup.session_id, attrs.evolve(SESSION, held_on=date(2026, 1, 12)), reason="r"
        )
    refusals = _refusals(p)[before:]
    assert [(r.actor_id, r.action, r.record_id) for r in refusals] == [
        ("clin-f", "record-session", ep),
        ("clin-f", "correct-session", ep),
    ]
    assert p.session_history(me, ep, setup.session_id).corrections == ()
    assert p.episode(me, ep).sessions_attended == 2  # the individual one and the group part
    # the clinician of record still writes both kinds
    p.record_session(me, ep, SESSION)
    p.correct_session(me, ep, part, GROUP_PART, reason="back to video")


def test_a_cofacilitator_follows_the_session_as_it_stands_not_as_first_recorded() -> None:
    """clin-a takes a part out of the group session: the co-facilitator may not put it back."""
    setup, me, co = _cofacilitated()
    p, ep = setup.practice, setup.episode_id
    part = p.record_session(me, ep, GROUP_PART)
    p.correct_session(me, ep, part.record_id, attrs.evolve(GROUP_PART, group_session_id=None), reason="r")
    with pytest.raises(AccessDenied):
        p.correct_session(co, ep, part.record_id, GROUP_PART, reason="r")
    assert len(p.session_history(me, ep, part.record_id).corrections) == 1


def test_the_batch_path_decides_a_cofacilitators_writes_the_same_way() -> None:
    setup, me, co = _cofacilitated()
    p, ep = setup.practice, setup.episode_id
    group_session, part = _cofacilitators_part(p, co, ep)  # a batch has no record_group_session
    change = attrs.evolve(GROUP_PART_CORRECTED, group_session_id=group_session)
    with p.batch() as batch:
        batch.correct_session(co, ep, part, change, reason="r")
        with pytest.raises(AccessDenied):
            batch.record_session(co, ep, SESSION)
        with pytest.raises(AccessDenied):  # a made-up group session
            batch.record_session(co, ep, GROUP_PART)
        with pytest.raises(AccessDenied):  # a real one, named by a plain record_session
            batch.record_session(co, ep, attrs.evolve(GROUP_PART, group_session_id=group_session))
        with pytest.raises(AccessDenied):
            batch.correct_session(co, ep, setup.session_id, GROUP_PART_CORRECTED, reason="r")
        # a correction held in the batch counts: the part is individual once clin-a's correction is decided
        batch.correct_session(me, ep, part, attrs.evolve(change, group_session_id=None), reason="r")
        with pytest.raises(AccessDenied):
            batch.correct_session(co, ep, part, change, reason="r")
    assert [r.action for r in _refusals(p)][-5:] == [
        "record-session",
        "record-session",
        "record-session",
        "correct-session",
        "correct-session",
    ]
    assert len(p.session_history(me, ep, part).corrections) == 2
    assert p.session_history(me, ep, setup.session_id).corrections == ()
    assert p.episode(me, ep).sessions_attended == 2  # the individual one and the group part


def test_a_policy_is_told_the_group_session_a_write_is_a_part_of() -> None:
    asked: list[AccessRequest] = []

    class Recording:
        def decide(self, request: AccessRequest) -> Decision:
            asked.append(request)
            return DefaultPolicy().decide(request)

    setup, me, co = _cofacilitated()
    p = Practice(setup.practice.store, policy=Recording())
    ep = setup.episode_id
    group_session, part = _cofacilitators_part(p, co, ep)
    change = attrs.evolve(GROUP_PART_CORRECTED, group_session_id=group_session)
    p.correct_session(co, ep, part, change, reason="r")
    p.correct_session(me, ep, part, attrs.evolve(change, group_session_id="gs-2"), reason="r")
    p.record_session(me, ep, GROUP_PART)
    p.record_session(me, ep, SESSION)
    writes = [
        (r.action, r.group_session_id) for r in asked if r.action in ("record-session", "correct-session")
    ]
    assert writes == [
        ("record-session", group_session),  # record_group_session decides every member first
        ("record-session", group_session),  # then writes each part
        ("correct-session", group_session),
        ("correct-session", None),  # another group session than the one the part stands in
        ("record-session", None),  # a group_session_id given to a plain record_session: nothing knows it
        ("record-session", None),
    ]
    # a custom policy's own requests, made as before the field was added, still build
    assert AccessRequest(co, "record-session", "session", "s-1").group_session_id is None
