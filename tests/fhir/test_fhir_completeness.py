"""An export says what it leaves out: Questionnaires it cannot contain (a measure plugin removed) and the
records no mapping exports (addenda, statements of disagreement, lockbox directives), with the reason."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import date
from pathlib import Path

from alliancekit import open_practice
from alliancekit.demo.measures import administration
from alliancekit.domain import Actor, AdministrationTiming, Attendance, Modality, Purpose, Role, Session
from alliancekit.events.types import SessionRecorded
from alliancekit.fhir import export_ndjson
from alliancekit.fhir.records import NOT_EXPORTED_EVENT_TYPES, NOT_EXPORTED_REASONS
from alliancekit.plugins.manager import make_plugin_host

from .conftest import CLINIC, cli_with_k10, small_practice

K10 = make_plugin_host(load_entry_points=True, allow=["k10"])


def test_every_type_not_exported_has_its_reason() -> None:
    assert set(NOT_EXPORTED_REASONS) == set(NOT_EXPORTED_EVENT_TYPES)
    assert all(reason.strip() for reason in NOT_EXPORTED_REASONS.values())


def _with_k10_and_an_addendum(path: Path) -> str:
    first_open, actor, ep = small_practice(path)
    first_open.close()
    with open_practice(path, plugins=K10) as practice:
        registry = practice.plugins.measures()
        k10 = administration(registry, "k10", AdministrationTiming.START, 0.5, random.Random(3))
        practice.record_session(
            actor,
            ep,
            Session(
                held_on=date(2025, 2, 3),
                modality=Modality.PHONE,
                attendance=Attendance.ATTENDED,
                administrations=(k10,),
            ),
        )
        first = next(e.event for e in practice.timeline(actor, ep) if isinstance(e.event, SessionRecorded))
        assert isinstance(first, SessionRecorded)
        practice.add_addendum(
            actor,
            ep,
            first.session_id,
            text="synthetic addendum",
            reason="late detail",
            added_on=date(2025, 2, 4),
        )
    return ep


def test_an_export_naming_a_questionnaire_it_cannot_contain_warns_and_exits_1(tmp_path: Path) -> None:
    db = tmp_path / "practice.sqlite"
    _with_k10_and_an_addendum(db)
    # As a store from before definitions were kept, whose K10 plugin was gone when it was upgraded.
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM measure_definitions WHERE measure_id = 'k10'")
    own_system = ("--identifier-system", "https://clinic.example.org/ids")  # no placeholder warning
    common = ("export", "fhir", "--db", str(db), "--clinic", CLINIC, "--all", *own_system)
    whole = cli_with_k10(*common, "--out", str(tmp_path / "with"), autoload=True)
    assert whole.returncode == 0, whole.stderr
    assert "warning" not in whole.stderr
    assert "not exported: 1 session-addendum-added: " in whole.stderr
    without = cli_with_k10(*common, "--out", str(tmp_path / "without"), autoload=False)
    assert without.returncode == 1
    assert "Questionnaire https://alliancekit.dev/fhir/Questionnaire/k10|1.0 but cannot contain it" in (
        without.stderr
    )
    assert "synthetic" not in without.stderr + without.stdout  # never client data
    lines = (tmp_path / "without" / "QuestionnaireResponse.ndjson").read_text().splitlines()
    assert "https://alliancekit.dev/fhir/Questionnaire/k10|1.0" in {
        json.loads(n)["questionnaire"] for n in lines
    }


def test_the_json_summary_names_a_questionnaire_the_export_cannot_contain(tmp_path: Path) -> None:
    db = tmp_path / "practice.sqlite"
    _with_k10_and_an_addendum(db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM measure_definitions WHERE measure_id = 'k10'")
    common = ("export", "fhir", "--db", str(db), "--clinic", CLINIC, "--all", "--json")
    without = cli_with_k10(*common, "--out", str(tmp_path / "without"), autoload=False)
    assert without.returncode == 1
    summary = json.loads(without.stdout)  # the whole of standard output: one document
    assert summary["missing_questionnaires"] == ["https://alliancekit.dev/fhir/Questionnaire/k10|1.0"]
    assert summary["ok"] is False
    assert summary["not_exported"] == {
        "session-addendum-added": {"count": 1, "reason": NOT_EXPORTED_REASONS["session-addendum-added"]}
    }
    assert "cannot contain it" in without.stderr  # the person at the terminal is still warned
    assert "synthetic" not in without.stderr + without.stdout


def test_the_bulk_result_lists_what_was_not_exported(tmp_path: Path) -> None:
    _with_k10_and_an_addendum(tmp_path / "p.sqlite")
    actor = Actor("records", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)
    with open_practice(tmp_path / "p.sqlite", plugins=K10) as practice:
        result = export_ndjson(practice, actor, tmp_path / "bulk")
    assert result.not_exported == {"session-addendum-added": 1}
    assert result.missing_questionnaires == ()
