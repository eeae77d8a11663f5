"""The one set of input checks (``alliancekit.domain.checks``), and every domain record running them.

Each refusal is a :class:`ValidationError` naming the field and the rule, never the value; no other
exception (``UnicodeEncodeError``, ``OverflowError``, ``TypeError``) ever escapes a check.
"""

from __future__ import annotations

import itertools
import math
import types
import typing
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from enum import Enum
from functools import partial
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Attendance,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    GoalProgress,
    GoalProgressNote,
    GoalRevision,
    GroupSession,
    MaintenancePlan,
    MemberAttendance,
    Modality,
    Participant,
    Preferences,
    RepairAttempt,
    Review,
    Role,
    RuptureMarker,
    RuptureNote,
    Session,
    actors,
    records,
)
from alliancekit.domain import checks as ck
from alliancekit.domain.frozen_map import FrozenMap
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.events import converter

from .conftest import CANARY

D = date(2026, 1, 5)
SURROGATE = CANARY + "\ud800"
LOW_SURROGATE = "\udfff" + CANARY
NUL = CANARY + "\x00"


def refused(call: Callable[[], object], field: str, rule: str) -> ValidationError:
    """``call`` raises a ValidationError for ``field`` and ``rule`` whose message holds no value."""
    with pytest.raises(ValidationError) as caught:
        call()
    error = caught.value
    assert (error.field, error.rule) == (field, rule), str(error)
    assert field in str(error)
    assert rule in str(error)
    for text in (str(error), repr(error), error.detail):
        assert CANARY not in text
        assert "\x00" not in text
        assert "\ud800" not in text
    return error


# ------------------------------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "value", ["", "plain", "line one\nline two\r\n\ttabbed", "émoji 🙂 中文", "x" * 20_000]
)
def test_text_accepts_ordinary_writing(value: str) -> None:
    assert ck.check_text("note", value) == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (SURROGATE, "unicode"),
        (LOW_SURROGATE, "unicode"),
        (NUL, "control-character"),
        ("\x00", "control-character"),
        (CANARY + "\x07", "control-character"),
        (CANARY + "\x1b[2J", "control-character"),
        (CANARY + "\x0c", "control-character"),
        ("x" * 20_001, "max-length"),
        (5, "type"),
        (True, "type"),
        (None, "type"),
        (CANARY.encode(), "type"),
        ([CANARY], "type"),
        (object(), "type"),
    ],
)
def test_text_refusals(value: object, rule: str) -> None:
    refused(lambda: ck.check_text("note", value), "note", rule)


def test_required_text() -> None:
    refused(lambda: ck.check_text("reason", " \n\t", required=True), "reason", "required")
    refused(lambda: ck.check_text("reason", "", required=True), "reason", "required")
    assert ck.check_text("reason", "why", required=True) == "why"
    refused(lambda: ck.check_text("reason", "abc", max_len=2), "reason", "max-length")


class Sneaky(str):
    """A str subclass lying about itself: the check reads its real characters."""

    def __len__(self) -> int:
        return 1

    def strip(self, chars: str | None = None) -> str:
        return "x"

    def isprintable(self) -> bool:
        return True


def test_a_str_subclass_is_checked_by_its_characters_and_returned_plain() -> None:
    value = ck.check_text("note", Sneaky("fine"))
    assert type(value) is str
    assert value == "fine"
    assert type(ck.check_ref("id", Sneaky("ep-1"))) is str
    refused(lambda: ck.check_text("note", Sneaky("x" * 20_001)), "note", "max-length")
    refused(lambda: ck.check_text("note", Sneaky("   "), required=True), "note", "required")
    refused(lambda: ck.check_ref("id", Sneaky("a\x00")), "id", "control-character")
    refused(lambda: ck.check_ref("id", Sneaky("")), "id", "required")
    assert type(ck.check_ref("id", Role.CLINICIAN)) is str  # a StrEnum is text too


# -------------------------------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "value", ["ep-1", "a" * 200, "clin 1", "a b", "a  b", "ünïcode-id", "9f8e", "x", "caf\u00e9", "\u00e9"]
)
def test_ref_accepts_ids(value: str) -> None:
    assert ck.check_ref("episode_id", value) == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (" ", "required"),
        ("   ", "required"),
        ("\u00a0", "required"),  # a no-break space alone: blank
        ("\u3000", "required"),
        (" a", "whitespace"),
        ("a ", "whitespace"),
        ("\u00a0a", "whitespace"),  # NBSP leading
        ("a\u00a0", "whitespace"),
        ("a\u2003", "whitespace"),
        ("\u200b", "control-character"),  # zero-width space (Cf)
        ("a\u200bb", "control-character"),
        ("\ufeffa", "control-character"),  # byte-order mark (Cf)
        ("a\u00adb", "control-character"),  # soft hyphen (Cf)
        ("a\nb", "control-character"),
        ("a\tb", "control-character"),
        ("\ta", "control-character"),
        ("a\x00", "control-character"),
        *((f"a{chr(c)}b", "control-character") for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))),
        ("caf" + "e\u0301", "unicode-nfc"),  # NFD é
        ("e\u0301", "unicode-nfc"),
        ("\u212b", "unicode-nfc"),  # ANGSTROM SIGN: NFC is U+00C5
        ("a\u00a0b", "reference"),  # a no-break space inside: not printable, as before
    ],
)
def test_ref_refuses_ids_that_could_name_a_client_twice(value: str, rule: str) -> None:
    """One client, one spelling: blank, padded, invisible or non-NFC ids are refused, never normalised."""
    refused(lambda: ck.check_ref("client_ref", value), "client_ref", rule)


def test_the_nfc_and_nfd_spellings_differ_and_only_nfc_is_an_id() -> None:
    nfc, nfd = "ren\u00e9e", "rene\u0301e"
    assert nfc != nfd
    assert unicodedata.normalize("NFC", nfd) == nfc
    assert ck.check_ref("client_ref", nfc) == nfc
    refused(lambda: ck.check_ref("client_ref", nfd), "client_ref", "unicode-nfc")


@pytest.mark.parametrize("value", [" ", " a", "a ", "\u00a0a", "\u200b", "a\tb", "e\u0301", "a\u202eb"])
def test_free_text_is_not_held_to_the_id_rules(value: str) -> None:
    """Notes are the client's and clinician's words: spacing, tabs, NFD and format characters are kept."""
    assert ck.check_text("note", value) == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (SURROGATE, "unicode"),
        ("\ud800", "unicode"),
        (NUL, "control-character"),
        (CANARY + "\n", "control-character"),
        (CANARY + "\t", "control-character"),
        (CANARY + "\x7f", "control-character"),
        (CANARY + "\x85", "control-character"),
        ("", "required"),
        ("a" * 201, "reference"),
        (CANARY + "\u2028", "whitespace"),
        (CANARY + "\u200b", "control-character"),
        (5, "type"),
        (2**70, "type"),
        (None, "type"),
        (b"ep-1", "type"),
        (("ep-1",), "type"),
    ],
)
def test_ref_refusals(value: object, rule: str) -> None:
    refused(lambda: ck.check_ref("episode_id", value), "episode_id", rule)


def test_optional_variants_pass_none_and_check_the_rest() -> None:
    assert ck.check_optional_ref("clinician_id", None) is None
    assert ck.check_optional_text("note", None) is None
    assert ck.check_optional_date("since", None) is None
    assert ck.check_optional_int("limit", None) is None
    assert ck.check_optional_bytes("key", None) is None
    assert ck.check_optional_choice("role", None, Role) is None
    assert ck.check_optional_instance("head", None, Consent) is None
    refused(lambda: ck.check_optional_ref("clinician_id", 5), "clinician_id", "type")
    refused(lambda: ck.check_optional_text("note", NUL), "note", "control-character")
    refused(lambda: ck.check_optional_date("since", "2026-01-05"), "since", "type")
    refused(lambda: ck.check_optional_int("limit", 2**70, lo=0, hi=100), "limit", "range")
    refused(lambda: ck.check_optional_bytes("key", "k"), "key", "type")
    refused(lambda: ck.check_optional_choice("role", "wizard", Role), "role", "enum")
    refused(lambda: ck.check_optional_instance("head", b"x", Consent), "head", "type")


# ---------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", [0, 1, ck.MAX_INT, ck.MIN_INT, -5])
def test_int_accepts_whole_numbers_in_range(value: int) -> None:
    assert ck.check_int("n", value) == value


@pytest.mark.parametrize(
    ("value", "lo", "hi", "rule"),
    [
        (True, 0, 10, "type"),
        (False, 0, 10, "type"),
        (1.0, 0, 10, "type"),
        ("1", 0, 10, "type"),
        (None, 0, 10, "type"),
        (2**70, ck.MIN_INT, ck.MAX_INT, "range"),
        (-(2**70), ck.MIN_INT, ck.MAX_INT, "range"),
        (10**4000, ck.MIN_INT, ck.MAX_INT, "range"),
        (2**31, ck.MIN_INT, ck.MAX_INT, "range"),
        (-1, 0, ck.MAX_INT, "range"),
        (11, 0, 10, "range"),
    ],
)
def test_int_refusals(value: object, lo: int, hi: int, rule: str) -> None:
    refused(lambda: ck.check_int("batch_size", value, lo=lo, hi=hi), "batch_size", rule)


def test_int_subclasses_come_back_plain() -> None:
    class Weird(int):
        def __le__(self, other: object) -> bool:
            return True

    refused(lambda: ck.check_int("n", Weird(2**70)), "n", "range")
    assert type(ck.check_int("n", Weird(3))) is int


@pytest.mark.parametrize("value", [0, 2.5, -3, 1e9, 7, -1e9])
def test_number_accepts_finite_numbers(value: float) -> None:
    assert ck.check_number("answer", value) == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (math.nan, "range"),
        (math.inf, "range"),
        (-math.inf, "range"),
        (10**400, "range"),
        (1e10, "range"),
        (True, "type"),
        ("3", "type"),
        (None, "type"),
        (complex(1, 1), "type"),
    ],
)
def test_number_refusals(value: object, rule: str) -> None:
    refused(lambda: ck.check_number("answer", value), "answer", rule)


def test_number_bounds_are_inclusive_for_floats_and_ints() -> None:
    for value in (ck.MAX_ANSWER, -ck.MAX_ANSWER, float(ck.MAX_ANSWER), -float(ck.MAX_ANSWER)):
        assert ck.check_number("answer", value) == value
    for value in (ck.MAX_ANSWER + 1, -ck.MAX_ANSWER - 1, ck.MAX_ANSWER * 1.000001):
        refused(lambda value=value: ck.check_number("answer", value), "answer", "range")
    refused(lambda: ck.check_number("answer", 5, lo=0, hi=4), "answer", "range")


def test_number_subclasses_come_back_plain() -> None:
    class Weird(float):
        def __le__(self, other: object) -> bool:
            return True

    refused(lambda: ck.check_number("answer", Weird(1e12)), "answer", "range")
    refused(lambda: ck.check_number("answer", Weird(math.nan)), "answer", "range")
    assert type(ck.check_number("answer", Weird(3.5))) is float


def test_ref_returns_a_subclass_plain_and_a_str_as_it_is() -> None:
    plain = "client-7"
    assert ck.check_ref("ref", plain) is plain
    sneaky = ck.check_ref("ref", Sneaky("client-7"))
    assert type(sneaky) is str
    assert sneaky == "client-7"


def test_record_lists_and_answers_of_any_plain_or_abstract_shape() -> None:
    answers = types.MappingProxyType({"q1": 1, "q2": 2.5})
    admin = Administration("ors", "1.0", AdministrationTiming.START, answers)
    assert type(admin.answers) is FrozenMap  # a read-only copy of its own
    assert admin.answers == {"q1": 1, "q2": 2.5}
    for listed in (["p1", "p2"], ("p1", "p2"), iter(["p1", "p2"])):
        session = Session(D, Modality.VIDEO, Attendance.ATTENDED, attended_by=listed)
        assert session.attended_by == ("p1", "p2")
    for wrong in ("p1", {"p1": 1}, b"p1"):
        with pytest.raises(ValidationError) as caught:
            Session(D, Modality.VIDEO, Attendance.ATTENDED, attended_by=wrong)  # type: ignore[arg-type]
        assert caught.value.rule == "type"


def test_bool() -> None:
    assert ck.check_bool("planned", True) is True
    for value in (0, 1, "true", None):
        refused(partial(ck.check_bool, "planned", value), "planned", "type")


# ------------------------------------------------------------------------------------------------ bytes


def test_bytes() -> None:
    assert ck.check_bytes("key", b"k" * 32, min_len=32) == b"k" * 32
    assert ck.check_bytes("key", bytearray(b"abc")) == b"abc"
    assert type(ck.check_bytes("key", memoryview(b"abc"))) is bytes
    refused(lambda: ck.check_bytes("key", b"short", min_len=32), "key", "min-length")
    refused(lambda: ck.check_bytes("key", b"x" * 11, max_len=10), "key", "max-length")
    for value in ("k" * 32, 5, None, [1, 2]):
        refused(partial(ck.check_bytes, "key", value), "key", "type")


# ------------------------------------------------------------------------------------------------ dates


def test_dates() -> None:
    assert ck.check_date("on", D) == D
    assert ck.check_date("on", ck.MIN_DATE) == ck.MIN_DATE
    assert ck.check_date("on", ck.MAX_DATE) == ck.MAX_DATE
    for value in (date.min, date.max, date(1899, 12, 31), date(2200, 1, 1)):
        refused(partial(ck.check_date, "on", value), "on", "range")
    for other in (datetime(2026, 1, 5, tzinfo=UTC), 20260105, None):
        refused(partial(ck.check_date, "on", other), "on", "type")


# ---------------------------------------------------------------------------------------------- choices


def test_choice_accepts_the_member_or_its_value() -> None:
    assert ck.check_choice("modality", Modality.VIDEO, Modality) is Modality.VIDEO
    assert ck.check_choice("modality", "video", Modality) is Modality.VIDEO


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("telepathy", "enum"),
        (CANARY, "enum"),
        (SURROGATE, "enum"),
        ("VIDEO", "enum"),
        (Attendance.ATTENDED, "enum"),  # another enum's member
        (5, "enum"),
        (True, "type"),
        (None, "type"),
        (["video"], "type"),
        (b"video", "type"),
    ],
)
def test_choice_refusals(value: object, rule: str) -> None:
    refused(lambda: ck.check_choice("modality", value, Modality), "modality", rule)


# ------------------------------------------------------------------------------------------- sequences


def test_sequence_of_instances() -> None:
    goals = [GoalDraft("a"), GoalDraft("b")]
    assert ck.check_sequence_of("goals", goals, GoalDraft) == tuple(goals)
    assert ck.check_sequence_of("goals", iter(goals), GoalDraft) == tuple(goals)
    assert ck.check_sequence_of("goals", (), GoalDraft) == ()
    refused(lambda: ck.check_sequence_of("goals", [GoalDraft("a"), CANARY], GoalDraft), "goals[1]", "type")
    refused(lambda: ck.check_sequence_of("goals", GoalDraft("a"), GoalDraft), "goals", "type")
    for value in (CANARY, CANARY.encode(), {"a": GoalDraft("a")}, 5, None):
        refused(partial(ck.check_sequence_of, "goals", value, GoalDraft), "goals", "type")
    refused(lambda: ck.check_sequence_of("goals", [GoalDraft("a")] * 3, GoalDraft, 2), "goals", "max-items")


def test_an_endless_iterator_is_refused_not_followed() -> None:
    endless: Iterator[str] = itertools.repeat("ep-1")
    refused(lambda: ck.check_sequence_of("ids", endless, str), "ids", "max-items")
    refused(lambda: ck.check_refs("ids", itertools.count()), "ids", "max-items")


def test_sequence_with_an_item_check() -> None:
    assert ck.check_refs("recipients", ["a", "b"]) == ("a", "b")
    assert ck.check_sequence_of("ids", ("a",), str, each=ck.check_ref) == ("a",)
    refused(lambda: ck.check_refs("recipients", ["a", SURROGATE]), "recipients[1]", "unicode")
    refused(lambda: ck.check_refs("recipients", ["a", NUL]), "recipients[1]", "control-character")
    refused(lambda: ck.check_refs("recipients", [5]), "recipients[0]", "type")
    refused(lambda: ck.check_refs("recipients", "abc"), "recipients", "type")
    refused(lambda: ck.check_refs("recipients", ["a"] * 201), "recipients", "max-items")


def test_instance() -> None:
    consent = Consent(treatment=True, measures=True)
    assert ck.check_instance("consent", consent, Consent) is consent
    refused(lambda: ck.check_instance("consent", {"treatment": True}, Consent), "consent", "type")


# ------------------------------------------------------------------------------- property: only our errors

JUNK = (
    st.text(max_size=30)
    | st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc"]), max_size=5)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.booleans()
    | st.none()
    | st.binary(max_size=8)
    | st.dates()
    | st.lists(st.text(max_size=3), max_size=3)
    | st.builds(object)
)

CHECKS: list[Callable[[str, Any], Any]] = [
    ck.check_text,
    ck.check_ref,
    ck.check_bool,
    ck.check_int,
    ck.check_number,
    ck.check_bytes,
    ck.check_date,
    lambda f, v: ck.check_choice(f, v, Modality),
    lambda f, v: ck.check_instance(f, v, Consent),
    lambda f, v: ck.check_sequence_of(f, v, str),
    ck.check_refs,
    ck.check_optional_text,
    ck.check_optional_ref,
    ck.check_optional_int,
]


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(check=st.sampled_from(CHECKS), value=JUNK)
def test_checks_raise_only_validation_errors_and_pass_only_storable_values(
    check: Callable[[str, Any], Any], value: object
) -> None:
    try:
        out = check("field", value)
    except ValidationError as error:
        refusal: str | None = error.field
    else:
        refusal = None
    if refusal is not None:
        assert refusal.startswith("field")
        return
    for text in out if isinstance(out, tuple) else (out,):
        if isinstance(text, str):
            text.encode("utf-8")  # never a UnicodeEncodeError past a check
            assert "\x00" not in text
            assert type(text) is str


# ------------------------------------------------------------------------------------------------ records


def valid(cls: type) -> dict[str, Any]:
    """Keyword arguments of a valid ``cls``, one value for every field."""
    plan = MaintenancePlan(warning_signs=("w",), booster_sessions=(D,), return_plan="r")
    examples: dict[type, dict[str, Any]] = {
        Actor: {"id": "clin-1", "role": "clinician", "clinic_id": "c1", "purpose": "treatment"},
        Preferences: {"session_structure": "mixed", "values_to_include": ("v",), "not_ready_topics": ("t",)},
        Consent: {"treatment": True, "measures": True, "data_sharing": False},
        Consultation: {
            "held_on": D,
            "modality": "video",
            "consent": Consent(treatment=True, measures=True),
            "presenting_concerns": ("c",),
            "client_questions": ("q",),
            "preferences": Preferences(),
        },
        FitDecision: {
            "outcome": "refer",
            "decided_on": D,
            "rationale": "r",
            "referred_to": "team",
            "referral_reason": "why",
        },
        GoalDraft: {"description": "d", "tasks": ("t",)},
        GoalRevision: {
            "goal_id": "goal-1",
            "reason": "r",
            "description": "d",
            "tasks": ("t",),
            "status": "achieved",
        },
        Administration: {
            "measure_id": "ors",
            "version": "1.0",
            "timing": "start",
            "answers": {"q1": 1.5},
            "rater": "parent",
            "about": "client-2",
            "rater_ref": "client-3",
            "total": None,
        },
        Session: {
            "held_on": D,
            "modality": "video",
            "attendance": "attended",
            "administrations": (Administration("ors", "1.0", AdministrationTiming.START, {"q1": 1}),),
            "helpful": "h",
            "not_helpful": "n",
            "attended_by": ("client-1", "client-2"),
            "group_session_id": "gs-1",
        },
        Participant: {
            "client_ref": "client-2",
            "role": "partner",
            "consent": Consent(treatment=True, measures=True),
        },
        MemberAttendance: {
            "episode_id": "ep-1",
            "attendance": "attended",
            "administrations": (Administration("gsrs", "1.0", AdministrationTiming.END, {"q1": 1}),),
        },
        GroupSession: {
            "held_on": D,
            "modality": "in-person",
            "members": (MemberAttendance("ep-1", Attendance.ATTENDED),),
        },
        GoalProgressNote: {"goal_id": "goal-1", "progress": "improving", "note": "n"},
        Review: {
            "held_on": D,
            "decision": "continue",
            "progress_towards_goals": "p",
            "obstacles": "o",
            "what_helped": "w",
            "what_did_not_help": "x",
            "goal_progress": (GoalProgressNote("goal-1", GoalProgress.IMPROVING),),
            "decision_note": "n",
        },
        RuptureNote: {
            "noted_on": D,
            "kind": "withdrawal",
            "markers": ("denial",),
            "likely_cause": "other",
            "salience": 3,
            "session_id": "s-1",
            "description": "d",
            "repairs": ("give-rationale",),
            "resolved": False,
            "client_view": "v",
        },
        RepairAttempt: {
            "attempted_on": D,
            "strategies": ("give-rationale",),
            "resolved": True,
            "client_view": "v",
        },
        MaintenancePlan: {
            "warning_signs": ("w",),
            "coping_strategies": ("c",),
            "supports": ("s",),
            "booster_sessions": (D,),
            "return_plan": "r",
        },
        Ending: {
            "ended_on": D,
            "planned": True,
            "reason": "goals-met",
            "reflection": "r",
            "maintenance_plan": plan,
            "no_plan_reason": "n",
        },
    }
    return examples[cls]


RECORDS = sorted(
    {
        v
        for module in (records, actors)
        for v in vars(module).values()
        if isinstance(v, type) and attrs.has(v)
    },
    key=lambda t: t.__name__,
)
FIELDS = [(cls, field.name) for cls in RECORDS for field in attrs.fields(cls)]


def test_every_record_has_a_valid_example_with_every_field() -> None:
    for cls in RECORDS:
        assert set(valid(cls)) == {f.name for f in attrs.fields(cls)}, cls
        cls(**valid(cls))


def _kind(cls: type, name: str) -> Any:
    hint = typing.get_type_hints(cls)[name]
    options = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, type(int | None)):
        hint = options[0]
    return hint


def _is_ref(cls: type, name: str) -> bool:
    return attrs.fields_dict(cls)[name].metadata.get("alliancekit.kind") in ("ref", "clinic")


@pytest.mark.parametrize(("cls", "name"), FIELDS, ids=[f"{c.__name__}.{n}" for c, n in FIELDS])
def test_every_field_refuses_bad_values(cls: type, name: str) -> None:
    """Each field of each record refuses what its type cannot hold, naming ``Class.field``."""
    where = f"{cls.__name__}.{name}"
    kind = _kind(cls, name)
    origin = typing.get_origin(kind)

    def build(value: object) -> Callable[[], object]:
        return lambda: cls(**{**valid(cls), name: value})

    wrong_type = b"x" if kind is not bytes else "x"
    if isinstance(kind, type) and issubclass(kind, Enum):
        refused(build(CANARY), where, "enum")
        refused(build(SURROGATE), where, "enum")
        refused(build(2**70), where, "enum")
        refused(build(["x"]), where, "enum")  # unhashable: no member's value
        return
    if origin is tuple:
        refused(build(wrong_type), where, "type")
        refused(build(CANARY), where, "type")
        first = valid(cls)[name][0]
        refused(build((first,) * (ck.MAX_ITEMS + 1)), where, "max-items")
        refused(build(itertools.repeat(first)), where, "max-items")
        if typing.get_args(kind)[0] is str:
            refused(build(("ok", SURROGATE)), where, "unicode")
            refused(build(("ok", NUL)), where, "control-character")
        assert cls(**{**valid(cls), name: [first]}) == cls(**{**valid(cls), name: (first,)})
        return
    if kind is str:
        refused(build(SURROGATE), where, "unicode")
        refused(build(NUL), where, "control-character")
        refused(build(CANARY + "\x01"), where, "control-character")
        refused(build(5), where, "type")
        refused(build(CANARY.encode()), where, "type")
        if _is_ref(cls, name):
            refused(build(CANARY + "\n"), where, "control-character")
            refused(build("x" * 201), where, "reference")
            refused(build(""), where, "required")
            if attrs.fields_dict(cls)[name].metadata.get("alliancekit.kind") == "clinic":
                refused(build(ck.NO_CLINIC), where, "reserved")  # the clinic of calls without an actor
        else:
            refused(build("x" * 20_001), where, "max-length")
            assert getattr(cls(**{**valid(cls), name: "a\nb\tc"}), name) == "a\nb\tc"
        return
    if kind is bool:
        refused(build(1), where, "type")
        refused(build("true"), where, "type")
        return
    if kind is int:
        refused(build(True), where, "type")
        refused(build(2**70), where, "range")
        refused(build(-(2**70)), where, "range")
        refused(build(3.0), where, "type")
        return
    if kind is date:
        refused(build(datetime(2026, 1, 5, tzinfo=UTC)), where, "type")
        refused(build("2026-01-05"), where, "type")
        refused(build(date.max), where, "range")
        refused(build(date.min), where, "range")
        return
    if attrs.has(kind):
        refused(build({"a": 1}), where, "type")
        refused(build(wrong_type), where, "type")
        return
    if (cls, name) == (Administration, "total"):  # a number within the answers' bounds, or None
        refused(build("12"), where, "type")
        refused(build(True), where, "type")
        refused(build(float("nan")), where, "range")
        refused(build(ck.MAX_ANSWER * 10), where, "range")
        assert cls(**{**valid(cls), "answers": {}, name: ck.MAX_ANSWER}).total == ck.MAX_ANSWER
        return
    assert (cls, name) == (Administration, "answers"), f"no bad values for {where}"
    refused(build([1, 2]), where, "type")
    refused(build({"q1": True}), where, "type")
    refused(build({"q1": "3"}), where, "type")
    refused(build({"q1": math.nan}), where, "range")
    refused(build({"q1": 10**400}), where, "range")
    refused(build({SURROGATE: 1}), where, "unicode")
    refused(build({NUL: 1}), where, "control-character")
    refused(build({5: 1}), where, "type")
    refused(build({f"q{i}": 1 for i in range(ck.MAX_ITEMS + 1)}), where, "max-items")


def test_optional_fields_take_none() -> None:
    for cls, name in FIELDS:
        field = attrs.fields_dict(cls)[name]
        if field.default is None:
            assert getattr(cls(**{**valid(cls), name: None}), name) is None


def test_records_convert_values_to_plain_members_and_tuples() -> None:
    session = Session(held_on=D, **_strings(modality="video", attendance="attended"), helpful=Sneaky("kept"))
    assert session.modality is Modality.VIDEO
    assert type(session.helpful) is str
    actor = Actor(Sneaky("clin-1"), Role.CLINICIAN, "c1")
    assert type(actor.id) is str
    admin = Administration("ors", "1.0", AdministrationTiming.START, {"q1": 1, "q2": None})
    assert type(admin.answers) is FrozenMap  # a read-only copy of its own
    assert admin.answers == {"q1": 1, "q2": None}
    strings = _strings(kind="withdrawal", markers=["denial"], likely_cause="other")
    note = RuptureNote(noted_on=D, **strings, salience=0)  # 1-5 is the lifecycle's rule, not the record's
    assert note.markers == (RuptureMarker.DENIAL,)


def _strings(**values: object) -> dict[str, Any]:
    """Enum fields given as their values and lists (what a host's JSON gives), past the type checker."""
    return values


def test_records_from_json_are_checked_the_same_way() -> None:
    data = {"held_on": "2026-01-08", "modality": "video", "attendance": "attended", "helpful": NUL}
    with pytest.raises(ValidationError) as caught:
        converter.structure(data, Session)
    # (the converter reports the record when the record's own check refused a field)
    assert caught.value.rule == "control-character"
    assert caught.value.field in ("helpful", "Session")
    data = {"id": SURROGATE, "role": "clinician", "clinic_id": "c1", "purpose": "treatment"}
    with pytest.raises(ValidationError) as caught:
        converter.structure(data, Actor)
    assert caught.value.rule == "unicode"
    rupture: dict[str, object] = {
        "noted_on": "2026-01-08",
        "kind": "withdrawal",
        "markers": [],
        "likely_cause": "other",
    }
    with pytest.raises(ValidationError) as caught:
        converter.structure({**rupture, "salience": 2**70}, RuptureNote)
    assert caught.value.rule == "range"


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(data=st.data())
def test_records_from_junk_raise_only_validation_errors(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(RECORDS))
    kwargs = valid(cls)
    for name in data.draw(st.lists(st.sampled_from(sorted(kwargs)), max_size=3, unique=True)):
        kwargs[name] = data.draw(
            JUNK | st.tuples(JUNK) | st.dictionaries(st.text(max_size=3) | st.integers(), JUNK, max_size=3)
        )
    try:
        built = cls(**kwargs)
    except ValidationError:
        return
    except AlliancekitError as error:  # pragma: no cover - the failure message says which
        pytest.fail(f"{cls.__name__}: {type(error).__name__}, not a ValidationError")
    converter.dumps(built).encode("utf-8")  # whatever a record holds can be stored


# ------------------------------------------------------------------------------------- JSON from outside


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        ('{"note": "a\\u0000b"}', "control-character"),
        ('{"a\\u0000": 1}', "control-character"),
        ('{"note": "\\ud800"}', "unicode"),
        ('["ok", {"deep": ["\\udfff"]}]', "unicode"),
        ('{"\\ud800": 1}', "unicode"),
        ('{"note": "raw \ud800"}', "unicode"),
    ],
)
def test_bounded_json_refuses_unstorable_strings(document: str, rule: str) -> None:
    from alliancekit.security import bounded_json

    refused(lambda: bounded_json.loads(document), "json", rule)


def test_bounded_json_keeps_ordinary_escapes() -> None:
    from alliancekit.security import bounded_json

    assert bounded_json.loads('["tab\\there", "\\ud83d\\ude00", "line\\n"]') == ["tab\there", "😀", "line\n"]


@pytest.mark.parametrize("item", ["a\x00", "\ud800", "a\x07"])
def test_a_list_of_text_refuses_what_text_refuses(item: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ck.check_sequence_of("field", ["fine", item], str)
    assert caught.value.field == "field[1]"
    assert ck.check_sequence_of("field", ["fine", "a\tb\nc"], str) == ("fine", "a\tb\nc")


@pytest.mark.parametrize("kind", [str, bytes])
def test_bounded_json_counts_utf8_bytes_of_text_too(kind: type) -> None:
    """64 two-byte characters in quotes are 130 bytes in 66 characters: the bound is on the bytes."""
    from alliancekit.security import bounded_json

    at_bound = '"' + "\u00e9" * 64 + '"'
    assert len(at_bound.encode()) == 130
    document = at_bound if kind is str else at_bound.encode()
    assert bounded_json.loads(document, max_bytes=130) == at_bound[1:-1]
    refused(lambda: bounded_json.loads(document, max_bytes=129), "json", "max-size")
