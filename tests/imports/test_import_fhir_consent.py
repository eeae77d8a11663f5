"""``alliancekit import fhir`` and the client's consent to measures: the consultation ``Encounter``'s consent
extension is recorded as given, so the scores of a client whose export says they declined measures are
refused (rule ``consent-measures``, a row error naming the field): the import stops at that episode, as at
any unit the library refuses, and writes nothing of it. A history whose client consented comes back with
its scores.

Each later change of consent to measures is a Consent of the export, replayed through
``change_measures_consent`` in the order it was stored (by day, where the source does not say): the episode
comes back with the consent in force and every change, and a measure the source dates while consent was
withdrawn is refused as it would be live. A Consent written badly is a row error naming field and rule,
never its value (another system's Consent, of a policy not alliancekit's, is left alone:
``test_import_fhir_foreign_consent``). A session a correction moved to a day before consent was given
again comes back: the export says the day it was first recorded on, and the import records it then and
corrects it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, open_practice
from alliancekit.domain import Attendance, Modality, Session
from alliancekit.errors import ValidationError
from alliancekit.events.types import MeasuresConsentChanged
from alliancekit.fhir import episode_bundle
from alliancekit.fhir.codes import CONSENT_POLICY, EXT_CONSENT, extension_url
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import run_import

from .fhir_served import as_a_server_exports
from .test_import_fhir_order import CLINIC as CLINIC_O
from .test_import_fhir_order import ME, READER, Clock, _day, _episode, _exported, _held, _imported
from .test_import_fhir_round_trip import START, _administration
from .test_import_fhir_scores import CLINICIAN, EXPORTER, _import, _latest, _practice


def _bundle_saying(tmp_path: Path, measures: bool) -> Path:
    """The exported Bundle of an episode with one scored session, its consultation's consent to measures
    set to ``measures`` (as another system's export of a client who declined would say)."""
    episode = _practice(tmp_path / "from.sqlite")
    with open_practice(tmp_path / "from.sqlite") as practice:
        bundle = episode_bundle(practice, EXPORTER, episode, purpose="treatment")
    changed = 0
    for entry in bundle["entry"]:
        for extension in entry["resource"].get("extension", ()):
            if extension["url"] == EXT_CONSENT:
                for part in extension["extension"]:
                    if part["url"] == "measures":
                        part["valueBoolean"] = measures
                        changed += 1
    assert changed == 1
    path = tmp_path / "episode.json"
    path.write_text(json.dumps(bundle), "utf-8")
    return path


@pytest.mark.parametrize("measures", [True, False])
def test_an_imported_history_keeps_its_scores_only_with_consent(tmp_path: Path, measures: bool) -> None:
    source = _bundle_saying(tmp_path, measures)
    result = _import(source, tmp_path / "to.sqlite")
    if measures:
        assert result.errors == ()
        assert set(_latest(tmp_path / "to.sqlite")) == {"phq-9", "ors", "wai-sr"}
        with open_practice(tmp_path / "to.sqlite") as practice:
            (row,) = practice.caseload(CLINICIAN)
            assert practice.episode(CLINICIAN, row.episode_id).measures_consent is True
        return
    (error,) = result.errors
    assert (error.field, error.rule) == ("session.administrations[0].about", "consent-measures")
    assert "client-scores" not in str(error)
    assert result.written == 0
    with open_practice(tmp_path / "to.sqlite") as practice:
        assert practice.caseload(CLINICIAN) == []


# -- a change of consent after the consultation: a Consent per change, replayed in order ------------------

#: A value a bad Consent holds, that no error may echo.
CANARY = "canary-consent-3c9e"


def _changed(p: Practice, ep: str) -> None:
    """A session with ORS, the client withdrawing, agreeing again, a second session, withdrawing again."""
    p.record_session(ME, ep, _scored(p, _day(3)))
    p.change_measures_consent(ME, ep, False, on=_day(5))
    p.change_measures_consent(ME, ep, True, on=_day(9))
    p.record_session(ME, ep, _scored(p, _day(10)))
    p.change_measures_consent(ME, ep, False, on=_day(12))


def _scored(p: Practice, on: date) -> Session:
    return Session(on, Modality.VIDEO, Attendance.ATTENDED, (_administration(p, "ors", START, 0.4),))


def _source(tmp_path: Path, form: str, history: Callable[[Practice, str], None] = _changed) -> Path:
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(20))
        history(source, ep)
        return _exported(source, tmp_path / "export", form)


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_withdrawal_comes_back_in_force_with_the_history_of_changes(form: str, tmp_path: Path) -> None:
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(20))
        _changed(source, ep)
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    after = _imported(exported, tmp_path)
    assert (after[0]["measures_consent"], after[0]["measures_consent_changed_on"]) == (False, _day(12))
    assert [kind for kind, _ in after[1]].count("measures-consent-changed") == 3
    assert after == before
    with open_practice(tmp_path / "imported.sqlite") as imported:
        (row,) = imported.caseload(READER)
        changes = [
            (e.event.measures, e.event.changed_on)
            for e in imported.timeline(READER, row.episode_id)
            if isinstance(e.event, MeasuresConsentChanged)
        ]
        assert changes == [(False, _day(5)), (True, _day(9)), (False, _day(12))]
        # withdrawn in the imported episode as it was in the source: no measure about the client now
        with pytest.raises(ValidationError) as refused:
            imported.record_session(ME, row.episode_id, _scored(imported, _day(21)))
        assert refused.value.rule == "consent-measures"


def _late_withdrawal(p: Practice, ep: str) -> None:
    """A session on day 8, then a withdrawal dated day 6, recorded after it (allowed live: the session was
    recorded while consent was in force)."""
    p.record_session(ME, ep, _scored(p, _day(8)))
    p.change_measures_consent(ME, ep, False, on=_day(6))


def _without_provenance(source: Path) -> None:
    """The source as another system would write it: no Provenance, so records run by day."""
    if source.is_dir():
        (source / "Provenance.ndjson").unlink()
        manifest = json.loads((source / "manifest.json").read_text("utf-8"))
        manifest["output"] = [o for o in manifest["output"] if o["type"] != "Provenance"]
        (source / "manifest.json").write_text(json.dumps(manifest), "utf-8")
        return
    bundle = json.loads(source.read_text("utf-8"))
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]
    source.write_text(json.dumps(bundle), "utf-8")


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_withdrawal_recorded_after_a_later_session_keeps_that_sessions_measures(
    form: str, tmp_path: Path
) -> None:
    """The order stored is the order replayed: the session came first, as it did live."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(20))
        _late_withdrawal(source, ep)
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    assert _imported(exported, tmp_path) == before


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_measure_dated_while_consent_was_withdrawn_is_refused_as_it_would_be_live(
    form: str, tmp_path: Path
) -> None:
    """The same records from a source that does not say when each was stored: by day, the withdrawal
    (day 6) comes before the session (day 8), whose measure the rules then refuse, as they would live;
    nothing of the episode is written."""
    source = _source(tmp_path, form, _late_withdrawal)
    _without_provenance(source)
    later = Clock()
    later.to(_day(100))
    with open_practice(tmp_path / "imported.sqlite", clock=later) as practice:
        result = run_import(
            practice, FhirSource(source, practice.plugins.measures()), clinic_id=CLINIC_O, source_id="x"
        )
        (error,) = result.errors
        assert (error.field, error.rule) == ("session.administrations[0].about", "consent-measures")
        assert result.written == 0
        assert practice.caseload(READER, include_closed=True) == []


def _imported_again(tmp_path: Path, source: Path, again: list[tuple[Path, str]]) -> None:
    """Import ``source`` (source id ``x``), then each of ``again`` (folder, source id) into the same
    practice: each writes nothing, refuses nothing, and leaves the episode's version as it was."""
    later = Clock()
    later.to(_day(100))
    with open_practice(tmp_path / "imported.sqlite", clock=later) as practice:
        first = run_import(
            practice, FhirSource(source, practice.plugins.measures()), clinic_id=CLINIC_O, source_id="x"
        )
        (row,) = practice.caseload(READER)
        version = practice.episode(READER, row.episode_id).version
        for folder, source_id in again:
            rerun = run_import(
                practice,
                FhirSource(folder, practice.plugins.measures()),
                clinic_id=CLINIC_O,
                source_id=source_id,
            )
            assert (rerun.errors, rerun.written, rerun.skipped) == ((), 0, first.written)
        assert practice.episode(READER, row.episode_id).version == version


def test_a_second_import_of_the_changes_writes_nothing(tmp_path: Path) -> None:
    source = _source(tmp_path, "ndjson")
    _imported_again(tmp_path, source, [(source, "x"), (source, "another-name")])  # the checkpoint, the keys


def test_a_servers_export_of_the_changes_writes_nothing_twice(tmp_path: Path) -> None:
    """A FHIR server gives every Consent a logical id of its own and keeps its identifier: the changes are
    recognised by the identifier, so the replay neither writes a change twice nor meets the consent already
    in force (``same-consent``)."""
    source = _source(tmp_path, "ndjson")
    served = as_a_server_exports(source, tmp_path / "served")
    assert {c["id"] for c in _consents(served)}.isdisjoint(c["id"] for c in _consents(source))
    _imported_again(tmp_path, source, [(served, "server")])


def _consents(source: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (source / "Consent.ndjson").read_text("utf-8").splitlines()]


def _provision(change: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda r: {**r, "provision": {**r["provision"], **change}}


#: A Consent another system could write, what the import says of it: (change, field, rule).
BAD_CONSENTS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str, str]] = {
    "consent to something alliancekit's policy does not have": (  # another system's is left alone
        lambda r: {**r, "policyRule": {"coding": [{"system": CONSENT_POLICY, "code": CANARY}]}},
        "Consent.policyRule",
        "enum",
    ),
    "a proposed consent, never in force": (lambda r: {**r, "status": "proposed"}, "Consent.status", "enum"),
    "neither given nor withdrawn": (
        lambda r: {**r, "provision": {k: v for k, v in r["provision"].items() if k != "type"}},
        "Consent.provision.type",
        "required",
    ),
    "on no day": (_provision({"period": {"start": "2026-02-30"}}), "Consent.provision.period.start", "date"),
    "on no day at all": (
        lambda r: {
            **{k: v for k, v in r.items() if k != "dateTime"},
            "provision": {k: v for k, v in r["provision"].items() if k != "period"},
        },
        "Consent.provision.period.start",
        "required",
    ),
    "another system's client": (
        lambda r: {**r, "patient": {"type": "Patient", "identifier": {"system": "urn:x", "value": CANARY}}},
        "Consent.patient.identifier.system",
        "other-system",
    ),
    "someone else's": (
        lambda r: {
            **r,
            "patient": {
                "type": "Patient",
                "identifier": {"system": "urn:alliancekit:host:client", "value": CANARY},
            },
        },
        "Consent.patient",
        "episode-client",
    ),
    "of no episode in the source": (
        lambda r: {
            **r,
            "extension": [{**r["extension"][0], "valueReference": {"reference": f"EpisodeOfCare/{CANARY}"}}],
        },
        "Consent.extension[workflow-episodeOfCare]",
        "reference",
    ),
    "the consent already in force": (  # the rules refuse it, as they would live
        lambda r: {**r, "provision": {**r["provision"], "type": "permit"}},
        "change_measures_consent",
        "same-consent",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONSENTS))
def test_a_bad_consent_is_a_row_error_naming_field_and_rule_never_its_value(
    case: str, tmp_path: Path
) -> None:
    change, field, rule = BAD_CONSENTS[case]
    source = _source(tmp_path, "ndjson")
    consents = _consents(source)
    consents[0] = change(consents[0])  # the first change: a withdrawal
    (source / "Consent.ndjson").write_text("".join(json.dumps(c) + "\n" for c in consents), "utf-8")
    later = Clock()
    later.to(_day(100))
    with open_practice(tmp_path / "imported.sqlite", clock=later) as practice:
        result = run_import(
            practice, FhirSource(source, practice.plugins.measures()), clinic_id=CLINIC_O, source_id="x"
        )
        assert [(e.field, e.rule) for e in result.errors] == [(field, rule)]
        (error,) = result.errors
        if rule != "same-consent":  # a refusal of the library is at the episode's row
            assert (error.row, error.message.split(":")[0]) == (1, "Consent.ndjson line 1")
        assert CANARY not in str(error)
        assert "client-1" not in str(error)
        assert result.written == 0
        assert practice.caseload(READER, include_closed=True) == []


def test_a_consent_naming_its_episode_only_in_its_provision_is_read(tmp_path: Path) -> None:
    """Another system's Consent without the workflow-episodeOfCare extension: the episode its provision is
    about is the one it belongs to."""
    source = _source(tmp_path, "ndjson")
    consents = [{k: v for k, v in c.items() if k != "extension"} for c in _consents(source)]
    (source / "Consent.ndjson").write_text("".join(json.dumps(c) + "\n" for c in consents), "utf-8")
    later = Clock()
    later.to(_day(100))
    with open_practice(tmp_path / "imported.sqlite", clock=later) as practice:
        result = run_import(
            practice, FhirSource(source, practice.plugins.measures()), clinic_id=CLINIC_O, source_id="x"
        )
        assert result.errors == ()
        (row,) = practice.caseload(READER)
        state = practice.episode(READER, row.episode_id)
        assert (state.measures_consent, state.measures_consent_changed_on) == (False, _day(12))


def _corrected_to_before_consent_again(p: Practice, ep: str) -> None:
    """The client withdraws (day 5) and agrees again (day 9); a session recorded on day 10 is corrected to
    day 7, which the library allows, keeping the measures taken with consent."""
    p.change_measures_consent(ME, ep, False, on=_day(5))
    p.change_measures_consent(ME, ep, True, on=_day(9))
    session = p.record_session(ME, ep, _scored(p, _day(10))).record_id
    p.correct_session(ME, ep, session, _scored(p, _day(7)), reason="synthetic")


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_session_corrected_to_before_consent_was_given_again_comes_back(form: str, tmp_path: Path) -> None:
    """The export carries the day the session was first recorded on (the first-held-on extension): the
    import records it on that day and corrects it, as it happened, and the episode comes back the same."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(20))
        _corrected_to_before_consent_again(source, ep)
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    assert _imported(exported, tmp_path) == before
    (tmp_path / "again").mkdir()
    _imported_again(tmp_path / "again", exported, [(exported, "again")])  # written once, refused nothing


#: The extension that says the day a session a correction moved earlier was first recorded on.
FIRST_HELD_ON = extension_url("first-held-on")


def _encounters(source: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (source / "Encounter.ndjson").read_text("utf-8").splitlines()]


def _first_held_on(encounter: dict[str, Any]) -> list[Any]:
    return [e["valueDate"] for e in encounter.get("extension", ()) if e["url"] == FIRST_HELD_ON]


@pytest.mark.parametrize("moved", [-3, -1, 0, 1])
def test_only_a_session_a_correction_moved_earlier_says_its_first_day(moved: int, tmp_path: Path) -> None:
    def history(p: Practice, ep: str) -> None:
        session = p.record_session(ME, ep, _scored(p, _day(10))).record_id
        p.correct_session(ME, ep, session, _scored(p, _day(10 + moved)), reason="synthetic")

    source = _source(tmp_path, "ndjson", history)
    (session,) = [e for e in _encounters(source) if e["period"]["start"] != _day(0).isoformat()]
    assert session["period"]["start"] == _day(10 + moved).isoformat()
    assert _first_held_on(session) == ([_day(10).isoformat()] if moved < 0 else [])


@pytest.mark.parametrize(
    ("first", "rule"), [("2026-02-30", "date"), ("same day", "date-order"), ("day before", "date-order")]
)
def test_a_first_day_that_is_no_later_day_is_an_error(first: str, rule: str, tmp_path: Path) -> None:
    source = _source(tmp_path, "ndjson", _corrected_to_before_consent_again)
    encounters = _encounters(source)
    (i, moved) = next((i, e) for i, e in enumerate(encounters) if _first_held_on(e))
    day = date.fromisoformat(moved["period"]["start"])
    value = {"same day": day.isoformat(), "day before": (day - timedelta(days=1)).isoformat()}.get(
        first, first
    )
    moved["extension"] = [
        {**e, "valueDate": value} if e["url"] == FIRST_HELD_ON else e for e in moved["extension"]
    ]
    (source / "Encounter.ndjson").write_text("".join(json.dumps(e) + "\n" for e in encounters), "utf-8")
    later = Clock()
    later.to(_day(100))
    with open_practice(tmp_path / "imported.sqlite", clock=later) as practice:
        result = run_import(
            practice, FhirSource(source, practice.plugins.measures()), clinic_id=CLINIC_O, source_id="x"
        )
        assert [(e.row, e.field, e.rule) for e in result.errors] == [
            (i + 1, "Encounter.extension[first-held-on]", rule)
        ]
        assert result.written == 0


def test_an_episode_imported_before_the_extension_is_refused_an_export_with_it_writing_nothing(
    tmp_path: Path,
) -> None:
    """An earlier release imported a session a correction moved earlier as it reads now, under the key the
    import now records its first day under: an export with the extension is refused at its row (the key
    holds another request), writing nothing; one without it imports as before (documented as breaking)."""

    def moved(p: Practice, ep: str) -> None:
        session = p.record_session(ME, ep, _scored(p, _day(10))).record_id
        p.correct_session(ME, ep, session, _scored(p, _day(7)), reason="synthetic")

    source = _source(tmp_path, "ndjson", moved)
    before = tmp_path / "before"  # the same export as an earlier release wrote it
    before.mkdir()
    for file in source.iterdir():
        (before / file.name).write_bytes(file.read_bytes())
    encounters = _encounters(before)
    for encounter in encounters:
        encounter["extension"] = [e for e in encounter["extension"] if e["url"] != FIRST_HELD_ON]
    (before / "Encounter.ndjson").write_text("".join(json.dumps(e) + "\n" for e in encounters), "utf-8")
    later = Clock()
    later.to(_day(100))
    with open_practice(tmp_path / "imported.sqlite", clock=later) as practice:
        done = []
        for folder, source_id in ((before, "before"), (source, "now"), (before, "before-again")):
            found = FhirSource(folder, practice.plugins.measures())
            result = run_import(practice, found, clinic_id=CLINIC_O, source_id=source_id)
            done.append((result.written, result.skipped, [(e.row, e.field, e.rule) for e in result.errors]))
        assert done == [(1, 0, []), (0, 0, [(1, "idempotency_key", "reused")]), (0, 1, [])]
