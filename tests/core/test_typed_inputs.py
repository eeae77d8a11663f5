"""What the records and the facade accept, as type checkers and help() see it, matches what they check."""

from __future__ import annotations

import enum
import inspect
import typing
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest

import alliancekit
from alliancekit import Practice, Recorded, RecordedWithId, open_practice
from alliancekit.core.command_table import COMMANDS, Returns
from alliancekit.domain import (
    Actor,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Modality,
    RuptureMarker,
    RuptureNote,
    Session,
    records,
    vocab,
)
from alliancekit.errors import ValidationError

RECORDS = [
    cls
    for cls in vars(records).values()
    if isinstance(cls, type) and attrs.has(cls) and cls.__module__ == records.__name__
] + [Actor]
VALUE_ALIASES = {name: alias for name, alias in vars(vocab).items() if name.endswith("Value")}


@pytest.mark.parametrize("name", sorted(VALUE_ALIASES))
def test_each_literal_of_values_is_its_enum(name: str) -> None:
    members = getattr(vocab, name.removesuffix("Value"))
    assert typing.get_args(VALUE_ALIASES[name]) == tuple(m.value for m in members)


def _named(tp: Any) -> set[Any]:
    args = typing.get_args(tp)
    return {tp} if not args else {tp, *(n for a in args for n in _named(a))}


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_help_shows_what_each_field_accepts_never_any(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    for name, parameter in inspect.signature(cls).parameters.items():
        accepted = parameter.annotation
        assert accepted is not inspect.Parameter.empty, f"{cls.__name__}.{name}"
        assert Any not in _named(accepted), f"{cls.__name__}.{name}"
        kept = hints[name]
        enums = {t for t in _named(kept) if isinstance(t, type) and issubclass(t, enum.Enum)}
        for member_type in enums:  # an enum field also takes the enum's values, as a Literal
            assert VALUE_ALIASES[f"{member_type.__name__}Value"] in _named(accepted), f"{cls.__name__}.{name}"
        if typing.get_origin(kept) is tuple:  # a tuple is kept, any sequence accepted
            assert typing.get_origin(accepted) is Sequence, f"{cls.__name__}.{name}"


def test_values_and_lists_are_kept_as_members_and_tuples() -> None:
    note = RuptureNote(
        noted_on=date(2026, 3, 9), kind="withdrawal", markers=["denial"], likely_cause="other", repairs=[]
    )
    assert note.markers == (RuptureMarker.DENIAL,)
    assert type(note.markers) is tuple
    assert (
        Session(held_on=date(2026, 3, 9), modality="video", attendance="attended").modality is Modality.VIDEO
    )


@pytest.mark.parametrize(
    ("make", "field", "rule"),
    [
        (
            lambda: Session(held_on=date(2026, 3, 9), modality="fax", attendance="attended"),
            "Session.modality",
            "enum",
        ),  # type: ignore[arg-type]
        (
            lambda: RuptureNote(
                noted_on=date(2026, 3, 9), kind="withdrawal", markers="denial", likely_cause="other"
            ),
            "RuptureNote.markers",
            "type",
        ),
        (
            lambda: RuptureNote(
                noted_on=date(2026, 3, 9), kind="withdrawal", markers=["nope"], likely_cause="other"
            ),  # type: ignore[list-item]
            "RuptureNote.markers",
            "enum",
        ),
        (lambda: GoalDraft("goal", [1]), "GoalDraft.tasks", "type"),  # type: ignore[list-item]
    ],
)
def test_wider_types_do_not_weaken_the_checks(make: Any, field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make()
    assert (refused.value.field, refused.value.rule) == (field, rule)


def _returns(method: str) -> Any:
    # every public name fetched: the package loads them on first use, so vars() holds only those used so
    # far in this process
    public = {name: getattr(alliancekit, name) for name in alliancekit.__all__}
    namespace = {**public, **vars(alliancekit.practice)}
    return typing.get_type_hints(getattr(Practice, method), namespace)["return"]


def test_a_facade_method_promises_a_record_id_exactly_when_its_command_names_one() -> None:
    for name, spec in COMMANDS.items():
        if spec.returns is Returns.OWN:
            continue  # a result of its own that carries the record (tested with the request flows)
        returned = _returns(name)
        if spec.record_id is not None:
            assert returned is RecordedWithId, name
        else:
            assert returned in (Recorded, str, list[str]), name


def test_the_record_id_is_there_on_a_first_write_and_on_its_repeat(tmp_path: Path) -> None:
    me = Actor("clin-1", "clinician", clinic_id="north")
    with open_practice(tmp_path / "p.sqlite") as practice:
        ep = practice.start_episode(me, client_ref="c-1", clinician_id="clin-1", opened_on=date(2026, 3, 2))
        consultation = Consultation(held_on=date(2026, 3, 2), modality="phone", consent=Consent(True, True))
        practice.record_consultation(me, ep, consultation)
        practice.decide_fit(me, ep, FitDecision("proceed", date(2026, 3, 2)))
        practice.agree_goals(me, ep, [GoalDraft("goal")], agreed_on=date(2026, 3, 2))
        session = Session(held_on=date(2026, 3, 9), modality="phone", attendance="attended")
        first = practice.record_session(me, ep, session, idempotency_key="k1")
        repeat = practice.record_session(me, ep, session, idempotency_key="k1")
    assert isinstance(first, RecordedWithId)
    assert isinstance(repeat, RecordedWithId)
    assert first.record_id
    assert repeat.record_id == first.record_id
    assert (first.duplicate, repeat.duplicate) == (False, True)
