"""Every event type has a committed JSON Schema, the files match the generator, and real events validate."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalProgressNote,
    GoalRevision,
    MaintenancePlan,
    Participant,
    Preferences,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import ClosingReason, Rater, RequestPoint
from alliancekit.errors import NotFoundError, ValidationError
from alliancekit.events import converter
from alliancekit.events import schemas as gen
from alliancekit.events import types as t
from alliancekit.practice import Practice
from alliancekit.protocols import MeasurementProtocol, ScheduleEntry

REGENERATE = "regenerate them with: python -m alliancekit.events.schemas --write (and commit schemas/events)"
D = date(2026, 4, 1)


def validator(event_type: str, version: int) -> Draft202012Validator:
    return Draft202012Validator(gen.load_event_schema(event_type, version), format_checker=FormatChecker())


def payload(event: t.Event) -> Any:
    """The payload exactly as stored: the converter's JSON text, parsed."""
    return json.loads(converter.dumps(event))


# -- realistic instances of every type, with optional fields empty and filled ------------------------------

_SESSION_MIN = Session(held_on=D, modality="phone", attendance="no-show")
_SESSION_FULL = Session(
    held_on=D,
    modality="in-person",
    attendance="attended",
    administrations=(
        Administration("ors", "1", "start", {"overall": 4.5, "socially": None}),
        Administration("ors", "1", "start", {"overall": 6.0}, "parent", "client-2", "client-3"),
    ),
    helpful="synthetic",
    not_helpful="synthetic",
    attended_by=("client-1", "client-2"),
    group_session_id=None,
)
_SCORE_MIN = t.RecordedScore("srs", "1", 36.0)
_SCORE_FULL = t.RecordedScore("ors", "1", 19.5, {"individual": 4.0}, "clinical", True, ("item-3",))
_SCORE_COLLATERAL = t.RecordedScore("ors", "1", 24.0, about="client-2", rater=Rater.PARENT)
_POINT = t.ScorePoint(19.5, D, 1)

EXAMPLES: list[tuple[str, t.Event]] = [
    ("alert-min", t.AlertRaised("a-1", "review-due", "info", "A review is due.", D, 6)),
    ("alert-full", t.AlertRaised("a-2", "risk-item", "urgent", "A risk item was endorsed.", D, 2, "phq-9")),
    (
        "alert-participant",
        t.AlertRaised("a-3", "split-alliance", "amber", "Split.", D, 2, "srs", participant="client-2"),
    ),
    ("alert-acknowledged", t.AlertAcknowledged("a-1", D)),
    (
        "participant-added",
        t.ParticipantAdded(Participant("client-2", "partner", Consent(True, True)), D),
    ),
    ("group-joined", t.GroupJoined("group-1", ("clinician-1", "clinician-2"), D)),
    ("alert-resolved", t.AlertResolved("a-1", D, "synthetic")),
    ("process-note", t.ProcessNoteRecorded("note-1", "clinician-1", D, "synthetic")),
    ("addendum", t.SessionAddendumAdded("s-1", "add-1", D, "synthetic", "synthetic")),
    ("disagreement", t.DisagreementAttached("st-1", "ev-1", D, "synthetic")),
    ("lockbox-min", t.LockboxSet("lb-1", "record", (), (), (), D)),
    ("lockbox-full", t.LockboxSet("lb-2", "class", ("sessions", "ruptures"), (), ("insurer",), D)),
    ("lockbox-lifted", t.LockboxLifted("lb-1", D)),
    (
        "requested-min",
        t.AdministrationRequested(
            "rq-1", "phq-9", "1.0", RequestPoint.START, "link", D, datetime(2026, 1, 9, tzinfo=UTC)
        ),
    ),
    (
        "requested-full",
        t.AdministrationRequested(
            "rq-2", "phq-9", "1.0", RequestPoint.END, "kiosk", D, datetime(2026, 1, 6, tzinfo=UTC), "s-1"
        ),
    ),
    ("request-revoked", t.AdministrationRequestRevoked("rq-1", D)),
    (
        "client-response",
        t.ClientResponseRecorded(
            "rq-2",
            RequestPoint.BETWEEN,
            3,
            D,
            Administration("phq-9", "1.0", "end", {"q1": 1, "q9": 0}),
            (_SCORE_MIN,),
            "s-1",
        ),
    ),
    ("protocol-cleared", t.ProtocolSet(None, D)),
    ("population-changed", t.PopulationChanged("adolescent", D)),
    ("population-cleared", t.PopulationChanged(None, D)),
    ("measures-consent-given", t.MeasuresConsentChanged(True, D)),
    ("measures-consent-withdrawn", t.MeasuresConsentChanged(False, D)),
    (
        "protocol-set",
        t.ProtocolSet(
            MeasurementProtocol(
                "intake-weekly",
                (ScheduleEntry("phq-9", "intake"), ScheduleEntry("gad-7", "every-weeks", 2)),
            ),
            D,
        ),
    ),
    ("opened", t.EpisodeOpened("client-1", "clinician-1", D)),
    ("consultation-min", t.ConsultationRecorded(Consultation(D, "video", Consent(True, False)))),
    (
        "consultation-full",
        t.ConsultationRecorded(
            Consultation(
                D,
                "in-person",
                Consent(True, True, True),
                ("worry",),
                ("how long?",),
                Preferences("mixed", ("faith",), ("family",)),
            )
        ),
    ),
    ("fit-min", t.FitDecided(FitDecision("proceed", D))),
    ("fit-full", t.FitDecided(FitDecision("refer", D, "outside scope", "trauma service", "specialist care"))),
    ("goal-min", t.GoalAgreed("g1", "sleep better", (), D)),
    ("goal-full", t.GoalAgreed("g1", "sleep better", ("routine", "diary"), D)),
    ("goal-revised-min", t.GoalRevised(GoalRevision("g1"), D)),
    (
        "goal-revised-full",
        t.GoalRevised(GoalRevision("g1", "clearer", "sleep 7h", ("no screens",), "achieved"), D),
    ),
    ("session-min", t.SessionRecorded("s1", 2, None, _SESSION_MIN)),
    ("session-full", t.SessionRecorded("s1", 1, 1, _SESSION_FULL, (_SCORE_FULL, _SCORE_COLLATERAL))),
    ("session-corrected-min", t.SessionCorrected("s1", 2, _SESSION_MIN, (), "typo", ())),
    ("session-corrected-before-v4", t.SessionCorrected("s1", 2, _SESSION_MIN, (), "typo", None)),
    (
        "session-corrected-full",
        t.SessionCorrected(
            "s1",
            1,
            _SESSION_FULL,
            (_SCORE_FULL,),
            "answer keyed wrongly",
            (
                t.ScoresAsCorrected("ors", None, Rater.CLIENT, _POINT, None, _POINT, 1),
                t.ScoresAsCorrected("srs", None, Rater.CLIENT, None, None, None, None),
                t.ScoresAsCorrected("ors", "client-2", Rater.PARENT, _POINT, _POINT, _POINT, None),
            ),
        ),
    ),
    ("review-min", t.ReviewRecorded("r1", Review(D, "continue"), False)),
    (
        "review-full",
        t.ReviewRecorded(
            "r1",
            Review(
                D,
                "plan-ending",
                "good",
                "work",
                "routine",
                "lists",
                (GoalProgressNote("g1", "achieved", "yes"),),
                "end",
            ),
            True,
        ),
    ),
    (
        "rupture-min",
        t.RuptureNoted("u1", RuptureNote(D, "confrontation", ("complaint-about-progress",), "other"), 0),
    ),
    (
        "rupture-full",
        t.RuptureNoted(
            "u1",
            RuptureNote(
                D,
                "withdrawal",
                ("denial", "topic-shift"),
                "misunderstanding",
                5,
                "s1",
                "synthetic",
                ("give-rationale",),
                True,
                "synthetic",
            ),
            3,
        ),
    ),
    ("repair-min", t.RuptureRepairRecorded("u1", RepairAttempt(D, ("link-to-patterns",), False))),
    ("repair-full", t.RuptureRepairRecorded("u1", RepairAttempt(D, ("give-rationale",), True, "felt heard"))),
    ("hold", t.EpisodePutOnHold(D, "illness")),
    ("resumed", t.EpisodeResumed(D)),
    ("transferred", t.ClinicianTransferred("clinician-1", "clinician-2", D, "leave")),
    ("ending-planned-min", t.EndingPlanned(D)),
    ("ending-planned-full", t.EndingPlanned(D, date(2026, 5, 1))),
    ("closed-at-fit", t.EpisodeClosed(ClosingReason.NOT_PROCEEDING, D)),
    (
        "closed-no-plan",
        t.EpisodeClosed(ClosingReason.ENDED, D, Ending(D, False, "dropout", no_plan_reason="left")),
    ),
    (
        "closed-plan-empty",
        t.EpisodeClosed(ClosingReason.ENDED, D, Ending(D, True, "goals-met", "", MaintenancePlan())),
    ),
    (
        "closed-full",
        t.EpisodeClosed(
            ClosingReason.ENDED,
            D,
            Ending(
                D,
                True,
                "goals-met",
                "proud",
                MaintenancePlan(("early waking",), ("routine",), ("partner",), (D,), "email"),
            ),
        ),
    ),
]


# -- the committed files ----------------------------------------------------------------------------------


def test_every_event_type_has_a_committed_schema() -> None:
    missing = [
        name for name, cls in t.EVENT_TYPES.items()
        if not (gen.schema_directory() / gen.schema_file_name(name, cls.VERSION)).is_file()
    ]  # fmt: skip
    assert not missing, f"event types without a committed schema: {missing}; {REGENERATE}"


def test_committed_schemas_match_the_generator() -> None:
    directory = Path(str(gen.schema_directory()))
    stale = gen.drift(directory)
    assert not stale, (
        f"schemas/events is out of step with the event classes ({', '.join(stale)}); {REGENERATE}"
    )


def test_no_unexplained_files_in_the_schema_directory() -> None:
    # Allowed: what the generator writes, older versions of current types (stored events still use them).
    expected = set(gen.generated_files()) | {"README.md"}
    for entry in gen.schema_directory().iterdir():
        if entry.name in expected:
            continue
        event_type, _, rest = entry.name.partition(".v")
        version = rest.removesuffix(".schema.json")
        assert event_type in t.EVENT_TYPES, f"unexpected file schemas/events/{entry.name}"
        assert version.isdigit(), f"unexpected file schemas/events/{entry.name}"
        assert int(version) < t.EVENT_TYPES[event_type].VERSION, f"{entry.name}: newer than the code"


def test_index_lists_every_type_with_its_file() -> None:
    index = json.loads((gen.schema_directory() / gen.INDEX_FILE).read_text(encoding="utf-8"))
    listed = {(e["type"], e["version"]): e["file"] for e in index["events"]}
    assert listed == {(n, c.VERSION): gen.schema_file_name(n, c.VERSION) for n, c in t.EVENT_TYPES.items()}


@pytest.mark.parametrize("name", sorted(t.EVENT_TYPES))
def test_schema_is_valid_2020_12_with_stable_id(name: str) -> None:
    cls = t.EVENT_TYPES[name]
    schema = gen.load_event_schema(name, cls.VERSION)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://alliancekit.dev/schemas/events/{name}.v{cls.VERSION}.schema.json"
    assert schema["additionalProperties"] is False
    refs = json.dumps(schema).split('"$ref": ')[1:]
    assert all(r.startswith('"#/$defs/') for r in refs), "only local references"


# -- events validate ----------------------------------------------------------------------------------------


def test_examples_cover_every_event_type() -> None:
    assert {e.TYPE for _, e in EXAMPLES} == set(t.EVENT_TYPES)


@pytest.mark.parametrize(("label", "event"), EXAMPLES, ids=[label for label, _ in EXAMPLES])
def test_example_event_validates(label: str, event: t.Event) -> None:
    errors = list(validator(event.TYPE, event.VERSION).iter_errors(payload(event)))
    assert not errors, [e.message for e in errors]


def test_every_event_a_real_lifecycle_stores_validates(
    sqlite_practice: Practice, actor: Actor, lifecycle: Callable[[Practice, Actor], str],
    referred: Callable[[Practice, Actor], str],
) -> None:  # fmt: skip
    seen = set()
    for ep in (lifecycle(sqlite_practice, actor), referred(sqlite_practice, actor)):
        for stored in sqlite_practice.store.load_events(ep):
            seen.add(stored.type)
            errors = list(
                validator(stored.type, stored.schema_version).iter_errors(json.loads(stored.payload_json))
            )
            assert not errors, (stored.type, [e.message for e in errors])
    assert seen == set(t.EVENT_TYPES)


# -- wrong payloads fail ------------------------------------------------------------------------------------

_FULL_SESSION = payload(dict(EXAMPLES)["session-full"])


def _broken(change: Callable[[Any], None]) -> Any:
    data = copy.deepcopy(_FULL_SESSION)
    change(data)
    return data


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("unknown enum", _broken(lambda d: d["session"].update(attendance="maybe"))),
        (
            "unknown nested enum",
            _broken(lambda d: d["session"]["administrations"][0].update(timing="middle")),
        ),
        ("missing required", _broken(lambda d: d.pop("number"))),
        ("missing nested required", _broken(lambda d: d["session"].pop("held_on"))),
        ("extra field", _broken(lambda d: d.update(client_name="x"))),
        ("extra nested field", _broken(lambda d: d["scores"][0].update(note="x"))),
        ("bad date", _broken(lambda d: d["session"].update(held_on="2026-02-30"))),
        ("wrong type", _broken(lambda d: d.update(number="1"))),
        ("bool is not integer", _broken(lambda d: d.update(number=True))),
        (
            "answers not numbers",
            _broken(lambda d: d["session"]["administrations"][0]["answers"].update(x="4")),
        ),
    ],
)
def test_wrong_payload_fails(label: str, data: Any) -> None:
    assert not validator("session-recorded", t.SessionRecorded.VERSION).is_valid(data), label


def test_converter_refuses_what_the_schema_refuses() -> None:
    # The two describe the same payload: an extra field is refused by the converter too.
    with pytest.raises(ValidationError):
        converter.structure(_broken(lambda d: d.update(client_name="x")), t.SessionRecorded)


# -- loading ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["no-such-event", "../../pyproject", "session-recorded/../x"])
def test_load_refuses_unknown_types_before_touching_files(name: str) -> None:
    with pytest.raises(ValidationError):
        gen.load_event_schema(name, 1)


def test_load_of_a_missing_version_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        gen.load_event_schema("session-recorded", 99)
    with pytest.raises(ValidationError):
        gen.load_event_schema("session-recorded", 0)


def test_write_then_check_round_trips(tmp_path: Path) -> None:
    assert gen.main(["--check", "--dir", str(tmp_path)]) == 1
    assert gen.main(["--write", "--dir", str(tmp_path)]) == 0
    assert gen.main(["--check", "--dir", str(tmp_path)]) == 0
    assert gen.write(tmp_path) == []  # idempotent: nothing rewritten
