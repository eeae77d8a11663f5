"""``alliancekit import fhir`` and a Consent of another system filed under an episode (a research or
treatment consent a FHIR server holds beside alliancekit's export): it is no consent to measures, so it is
left alone, as the import leaves alone every resource it does not map (an Observation of no alliancekit
code, a CarePlan that is no maintenance plan, a resource of a type it does not read), and the report notes
it (file and line, field, rule, never its values). The episode it is filed under still comes back whole.
A Consent that claims alliancekit's ``consent-policy`` with a code alliancekit does not have is an error,
as every such claim is. SQLite files on disk, NDJSON and Bundle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.fhir.codes import CONSENT_POLICY, CONSENT_SCOPE
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import ImportResult, run_import

from .test_import_fhir_consent import _changed
from .test_import_fhir_order import CLINIC, Clock, _day, _episode, _exported, _held

#: A value of the other system's Consent that no note or error may echo.
CANARY = "canary-elsewhere-7d1f"


def _linked_by_extension(ours: dict[str, Any]) -> dict[str, Any]:
    return {"extension": ours["extension"][:1]}  # HL7's workflow-episodeOfCare, as alliancekit writes it


def _linked_by_provision(ours: dict[str, Any]) -> dict[str, Any]:
    return {"provision": {"type": "permit", "data": ours["provision"]["data"]}}


#: How another system's Consent names the episode, and what it is consent to (its policy).
FOREIGN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "another policyRule, episode extension": lambda ours: {
        **_linked_by_extension(ours),
        "policyRule": {"coding": [{"system": f"http://elsewhere.example/{CANARY}", "code": CANARY}]},
    },
    "another policyRule, provision.data": lambda ours: {
        **_linked_by_provision(ours),
        "policyRule": {"coding": [{"system": "http://elsewhere.example/policy", "code": CANARY}]},
    },
    "a policy uri only": lambda ours: {
        **_linked_by_extension(ours),
        "policy": [{"uri": f"http://elsewhere.example/{CANARY}"}],
    },
}


def _foreign(ours: dict[str, Any], case: str) -> dict[str, Any]:
    """Another system's Consent about the same client and episode (a research consent, on day 2)."""
    return {
        "resourceType": "Consent",
        "id": f"elsewhere-{CANARY}",
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "research"}]},
        "category": ours["category"],
        "patient": ours["patient"],
        "dateTime": _day(2).isoformat(),
        "provision": {"type": "deny", "period": {"start": _day(2).isoformat()}},
        **FOREIGN[case](ours),
    }


def _with(source: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Add ``change(first alliancekit Consent)`` to the source, after its own Consents; its row."""
    if source.is_dir():
        path = source / "Consent.ndjson"
        consents = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
        consents.append(change(consents[0]))
        path.write_text("".join(json.dumps(c) + "\n" for c in consents), "utf-8")
        return len(consents)
    bundle = json.loads(source.read_text("utf-8"))
    ours = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Consent")
    added = change(ours["resource"])
    bundle["entry"].append({**ours, "fullUrl": f"urn:uuid:{added['id']}", "resource": added})
    source.write_text(json.dumps(bundle), "utf-8")
    return len(bundle["entry"])


def _import(source: Path, db: Path) -> ImportResult:
    later = Clock()
    later.to(_day(100))
    with open_practice(db, clock=later) as practice:
        return run_import(
            practice, FhirSource(source, practice.plugins.measures()), clinic_id=CLINIC, source_id="x"
        )


@pytest.mark.parametrize("case", sorted(FOREIGN))
@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_another_systems_consent_is_left_alone_and_its_episode_comes_back_whole(
    form: str, case: str, tmp_path: Path
) -> None:
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(20))
        _changed(source, ep)
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    row = _with(exported, lambda ours: _foreign(ours, case))
    result = _import(exported, tmp_path / "imported.sqlite")
    assert (result.errors, result.written) == ((), 1)
    (note,) = [n for n in result.notes if "Consent" in n]
    where = "Consent.ndjson" if form == "ndjson" else exported.name
    assert note.startswith(f"{where} line {row}: Consent.policyRule: other-policy ")
    assert CANARY not in note
    assert "client-1" not in note
    with open_practice(tmp_path / "imported.sqlite") as imported:
        assert _held(imported) == before  # the same consent in force, every change, the same sessions


def test_a_consent_claiming_alliancekits_policy_with_a_code_it_does_not_have_is_an_error(
    tmp_path: Path,
) -> None:
    """A claim to be alliancekit's that is not: an error at its row (rule ``enum``), never its value; the
    import writes nothing."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(20))
        _changed(source, ep)
        exported = _exported(source, tmp_path / "export", "ndjson")
    policy = {"coding": [{"system": CONSENT_POLICY, "code": CANARY}]}
    row = _with(exported, lambda ours: {**_foreign(ours, "a policy uri only"), "policyRule": policy})
    result = _import(exported, tmp_path / "imported.sqlite")
    (error,) = result.errors
    assert (error.row, error.field, error.rule) == (row, "Consent.policyRule", "enum")
    assert CANARY not in str(error)
    assert result.written == 0
