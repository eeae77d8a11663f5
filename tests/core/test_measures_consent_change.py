"""``Practice.change_measures_consent``: the client's consent to measures given or withdrawn after the
consultation, through the guarded command table (event ``measures-consent-changed``, action
``change-measures-consent``, audited, idempotent, expected version). Given later, a measure about the client
is taken on and after that day, never dated before it; withdrawn, none is taken from then on (rule
``consent-measures``) and what was recorded before stays. Refused before the consultation, on a closed
episode, for the consent in force and dated before the consultation or the last change; each refusal writes
nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Consent, Purpose, Role
from alliancekit.errors import ConflictError, LifecycleError, ValidationError
from alliancekit.events.codec import SNAPSHOT_VERSION, Codec
from alliancekit.events.types import MeasuresConsentChanged
from alliancekit.fhir import export_ndjson
from alliancekit.fhir.codes import EXT_CONSENT
from alliancekit.fhir.records import NOT_EXPORTED_REASONS
from alliancekit.practice import Practice

from .conftest import (
    CANARY,
    attended,
    consultation,
    counter_ids,
    day,
    fixed_clock,
    footprint,
    new_episode,
    ors,
    proceed,
    rewrite_snapshot,
    srs,
    treated,
    unplanned_ending,
)

RULE = "consent-measures"
ADMIN = Actor("admin-1", Role.ADMINISTRATOR, "clinic-1")


def at(on: date) -> datetime:
    return datetime.combine(on, time(10), tzinfo=UTC)


def refused(practice: Practice, ep: str, call: Any, error: type[Exception] = ValidationError) -> Any:
    """``call`` is refused with ``error``, writes nothing and names no client data."""
    before = footprint(practice, ep)
    with pytest.raises(error) as raised:
        call()
    assert footprint(practice, ep) == before
    assert CANARY not in str(raised.value)
    assert "client-1" not in str(raised.value)
    return raised.value


# -- declined, then agreed -------------------------------------------------------------------------------


def test_a_client_who_agrees_later_is_measured_from_that_day_not_before(
    practice: Practice, actor: Actor
) -> None:
    ep = treated(practice, actor, measures=False)
    recorded = practice.change_measures_consent(actor, ep, True, on=day(10))
    state = practice.episode(actor, ep)
    assert (state.measures_consent, state.measures_consent_changed_on) == (True, day(10))
    assert state.version == recorded.version
    # the day before the agreement: refused, on any path that dates its measure
    error = refused(practice, ep, lambda: practice.record_session(actor, ep, attended(day(9), ors(practice))))
    assert (error.field, error.rule) == ("session.administrations[0].about", RULE)
    between = ors(practice)
    error = refused(
        practice, ep, lambda: practice.record_client_response(actor, ep, between, responded_at=at(day(9)))
    )
    assert (error.field, error.rule) == ("administration.about", RULE)
    # the day of the agreement and after: taken
    practice.record_session(actor, ep, attended(day(10), ors(practice), srs(practice)))
    practice.record_client_response(actor, ep, ors(practice), responded_at=at(day(12)))
    practice.request_administration(actor, ep, measure="ors", point="between")
    practice.kiosk_code(actor, ep, measure="ors", point="between")
    assert set(practice.episode(actor, ep).latest_scores) == {"ors", "srs"}
    (changed,) = [e for e in practice.timeline(actor, ep) if isinstance(e.event, MeasuresConsentChanged)]
    assert (changed.event.measures, changed.event.changed_on, changed.seq) == (
        True,
        day(10),
        recorded.version,
    )


def test_requests_wait_for_the_agreement(practice: Practice, actor: Actor) -> None:
    ep = treated(practice, actor, measures=False)
    error = refused(practice, ep, lambda: practice.request_administration(actor, ep, measure="ors"))
    assert (error.field, error.rule) == ("measure", RULE)
    practice.change_measures_consent(actor, ep, True, on=day(3))
    practice.request_administration(actor, ep, measure="ors")


# -- agreed, then withdrawn ------------------------------------------------------------------------------


def test_a_withdrawal_stops_measuring_and_keeps_what_was_recorded(practice: Practice, actor: Actor) -> None:
    ep = treated(practice, actor, measures=True)
    first = practice.record_session(actor, ep, attended(day(7), ors(practice), srs(practice)))
    scores = dict(practice.episode(actor, ep).latest_scores)
    practice.change_measures_consent(actor, ep, False, on=day(10))
    state = practice.episode(actor, ep)
    assert (state.measures_consent, state.measures_consent_changed_on) == (False, day(10))
    assert dict(state.latest_scores) == scores  # nothing recorded is taken back
    for on in (day(10), day(11), day(9)):  # from then on; nor a late entry of an earlier measure
        session = attended(on, ors(practice))
        error = refused(practice, ep, lambda s=session: practice.record_session(actor, ep, s))
        assert (error.field, error.rule) == ("session.administrations[0].about", RULE)
        assert "withdrawn" in str(error)
    for call in (
        lambda: practice.request_administration(actor, ep, measure="ors"),
        lambda: practice.kiosk_code(actor, ep, measure="ors"),
        lambda: practice.record_client_response(actor, ep, ors(practice), responded_at=at(day(11))),
    ):
        assert refused(practice, ep, call).rule == RULE
    # sessions go on without measures
    practice.record_session(actor, ep, attended(day(14)))
    assert practice.episode(actor, ep).sessions_attended == 2
    # the earlier session keeps its measures through a correction; it cannot gain one about the client
    assert first.record_id is not None
    session_id = first.record_id
    kept = attended(day(7), ors(practice), srs(practice))
    practice.correct_session(actor, ep, session_id, kept, reason="a typo in the notes")
    assert dict(practice.episode(actor, ep).latest_scores) == scores
    practice.correct_session(
        actor, ep, session_id, attended(day(7), ors(practice)), reason="srs keyed in error"
    )
    more = attended(day(7), ors(practice), srs(practice))
    error = refused(
        practice, ep, lambda: practice.correct_session(actor, ep, session_id, more, reason="again")
    )
    assert (error.field, error.rule) == ("session.administrations[1].about", RULE)


def test_given_again_after_a_withdrawal_measures_from_the_new_day(practice: Practice, actor: Actor) -> None:
    ep = treated(practice, actor, measures=True)
    practice.change_measures_consent(actor, ep, False, on=day(5))
    practice.change_measures_consent(actor, ep, True, on=day(8))
    error = refused(practice, ep, lambda: practice.record_session(actor, ep, attended(day(7), ors(practice))))
    assert error.rule == RULE
    practice.record_session(actor, ep, attended(day(8), ors(practice)))


# -- refusals --------------------------------------------------------------------------------------------


def test_before_the_consultation_there_is_no_consent_to_change(practice: Practice, actor: Actor) -> None:
    ep = new_episode(practice, actor)
    error = refused(
        practice, ep, lambda: practice.change_measures_consent(actor, ep, True, on=day(0)), LifecycleError
    )
    assert error.rule == "consultation-missing"
    practice.record_consultation(actor, ep, consultation(day(0)))
    practice.change_measures_consent(actor, ep, False, on=day(0))  # in the consultation stage, once recorded


def test_a_closed_episode_keeps_its_consent(practice: Practice, actor: Actor) -> None:
    ep = treated(practice, actor, measures=True)
    practice.close_episode(actor, ep, unplanned_ending(day(5)))
    error = refused(
        practice, ep, lambda: practice.change_measures_consent(actor, ep, False, on=day(6)), LifecycleError
    )
    assert error.rule == "episode-closed"


@pytest.mark.parametrize(
    ("measures", "days", "rule"),
    [
        (True, 5, "same-consent"),  # already in force
        (False, -1, "date-order"),  # before the consultation (day 0)
        (False, 0, None),  # the day of the consultation: taken
    ],
)
def test_a_change_of_consent_is_checked(
    practice: Practice, actor: Actor, measures: bool, days: int, rule: str | None
) -> None:
    ep = treated(practice, actor, measures=True)
    on = day(days)
    if rule is None:
        practice.change_measures_consent(actor, ep, measures, on=on)
        return
    error = refused(
        practice, ep, lambda: practice.change_measures_consent(actor, ep, measures, on=on), LifecycleError
    )
    assert error.rule == rule


@pytest.mark.parametrize(("days", "taken"), [(5, False), (6, True)])
def test_a_change_is_not_dated_before_the_last_one(
    practice: Practice, actor: Actor, days: int, taken: bool
) -> None:
    ep = treated(practice, actor, measures=True)
    practice.change_measures_consent(actor, ep, False, on=day(6))

    def change() -> object:
        return practice.change_measures_consent(actor, ep, True, on=day(days))

    if taken:
        change()
        assert practice.episode(actor, ep).measures_consent is True
    else:
        assert refused(practice, ep, change, LifecycleError).rule == "date-order"


def test_the_input_is_checked_before_anything_is_read(practice: Practice, actor: Actor) -> None:
    ep = treated(practice, actor, measures=True)
    error = refused(practice, ep, lambda: practice.change_measures_consent(actor, ep, "no", on=day(5)))  # type: ignore[arg-type]
    assert (error.field, error.rule) == ("measures", "type")


# -- the guarded path: audit, idempotency, expected version, the batch --------------------------------------


def test_the_change_is_audited_idempotent_and_versioned(practice: Practice, actor: Actor) -> None:
    ep = treated(practice, actor, measures=False)
    version = practice.episode(actor, ep).version
    with pytest.raises(ConflictError):
        practice.change_measures_consent(actor, ep, True, on=day(5), expected_version=version - 1)
    first = practice.change_measures_consent(
        actor, ep, True, on=day(5), idempotency_key="agreed-by-phone", expected_version=version
    )
    again = practice.change_measures_consent(actor, ep, True, on=day(5), idempotency_key="agreed-by-phone")
    assert (first.version, first.duplicate, again.version, again.duplicate) == (
        version + 1,
        False,
        version + 1,
        True,
    )
    assert practice.episode(actor, ep).version == version + 1
    entries = [a for a in practice.audit_entries(ADMIN) if a.action == "change-measures-consent"]
    assert [(a.record_id, a.outcome) for a in entries] == [(ep, "allowed"), (ep, "replayed")]


def test_the_batch_takes_a_change_of_consent(practice: Practice, actor: Actor) -> None:
    no = Consent(treatment=True, measures=False)
    with practice.batch(size=100) as batch:
        ep = batch.start_episode(actor, client_ref="client-1", clinician_id=actor.id, opened_on=day(0))
        batch.record_consultation(actor, ep, attrs.evolve(consultation(day(0)), consent=no))
        batch.decide_fit(actor, ep, proceed(day(1)))
        batch.change_measures_consent(actor, ep, True, on=day(3))
        with pytest.raises(ValidationError) as raised:
            batch.record_session(actor, ep, attended(day(2), ors(practice)))
        assert raised.value.rule == RULE
        batch.record_session(actor, ep, attended(day(3), ors(practice)))
    assert set(practice.episode(actor, ep).latest_scores) == {"ors"}


# -- stores written before the change could be recorded (snapshot shape 6) ----------------------------------


def test_a_shape_6_snapshot_upcasts_to_no_change(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = treated(p, actor, measures=False)
    rewrite_snapshot(path, ep, 6, "measures_consent_changed_on")
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        stored = p.store.load_snapshot(ep)
        assert stored is not None
        assert Codec.decode_state(stored.state_json) is None
        upcast = json.loads(Codec.upcast_state(stored.state_json, p.store.load_events(ep)))
        assert (upcast["_v"], upcast["measures_consent_changed_on"]) == (SNAPSHOT_VERSION, None)
        assert SNAPSHOT_VERSION == 9
        assert p.verify(ADMIN).ok
        p.change_measures_consent(actor, ep, True, on=day(4))
        stored = p.store.load_snapshot(ep)
        assert stored is not None
        assert json.loads(stored.state_json)["measures_consent_changed_on"] == day(4).isoformat()
        assert p.verify(ADMIN).ok


def test_the_readable_timeline_names_the_change(
    tmp_path: Path, actor: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = treated(p, actor, measures=True)
        p.change_measures_consent(actor, ep, False, on=day(4))
        p.change_measures_consent(actor, ep, True, on=day(5))
    assert main(["episode", "show", "--db", str(path), ep]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "consent to measures" in line]
    assert [("withdrawn" in line, "given" in line) for line in lines] == [(True, False), (False, True)]


# -- the FHIR export: a Consent per change --------------------------------------------------------------


def test_the_fhir_export_writes_each_change_as_a_consent(tmp_path: Path, actor: Actor) -> None:
    """The consultation Encounter still says what was given there; each later change is a Consent (the
    one in force ``active``, the one it replaced ``inactive`` with its period ended), and is no longer
    counted as not exported."""
    path = tmp_path / "p.sqlite"
    records = Actor("records", Role.SUPERVISOR, "clinic-1", Purpose.TREATMENT)
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = treated(p, actor, measures=False)
        p.change_measures_consent(actor, ep, True, on=day(3))
        p.record_session(actor, ep, attended(day(7), ors(p)))
        p.change_measures_consent(actor, ep, False, on=day(8))
        result = export_ndjson(p, records, tmp_path / "bulk")
    assert result.not_exported == {}
    assert "measures-consent-changed" not in NOT_EXPORTED_REASONS
    encounters = [
        json.loads(line) for line in (tmp_path / "bulk" / "Encounter.ndjson").read_text().splitlines()
    ]
    given = [
        part["valueBoolean"]
        for encounter in encounters
        for extension in encounter.get("extension", ())
        if extension["url"] == EXT_CONSENT
        for part in extension["extension"]
        if part["url"] == "measures"
    ]
    assert given == [False]
    consents = [json.loads(line) for line in (tmp_path / "bulk" / "Consent.ndjson").read_text().splitlines()]
    told = [(c["status"], c["provision"]["type"], c["provision"]["period"], c["dateTime"]) for c in consents]
    assert told == [
        ("inactive", "permit", {"start": day(3).isoformat(), "end": day(8).isoformat()}, day(3).isoformat()),
        ("active", "deny", {"start": day(8).isoformat()}, day(8).isoformat()),
    ]
    assert {o["type"]: o["count"] for o in result.manifest["output"]}["Consent"] == 2


@pytest.mark.parametrize(("classes", "shared"), [(["consultation"], False), (["sessions"], True)])
def test_a_lockbox_on_the_consultation_withholds_the_change(
    practice: Practice, actor: Actor, classes: list[str], shared: bool
) -> None:
    ep = treated(practice, actor, measures=True)
    practice.change_measures_consent(actor, ep, False, on=day(3))
    client = Actor("client-1", Role.CLIENT, "clinic-1")
    practice.set_lockbox(client, ep, scope="class", classes=classes, on=day(4))
    record = practice.shared_record(actor, ep, recipient="hospital")
    types = {entry.type for entry in record.entries}
    assert ("measures-consent-changed" in types, "consultation-recorded" in types) == (shared, shared)
