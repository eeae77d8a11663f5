"""``alliancekit import fhir`` and another participant's consent to measures: each change is a Consent of
the export naming the participant (a RelatedPerson, in the consent-about extension), replayed through
``change_measures_consent(..., participant=...)`` in the order it was stored, so the episode comes back with
every participant's consent in force and its history, and a measure about a participant the source dates
while their consent was withdrawn is refused as it would be live. A Consent naming no participant of the
episode is a row error naming field and rule, never the reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Practice, open_practice
from alliancekit.domain import Attendance, Consent, Modality, Participant, Session
from alliancekit.errors import ValidationError
from alliancekit.events.types import MeasuresConsentChanged
from alliancekit.fhir.codes import EXT_CONSENT_ABOUT
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import run_import

from .test_import_fhir_consent import _consents, _without_provenance
from .test_import_fhir_order import CLINIC as CLINIC_O
from .test_import_fhir_order import ME, READER, Clock, _day, _episode, _exported, _held, _imported
from .test_import_fhir_round_trip import START, _administration

#: The partner's host reference, and a value a bad Consent holds: no error may echo either.
PARTNER = "partner-ref-71fa"
CANARY = "canary-participant-4b0d"


def _session(p: Practice, on: Any, *, partner: bool) -> Session:
    """The client's ORS, and the partner's own when ``partner``."""
    mine = _administration(p, "ors", START, 0.4)
    admins = (mine, attrs.evolve(mine, about=PARTNER)) if partner else (mine,)
    return Session(on, Modality.VIDEO, Attendance.ATTENDED, admins, attended_by=("client-1", PARTNER))


def _with_partner(p: Practice, ep: str) -> None:
    """The partner joins consenting; measured; withdraws; the client withdraws and agrees again; the partner
    agrees again and is measured; withdraws again."""
    yes = Consent(treatment=True, measures=True)
    p.add_participant(ME, ep, Participant(PARTNER, "partner", yes), added_on=_day(1))
    p.record_session(ME, ep, _session(p, _day(3), partner=True))
    p.change_measures_consent(ME, ep, False, on=_day(5), participant=PARTNER)
    p.change_measures_consent(ME, ep, False, on=_day(6))
    p.record_session(ME, ep, Session(_day(7), Modality.VIDEO, Attendance.ATTENDED))
    p.change_measures_consent(ME, ep, True, on=_day(8))
    p.change_measures_consent(ME, ep, True, on=_day(9), participant=PARTNER)
    p.record_session(ME, ep, _session(p, _day(10), partner=True))
    p.change_measures_consent(ME, ep, False, on=_day(12), participant=PARTNER)


def _late_withdrawal(p: Practice, ep: str) -> None:
    """A session measuring the partner on day 8, then their withdrawal dated day 6, recorded after it."""
    yes = Consent(treatment=True, measures=True)
    p.add_participant(ME, ep, Participant(PARTNER, "partner", yes), added_on=_day(1))
    p.record_session(ME, ep, _session(p, _day(8), partner=True))
    p.change_measures_consent(ME, ep, False, on=_day(6), participant=PARTNER)


def _source(tmp_path: Path, form: str, history: Any = _with_partner) -> tuple[Path, Any]:
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(20))
        history(source, ep)
        return _exported(source, tmp_path / "export", form), _held(source)


def _run(source: Path, tmp_path: Path) -> Any:
    later = Clock()
    later.to(_day(100))
    practice = open_practice(tmp_path / "imported.sqlite", clock=later)
    result = run_import(
        practice, FhirSource(source, practice.plugins.measures()), clinic_id=CLINIC_O, source_id="x"
    )
    return practice, result


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_participants_changes_come_back_exactly(form: str, tmp_path: Path) -> None:
    exported, before = _source(tmp_path, form)
    after = _imported(exported, tmp_path)
    assert after == before
    partner = after[0]["participants"][PARTNER]
    assert (partner.measures_consent, partner.measures_consent_changed_on) == (False, _day(12))
    assert (after[0]["measures_consent"], after[0]["measures_consent_changed_on"]) == (True, _day(8))
    with open_practice(tmp_path / "imported.sqlite") as imported:
        (row,) = imported.caseload(READER)
        changes = [
            (e.event.participant, e.event.measures, e.event.changed_on)
            for e in imported.timeline(READER, row.episode_id)
            if isinstance(e.event, MeasuresConsentChanged)
        ]
        assert changes == [
            (PARTNER, False, _day(5)),
            (None, False, _day(6)),
            (None, True, _day(8)),
            (PARTNER, True, _day(9)),
            (PARTNER, False, _day(12)),
        ]
        # withdrawn in the imported episode as in the source: the partner is not measured now
        with pytest.raises(ValidationError) as refused:
            imported.record_session(ME, row.episode_id, _session(imported, _day(21), partner=True))
        assert (refused.value.field, refused.value.rule) == (
            "session.administrations[1].about",
            "consent-measures",
        )
        imported.record_session(ME, row.episode_id, _session(imported, _day(21), partner=False))


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_partners_withdrawal_recorded_after_a_later_session_keeps_its_measures(
    form: str, tmp_path: Path
) -> None:
    exported, before = _source(tmp_path, form, _late_withdrawal)
    assert _imported(exported, tmp_path) == before


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_partners_measure_dated_while_withdrawn_is_refused_as_live(form: str, tmp_path: Path) -> None:
    """Without Provenance the day's order is by day: the withdrawal (day 6) before the session (day 8),
    whose measure about the partner the rules then refuse; nothing of the episode is written."""
    exported, _ = _source(tmp_path, form, _late_withdrawal)
    _without_provenance(exported)
    practice, result = _run(exported, tmp_path)
    with practice:
        (error,) = result.errors
        assert (error.field, error.rule) == ("session.administrations[1].about", "consent-measures")
        assert PARTNER not in str(error)
        assert result.written == 0
        assert practice.caseload(READER, include_closed=True) == []


def test_a_second_import_writes_nothing(tmp_path: Path) -> None:
    exported, _ = _source(tmp_path, "ndjson")
    practice, first = _run(exported, tmp_path)
    with practice:
        assert first.errors == ()
        (row,) = practice.caseload(READER)
        version = practice.episode(READER, row.episode_id).version
        again = run_import(
            practice, FhirSource(exported, practice.plugins.measures()), clinic_id=CLINIC_O, source_id="y"
        )
        assert (again.errors, again.written, again.skipped) == ((), 0, first.written)
        assert practice.episode(READER, row.episode_id).version == version


def _about(change: Any) -> Any:
    """A change to the consent-about extension of a Consent."""

    def edit(resource: dict[str, Any]) -> dict[str, Any]:
        kept = [e for e in resource["extension"] if e["url"] != EXT_CONSENT_ABOUT]
        return {**resource, "extension": kept + change}

    return edit


#: A participant's Consent another system could write badly: (change, field, rule).
BAD = {
    "a participant the episode does not have": (
        _about(
            [
                {
                    "url": EXT_CONSENT_ABOUT,
                    # in the host's system (one in another system is refused before: other-system)
                    "valueReference": {
                        "identifier": {"system": "urn:alliancekit:host:participant", "value": CANARY}
                    },
                }
            ]
        ),
        "participant",
        "participant-not-in-episode",
    ),
    "a participant named without an identifier": (
        _about([{"url": EXT_CONSENT_ABOUT, "valueReference": {"reference": f"RelatedPerson/{CANARY}"}}]),
        "Consent.extension[consent-about]",
        "reference",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_consent_of_no_participant_is_a_row_error_never_naming_them(case: str, tmp_path: Path) -> None:
    change, field, rule = BAD[case]
    exported, _ = _source(tmp_path, "ndjson")
    consents = _consents(exported)
    assert EXT_CONSENT_ABOUT in {e["url"] for e in consents[0]["extension"]}  # the partner's first change
    consents[0] = change(consents[0])
    (exported / "Consent.ndjson").write_text("".join(json.dumps(c) + "\n" for c in consents), "utf-8")
    practice, result = _run(exported, tmp_path)
    with practice:
        assert [(e.field, e.rule) for e in result.errors] == [(field, rule)]
        (error,) = result.errors
        for value in (CANARY, PARTNER, "client-1"):
            assert value not in str(error)
        assert result.written == 0
        assert practice.caseload(READER, include_closed=True) == []


def test_without_the_extension_a_consent_is_the_clients(tmp_path: Path) -> None:
    """A Consent written before participants' changes were exported (or by another system) names no one in
    consent-about: it is the client's, as it always was read."""
    exported, _ = _source(tmp_path, "ndjson")
    consents = _consents(exported)
    consents = [c for c in consents if EXT_CONSENT_ABOUT not in {e["url"] for e in c["extension"]}]
    assert len(consents) == 2
    (exported / "Consent.ndjson").write_text("".join(json.dumps(c) + "\n" for c in consents), "utf-8")
    manifest = json.loads((exported / "manifest.json").read_text("utf-8"))
    for output in manifest["output"]:
        if output["type"] == "Consent":
            output["count"] = 2
    (exported / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    practice, result = _run(exported, tmp_path)
    with practice:
        # the partner's later session measure is refused by nobody: they never withdrew here
        assert result.errors == ()
        (row,) = practice.caseload(READER)
        state = practice.episode(READER, row.episode_id)
        assert (state.measures_consent, state.participants[PARTNER].measures_consent) == (True, True)
