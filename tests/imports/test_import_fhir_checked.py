"""``import fhir`` on a real export (the demo practice's, written by ``export fhir``), edited as another
system might send it: every bad value is a row error naming the FHIR element and the rule (exit 1, the
same with ``--dry-run``), never an internal error, a usage error or the value itself, and nothing is written.

* every date the import reads, set out of the library's range (1850), one element at a time;
* a client response counted past the episode's last session;
* a client, clinician or participant named in another organisation's identifier system.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import alliancekit.imports as imports_package
from alliancekit.domain import records
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.plugins.manager import get_plugin_host

from .conftest import run

SYSTEM = "https://c.example.org/ids"
OTHER = "https://other-org.example/ids"
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
AT_SESSION = "https://alliancekit.dev/fhir/StructureDefinition/at-session"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo practice and its FHIR export (identifiers under :data:`SYSTEM`)."""
    folder = tmp_path_factory.mktemp("demo")
    db = folder / "demo.sqlite"
    assert run_quiet("demo", "--db", str(db), "--clients", "12", "--today", "2026-11-30") == 0
    out = folder / "fx"
    assert (
        run_quiet(
            "export", "fhir", "--db", str(db), "--all", "--out", str(out), "--identifier-system", SYSTEM
        )
        == 0
    )
    # in the placeholder systems: what the import reads without --identifier-system
    assert run_quiet("export", "fhir", "--db", str(db), "--all", "--out", str(folder / "plain")) == 0
    return folder


def run_quiet(*argv: str) -> int:
    from alliancekit.cli.main import main

    return main(list(argv))


def _copy(export: Path, tmp_path: Path, name: str = "fx") -> Path:
    target = tmp_path / name
    shutil.copytree(export / name, target)
    return target


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _write(path: Path, resources: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources), "utf-8")


def _dry_then_real(capsys: Any, db: Path, source: Path) -> Iterator[tuple[int, str]]:
    """``import fhir --create`` of ``source`` into a new ``db``, as a dry run then for real: each run's exit
    code and standard error."""
    for dry in (["--dry-run"], []):
        code, _, err = run(capsys, "import", "fhir", "--db", str(db), "--create", *dry, str(source))
        yield code, err


def _dates(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every string in ``node`` that starts with a date."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _dates(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _dates(value, (*path, i))
    elif isinstance(node, str) and DAY.match(node):
        yield path


def _shape(path: tuple[Any, ...]) -> str:
    """A date's element, its list indices left out: ``period.start``, ``extension.extension.valueDate``."""
    return ".".join(str(p) for p in path if not isinstance(p, int))


def _set(node: Any, path: tuple[Any, ...], value: str) -> None:
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _elements(export: Path) -> dict[tuple[str, str], list[tuple[int, tuple[Any, ...]]]]:
    """Each date element of the export (resource type, shape), and everywhere it occurs."""
    found: dict[tuple[str, str], list[tuple[int, tuple[Any, ...]]]] = {}
    for file in sorted((export / "plain").glob("*.ndjson")):
        for line, resource in enumerate(_lines(file)):
            for path in _dates(resource):
                found.setdefault((resource["resourceType"], _shape(path)), []).append((line, path))
    return found


def _errors(source: Path, *system: str) -> list[tuple[str, str, str]]:
    read = FhirSource(source, get_plugin_host().measures(), *system)
    list(read.units())
    return [(e.field, e.rule, e.message) for e in read.errors]


#: Date elements the export writes that the import does not read (the record they would date is not
#: imported, or is dated by another element): a date there changes nothing.
NOT_READ = {
    ("CarePlan", "created"),
    ("CarePlan", "period.start"),  # the maintenance plan has no day of its own: the ending's is read
    ("CarePlan", "activity.detail.scheduledPeriod.end"),  # a booster session is a day: its start
    ("Encounter", "period.end"),
    ("Goal", "statusDate"),  # a revision is dated by its Provenance, which the export writes
}


def test_every_date_element_of_an_export_out_of_range_is_a_row_error_naming_it(
    export: Path, tmp_path: Path
) -> None:
    """Each date element of a real export set to 1850 in its first resource, one at a time: a ``range``
    error of that resource naming a FHIR element of its type (the element itself where it has a date
    reader), or, for an element the import does not read, no error at all. Never an exception."""
    elements = _elements(export)
    assert ("QuestionnaireResponse", "authored") in elements  # the export is the real, full one
    assert ("Observation", "effectiveDateTime") in elements
    unread, wrong = set(), []
    for (kind, shape), places in sorted(elements.items()):
        source = _copy(export, tmp_path / f"{kind}-{shape}", "plain")
        file = source / f"{kind}.ndjson"
        resources = _lines(file)
        for line, path in places:  # in every resource that has it (a score's day is not read, a repair's is)
            value = resources[line]
            for step in path[:-1]:
                value = value[step]
            _set(resources[line], path, "1850" + value[path[-1]][4:])
        _write(file, resources)
        errors = _errors(source)
        if not errors:
            unread.add((kind, shape))
        elif not all(
            rule == "range" and re.search(rf"{kind}\.ndjson line \d+", message) and "1850" not in message
            for field, rule, message in errors
            if field.startswith(f"{kind}.")  # a review of a goal so refused also names its Goal: reference
        ) or not any(field.startswith(f"{kind}.") for field, _, _ in errors):
            wrong.append((kind, shape, [(f, r) for f, r, _ in errors]))
    assert wrong == []
    # exactly the elements listed as unread: one the import starts or stops reading is seen here
    assert unread == NOT_READ


@pytest.mark.parametrize(
    ("kind", "element", "field"),
    [
        ("Encounter", "start", "Encounter.period.start"),  # the consultation's and the sessions'
        ("EpisodeOfCare", "end", None),
        ("CarePlan", "start", "CarePlan.activity.detail.scheduledPeriod.start"),
        ("Observation", "effectiveDateTime", "Observation.effectiveDateTime"),  # repairs among them
        ("Flag", "end", "Flag.period.end"),
        ("Goal", "startDate", "Goal.startDate"),
        ("QuestionnaireResponse", "authored", "QuestionnaireResponse.authored"),
        ("Provenance", "occurredDateTime", "Provenance.occurredDateTime"),
    ],
)
def test_the_cli_reports_an_out_of_range_date_as_a_row_error_with_and_without_dry_run(
    export: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    element: str,
    field: str | None,
) -> None:
    """The review's edit (every ``"<element>":"2026`` of the file set to 1850): exit 1 and ``row N,
    <FHIR element>: range`` in both runs, never exit 2 naming a record's attribute, and nothing written."""
    source = _copy(export, tmp_path, "plain")
    file = source / f"{kind}.ndjson"
    text = file.read_text("utf-8")
    assert f'"{element}": "2026' in text or f'"{element}":"2026' in text
    file.write_text(re.sub(rf'("{element}": ?")2026', r"\g<1>1850", text), "utf-8")
    db = tmp_path / "p.sqlite"
    for code, err in _dry_then_real(capsys, db, source):
        assert code == 1, err
        assert re.search(r"error: row \d+, [A-Za-z]+\.[^:]*: range", err), err
        if field is not None:
            assert f", {field}: range" in err
        assert "alliancekit: error:" not in err  # not the usage error of the whole run
        assert not re.search(r"\b(held_on|attempted_on|ended_on|booster_sessions)\b", err)
        assert not db.exists()  # the new database is removed: nothing imported


def test_every_record_the_fhir_import_builds_goes_through_build() -> None:
    """No FHIR import module constructs a domain record directly (its ValidationError would leave the run
    as a usage error with no row): each goes through :func:`~alliancekit.imports.fhir_checked.build`.
    An administration is built under its own ``except ValidationError`` (which maps its answers' paths)."""
    names = [
        n for n in dir(records) if isinstance(getattr(records, n), type) and attrs.has(getattr(records, n))
    ]
    folder = Path(imports_package.__file__).parent
    found = []
    for module in sorted(folder.glob("fhir_*.py")):
        text = module.read_text("utf-8")
        found += [
            f"{module.name}: {name}"
            for name in names
            if re.search(rf"(?<![\w.]){name}\(", text) and name != "Administration"
        ]
    assert names
    assert found == []


def test_a_client_response_past_the_last_session_is_a_row_error(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy(export, tmp_path, "plain")
    file = source / "QuestionnaireResponse.ndjson"
    resources = _lines(file)
    edited = 0
    for r in resources:
        for ext in r.get("extension", []):
            if ext.get("url") == AT_SESSION:
                ext["valueInteger"] = 999
                r.pop("encounter", None)  # counted by its number alone
                edited += 1
    assert edited
    _write(file, resources)
    db = tmp_path / "p.sqlite"
    for code, err in _dry_then_real(capsys, db, source):
        assert code == 1, err
        assert "QuestionnaireResponse.extension[at-session]: range" in err
        assert "internal error" not in err
        assert not db.exists()


def test_a_response_counted_at_the_last_session_plus_one_is_refused_and_at_the_last_is_read(
    export: Path, tmp_path: Path
) -> None:
    """The bound, both sides: a response at the start of the session after the last (counted at
    ``n + 1``, before a session the episode does not have yet) reads; one at the end of ``n + 1`` does not."""
    source = _copy(export, tmp_path, "plain")
    sessions: dict[str, int] = {}
    for enc in _lines(source / "Encounter.ndjson"):
        if any(c.get("code") == "session" for t in enc.get("type", []) for c in t.get("coding", [])):
            episode = enc["episodeOfCare"][0]["reference"].split("/", 1)[1]
            sessions[episode] = sessions.get(episode, 0) + 1
    file = source / "QuestionnaireResponse.ndjson"
    resources = _lines(file)
    target = next(
        r
        for r in resources
        if any(e.get("url") == AT_SESSION for e in r.get("extension", [])) and "encounter" not in r
    )
    episode = next(
        e["valueReference"]["reference"].split("/", 1)[1]
        for e in target["extension"]
        if "valueReference" in e and "EpisodeOfCare" in e["valueReference"].get("reference", "")
    )
    point = next(e for e in target["extension"] if e.get("url", "").endswith("request-point"))
    at = next(e for e in target["extension"] if e.get("url") == AT_SESSION)
    at["valueInteger"] = sessions[episode] + 1
    point["valueCoding"]["code"] = "start"  # before session n + 1: after the last session there is
    _write(file, resources)
    assert not [e for e in _errors(source) if "at-session" in e[0]]
    point["valueCoding"]["code"] = "end"  # at the end of session n + 1, which the episode does not have
    _write(file, resources)
    assert [(f, r) for f, r, _ in _errors(source) if "at-session" in f] == [
        ("QuestionnaireResponse.extension[at-session]", "range")
    ]


def _foreign(source: Path) -> None:
    for file in source.glob("*.ndjson"):
        file.write_text(file.read_text("utf-8").replace(f"{SYSTEM}/", f"{OTHER}/"), "utf-8")


def _episodes(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as c:
        return c.execute(
            "select client_ref, count(*) from episodes group by client_ref order by 1"
        ).fetchall()


def test_another_organisations_clients_are_never_filed_under_this_practices(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another organisation's export whose client identifiers have this practice's values, imported into
    this practice: refused (``identifier.system: other-system``), exit 1, the practice unchanged."""
    source = _copy(export, tmp_path)
    _foreign(source)
    db = tmp_path / "local.sqlite"
    shutil.copy(export / "demo.sqlite", db)
    before = _episodes(db)
    code, _, err = run(capsys, "import", "fhir", "--db", str(db), "--identifier-system", SYSTEM, str(source))
    assert code == 1
    assert re.search(r"error: row 1, EpisodeOfCare\.[A-Za-z.]*identifier\.system: other-system", err), err
    assert "other-org" not in err
    assert "--identifier-system the export was made with" in err
    assert _episodes(db) == before
    # told the other organisation's system, it reads them (into an empty practice)
    empty = tmp_path / "other.sqlite"
    code, out, err = run(
        capsys, "import", "fhir", "--db", str(empty), "--create", "--identifier-system", OTHER, str(source)
    )
    assert code == 0, err
    assert "20 written" in out


def test_the_identifier_system_defaults_to_the_exports_default(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``--identifier-system`` the import reads the placeholder systems the export writes without
    one; an export made with one is then another system's, and the hint says which option to give."""
    source = _copy(export, tmp_path)
    db = tmp_path / "p.sqlite"
    code, _, err = run(capsys, "import", "fhir", "--db", str(db), "--create", "--dry-run", str(source))
    assert code == 1
    assert "identifier.system: other-system" in err
    assert "urn:alliancekit:host" in err
    for file in source.glob("*.ndjson"):
        file.write_text(file.read_text("utf-8").replace(f"{SYSTEM}/", "urn:alliancekit:host:"), "utf-8")
    code, out, err = run(capsys, "import", "fhir", "--db", str(db), "--create", "--dry-run", str(source))
    assert code == 0, err
    assert "20 to write" in out


def test_a_party_without_a_type_must_be_in_one_of_the_systems(export: Path, tmp_path: Path) -> None:
    """An untyped reference by identifier (a clinician of an Encounter, as another system may write it)
    is read only in one of the import's systems."""
    source = _copy(export, tmp_path)
    file = source / "Encounter.ndjson"
    resources = _lines(file)
    individual = next(p["individual"] for p in resources[0]["participant"] if "individual" in p)
    del individual["type"]
    _write(file, resources)
    assert _errors(source, SYSTEM) == []
    individual["identifier"]["system"] = f"{OTHER}/practitioner"
    _write(file, resources)
    assert [(f, r) for f, r, _ in _errors(source, SYSTEM)] == [
        ("Encounter.participant.individual.identifier.system", "other-system")
    ]


def test_a_bad_identifier_system_is_refused_before_anything(tmp_path: Path, export: Path) -> None:
    from alliancekit.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        FhirSource(export / "fx", get_plugin_host().measures(), "not a uri")
    assert (caught.value.field, caught.value.rule) == ("identifier_system", "absolute-uri")
