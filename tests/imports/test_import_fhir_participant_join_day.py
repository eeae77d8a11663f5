"""``alliancekit import fhir`` and the day another participant joined (their CareTeam entry's
``period.start``): the source's records are replayed through the same rules as live ones, so a measure
about a partner dated before the day the source says they joined is refused as it would be live
(``ValidationError``, rule ``consent-measures``, naming the field, never them), as is a session naming
them present (``participant-not-in-episode``) and a change of their
consent dated before it (``date-order``), and nothing of the episode is written; on the day they joined,
both are taken."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Practice
from alliancekit.domain import Consent, Participant

from .test_import_fhir_consent import _without_provenance
from .test_import_fhir_order import READER, _day
from .test_import_fhir_participant_consent import ME as CLINICIAN
from .test_import_fhir_participant_consent import PARTNER, _run, _session, _source


def _measured(p: Practice, ep: str) -> None:
    """The partner joins on day 1 consenting to measures, and is measured on day 3 (named present)."""
    yes = Consent(treatment=True, measures=True)
    p.add_participant(CLINICIAN, ep, Participant(PARTNER, "partner", yes), added_on=_day(1))
    p.record_session(CLINICIAN, ep, _session(p, _day(3), partner=True))


def _measured_not_present(p: Practice, ep: str) -> None:
    """As :func:`_measured`, the session naming only the client present."""
    yes = Consent(treatment=True, measures=True)
    p.add_participant(CLINICIAN, ep, Participant(PARTNER, "partner", yes), added_on=_day(1))
    session = attrs.evolve(_session(p, _day(3), partner=True), attended_by=("client-1",))
    p.record_session(CLINICIAN, ep, session)


def _withdrawn(p: Practice, ep: str) -> None:
    """The partner joins on day 1 consenting to measures, and withdraws on day 3."""
    yes = Consent(treatment=True, measures=True)
    p.add_participant(CLINICIAN, ep, Participant(PARTNER, "partner", yes), added_on=_day(1))
    p.change_measures_consent(CLINICIAN, ep, False, on=_day(3), participant=PARTNER)


def _joined_on(source: Path, day: int) -> None:
    """The source as a system that dates the partner's joining ``day`` writes it."""

    def edit(episode: dict[str, Any]) -> dict[str, Any]:
        for contained in episode.get("contained", ()):
            for member in contained.get("participant", ()):
                if member["member"].get("identifier", {}).get("value") == PARTNER:
                    member["period"] = {"start": _day(day).isoformat()}
        return episode

    if source.is_dir():
        path = source / "EpisodeOfCare.ndjson"
        lines = [json.dumps(edit(json.loads(line))) for line in path.read_text("utf-8").splitlines()]
        path.write_text("".join(line + "\n" for line in lines), "utf-8")
        return
    bundle = json.loads(source.read_text("utf-8"))
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "EpisodeOfCare":
            edit(entry["resource"])
    source.write_text(json.dumps(bundle), "utf-8")


CASES = {
    # the export names the other participants present, not the client (the Encounter's subject)
    "a session they attended": (_measured, "session.attended_by[0]", "participant-not-in-episode"),
    "a session measuring them": (
        _measured_not_present,
        "session.administrations[1].about",
        "consent-measures",
    ),
    "a change of their consent": (_withdrawn, None, "date-order"),
}


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_record_dated_the_day_before_the_partner_joined_is_refused(
    case: str, form: str, tmp_path: Path
) -> None:
    history, field, rule = CASES[case]
    exported, _ = _source(tmp_path, form, history)
    _joined_on(exported, 4)
    practice, result = _run(exported, tmp_path)
    with practice:
        (error,) = result.errors
        assert error.rule == rule
        if field is not None:
            assert error.field == field
        assert PARTNER not in str(error)
        assert result.written == 0
        assert practice.caseload(READER, include_closed=True) == []


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_record_dated_the_day_the_partner_joined_is_taken(case: str, form: str, tmp_path: Path) -> None:
    history, _, _ = CASES[case]
    exported, _ = _source(tmp_path, form, history)
    _joined_on(exported, 3)
    practice, result = _run(exported, tmp_path)
    with practice:
        assert result.errors == ()
        (row,) = practice.caseload(READER)
        assert practice.episode(READER, row.episode_id).participants[PARTNER].joined_on == _day(3)


def test_without_provenance_a_session_before_the_joining_names_no_participant_yet(tmp_path: Path) -> None:
    """Another system's source runs by day: the session (day 3) comes before the partner joins (day 4), so
    it is refused for naming someone who does not take part yet; refused all the same, writing nothing."""
    exported, _ = _source(tmp_path, "ndjson", _measured)
    _joined_on(exported, 4)
    _without_provenance(exported)
    practice, result = _run(exported, tmp_path)
    with practice:
        (error,) = result.errors
        assert error.rule == "participant-not-in-episode"
        assert PARTNER not in str(error)
        assert result.written == 0


def _late_entry(p: Practice, ep: str) -> None:
    """The partner joins on day 4; a session of day 3, the client's alone, naming no one present, is entered
    after."""
    yes = Consent(treatment=True, measures=True)
    p.add_participant(CLINICIAN, ep, Participant(PARTNER, "partner", yes), added_on=_day(4))
    session = attrs.evolve(_session(p, _day(3), partner=False), attended_by=())
    p.record_session(CLINICIAN, ep, session)


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_session_before_the_partner_joined_naming_no_one_comes_back(form: str, tmp_path: Path) -> None:
    """The export names everyone present at a session that names no one; not a participant who joined after
    its day, which the import would refuse."""
    exported, _ = _source(tmp_path, form, _late_entry)
    practice, result = _run(exported, tmp_path)
    with practice:
        assert result.errors == ()
        (row,) = practice.caseload(READER)
        assert practice.episode(READER, row.episode_id).sessions_attended == 1
