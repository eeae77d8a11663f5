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
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.fhir.export import Exporter
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


AUDITOR = Actor("aud", Role.ADMINISTRATOR, CLINIC)


def _ids(practice: Any) -> set[str]:
    return {e.entry_id for e in practice.audit_entries(AUDITOR)}


def _new(practice: Any, before: set[str], ep: str) -> list[tuple[str, str, str, str, str]]:
    """The entries written since ``before`` but the auditor's reads of the log, sorted (the log is listed
    by shard), the episode's id as ``ep``."""
    return sorted(
        (e.action, e.record_type, "ep" if e.record_id == ep else e.record_id, e.purpose, e.outcome)
        for e in practice.audit_entries(AUDITOR)
        if e.entry_id not in before and e.action != "read-audit"
    )


def test_the_stored_definitions_are_read_under_the_exported_episodes_entry(tmp_path: Path) -> None:
    """Without the plugin, the export's one entry is its episode's, as with the plugin: the stored
    definitions it describes the K10 by are read under that read's entry (no entry of their own)."""
    ep = _with_k10(tmp_path / "p.sqlite")
    runs = {}
    for installed, host in ((True, K10), (False, WITHOUT_K10)):
        with open_practice(tmp_path / "p.sqlite", plugins=host) as practice:
            before = _ids(practice)
            bundle = episode_bundle(practice, EXPORTER, ep)
            entries = _new(practice, before, ep)
        names = {
            e["resource"].get("url", "") + "|" + e["resource"].get("version", "") for e in bundle["entry"]
        }
        runs[installed] = (entries, K10_QUESTIONNAIRE in names)
    assert runs[False] == runs[True] == ([("export-fhir", "episode", "ep", "treatment", "allowed")], True)


def test_a_bulk_export_reads_them_under_its_episodes_entries(tmp_path: Path) -> None:
    """A bulk export of the episode twice over (one Exporter: the definitions are read at most once) writes
    exactly its episodes' entries, and the K10's Questionnaire once, from the stored definition."""
    ep = _with_k10(tmp_path / "p.sqlite")
    with open_practice(tmp_path / "p.sqlite", plugins=WITHOUT_K10) as practice:
        before = _ids(practice)
        export_ndjson(practice, EXPORTER, tmp_path / "out", episode_ids=[ep, ep])
        entries = _new(practice, before, ep)
    assert entries == [("export-fhir-bulk", "episode", "ep", "treatment", "allowed")] * 2
    assert list(_questionnaires(tmp_path / "out")).count(K10_QUESTIONNAIRE) == 1


def test_questionnaires_asked_for_before_any_episode_read_them_audited_as_the_export(tmp_path: Path) -> None:
    """No episode read covers them yet: the stored definitions are read through
    ``Practice.measure_definitions``, its one entry the export's."""
    _with_k10(tmp_path / "p.sqlite")
    with open_practice(tmp_path / "p.sqlite", plugins=WITHOUT_K10) as practice:
        before = _ids(practice)
        [questionnaire] = Exporter(practice, EXPORTER).questionnaires([("k10", "1.0")])
        entries = _new(practice, before, "")
    assert f"{questionnaire['url']}|{questionnaire['version']}" == K10_QUESTIONNAIRE
    assert entries == [("export-fhir", "measure-definitions", "(stored)", "treatment", "allowed")]


def test_an_export_without_the_plugin_is_complete_and_equal(tmp_path: Path) -> None:
    db = tmp_path / "practice.sqlite"
    _with_k10(db)
    own_system = ("--identifier-system", "https://clinic.example.org/ids")  # no placeholder warning
    common = ("export", "fhir", "--db", str(db), "--clinic", CLINIC, "--all", *own_system)
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
