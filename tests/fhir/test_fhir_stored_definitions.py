"""A measure's definition is stored with the data, so an export stays complete after its plugin is removed:
the Questionnaire (and the Observations' codes) come from the stored definition, equal to the plugin's."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

from alliancekit import open_practice
from alliancekit.demo.measures import administration
from alliancekit.domain import Actor, AdministrationTiming, Attendance, Modality, Purpose, Role, Session
from alliancekit.fhir import episode_bundle
from alliancekit.plugins.manager import make_plugin_host

from .conftest import CLINIC, cli_with_k10, small_practice

K10 = make_plugin_host(load_entry_points=True, allow=["k10"])
WITHOUT_K10 = make_plugin_host(load_entry_points=False)
K10_QUESTIONNAIRE = "https://alliancekit.dev/fhir/Questionnaire/k10|1.0"
EXPORTER = Actor("records", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)


def _with_k10(path: Path) -> str:
    first_open, actor, ep = small_practice(path)
    first_open.close()
    with open_practice(path, plugins=K10) as practice:
        registry = practice.plugins.measures()
        for day, seed in ((3, 3), (10, 4)):
            k10 = administration(registry, "k10", AdministrationTiming.START, 0.5, random.Random(seed))
            practice.record_session(
                actor,
                ep,
                Session(
                    held_on=date(2025, 2, day),
                    modality=Modality.PHONE,
                    attendance=Attendance.ATTENDED,
                    administrations=(k10,),
                ),
            )
    return ep


def _questionnaires(directory: Path) -> dict[str, dict[str, Any]]:
    lines = (directory / "Questionnaire.ndjson").read_text().splitlines()
    return {f"{q['url']}|{q['version']}": q for q in map(json.loads, lines)}


def test_the_definition_is_stored_once_with_the_first_commit_that_uses_it(tmp_path: Path) -> None:
    _with_k10(tmp_path / "p.sqlite")
    with open_practice(tmp_path / "p.sqlite", plugins=K10) as practice:
        stored = practice.measure_definitions(EXPORTER)
        registered = practice.plugins.measures().get("k10", "1.0")
    assert [(m.id, m.version) for m in stored if m.id == "k10"] == [("k10", "1.0")]
    [k10] = [m for m in stored if m.id == "k10"]
    assert dict(k10.definition) == dict(registered.definition)


def test_reading_the_stored_definitions_is_audited_as_part_of_the_export(tmp_path: Path) -> None:
    ep = _with_k10(tmp_path / "p.sqlite")
    with open_practice(tmp_path / "p.sqlite", plugins=K10) as practice:
        before = len(practice.audit_entries(Actor("aud", Role.ADMINISTRATOR, CLINIC)))
        episode_bundle(practice, EXPORTER, ep)  # every measure registered: no stored definition is read
        entries = practice.audit_entries(Actor("aud", Role.ADMINISTRATOR, CLINIC))[before:]
    assert "measure-definitions" not in {e.record_type for e in entries}
    with open_practice(tmp_path / "p.sqlite", plugins=WITHOUT_K10) as practice:
        bundle = episode_bundle(practice, EXPORTER, ep)
        entries = practice.audit_entries(Actor("aud", Role.ADMINISTRATOR, CLINIC))
    read = [e for e in entries if e.record_type == "measure-definitions"]
    assert [(e.action, e.purpose, e.actor_id, e.outcome) for e in read] == [
        ("export-fhir", "treatment", "records", "allowed")
    ]
    names = {e["resource"].get("url", "") + "|" + e["resource"].get("version", "") for e in bundle["entry"]}
    assert K10_QUESTIONNAIRE in names


def test_an_export_without_the_plugin_is_complete_and_equal(tmp_path: Path) -> None:
    db = tmp_path / "practice.sqlite"
    _with_k10(db)
    common = ("export", "fhir", "--db", str(db), "--clinic", CLINIC, "--all")
    whole = cli_with_k10(*common, "--out", str(tmp_path / "with"), autoload=True)
    assert whole.returncode == 0, whole.stderr
    without = cli_with_k10(*common, "--out", str(tmp_path / "without"), autoload=False)
    assert without.returncode == 0, without.stderr
    assert "warning" not in without.stderr
    assert "incomplete" not in without.stderr
    with_plugin, without_plugin = _questionnaires(tmp_path / "with"), _questionnaires(tmp_path / "without")
    assert K10_QUESTIONNAIRE in without_plugin
    assert without_plugin[K10_QUESTIONNAIRE] == with_plugin[K10_QUESTIONNAIRE]
    # The Observations keep the definition's codes and band labels too: the same resources either way.
    for name in ("Observation.ndjson", "QuestionnaireResponse.ndjson"):
        assert (tmp_path / "without" / name).read_text() == (tmp_path / "with" / name).read_text()
