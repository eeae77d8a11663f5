"""``alliancekit import fhir`` and the client's consent to measures: the consultation ``Encounter``'s consent
extension is recorded as given, so the scores of a client whose export says they declined measures are
refused (rule ``consent-measures``, a row error naming the field): the import stops at that episode, as at
any unit the library refuses, and writes nothing of it. A history whose client consented comes back with
its scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.fhir import episode_bundle
from alliancekit.fhir.codes import EXT_CONSENT

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
