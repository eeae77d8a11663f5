"""``alliancekit audit show`` says whom each export went to: the ``to`` column (``(unnamed)`` when the export
named no recipient, ``-`` for entries that are no export) and the ``recipient`` field of its JSON."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from alliancekit import Actor, Role, open_practice
from alliancekit.cli.main import main
from alliancekit.testing.concurrency import active_episode


def _run(*argv: str) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(list(argv)) == 0
    return out.getvalue()


def test_audit_show_lists_the_recipient_of_each_export(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite"
    with open_practice(db) as practice:
        ep = active_episode(practice, Actor("clin-1", Role.CLINICIAN, "north"))
    common = ["export", "fhir", "--db", str(db), "--episode", ep, "--purpose", "quality-improvement"]
    _run(*common, "--out", str(tmp_path / "to-x.json"), "--recipient", "hospital-x")
    _run(*common, "--out", str(tmp_path / "to-anyone.json"))
    entries = json.loads(_run("audit", "show", "--db", str(db), "--json"))["entries"]
    exports = [(e["action"], e["recipient"]) for e in entries if e["record_type"] == "episode"]
    assert ("export-fhir", "hospital-x") in exports
    assert ("export-fhir", "(unnamed)") in exports
    assert {e["recipient"] for e in entries if not e["action"].startswith("export")} == {""}
    table = _run("audit", "show", "--db", str(db)).splitlines()
    header = table[0].split()
    assert header[header.index("client") + 1] == "to"
    rows = [line.split() for line in table[2:-1]]  # after the header and its rule, before the count
    assert {row[-2] for row in rows if "export-fhir" in row} == {"hospital-x", "(unnamed)"}
    assert {row[-2] for row in rows if "export-fhir" not in row} == {"-"}
