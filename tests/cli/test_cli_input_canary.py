"""A canary in what a client controls, reaching a command by a path other than the store, is echoed nowhere.

``test_canary`` puts the canary in the store and reads it back through the CLI; this module puts it in the
inputs: the cells of a CSV import (client reference, clinician, dates, totals, item answers, an extra cell,
a short row, a byte that is not UTF-8 next to it), the resources of a FHIR import (ids, references,
identifiers, extension values, wrong-typed fields, unknown resource types, a line that is not JSON, a Bundle),
a wrong value of a mapping, an episode prefix, ``--clinic``, ``--client``, ``--actor``, ``--clinician``, a
store URL's password, an answers file, an exclusions file and an outbox message id. Every command the parser
runs has probes (a command without one fails), each run in text and ``--json`` mode and with and without
``--dry-run`` where the command has them, with logging at DEBUG; the canary must not be in standard output,
standard error, the log records or any file written (the store excepted: it keeps what it is given).

What the user typed about their own set-up may be echoed, and carries no canary here: a file or directory
path, a measure id, a mapping's key, the user and database of a store URL, an option's choice.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alliancekit.cli.common import parser_actions
from alliancekit.cli.main import main
from alliancekit.cli.reference import commands

C = "CANARY-7f3a-input"

MAPPING = """
[source]
encoding = "utf-8"
delimiter = ","
date_formats = ["%d/%m/%Y", "%Y-%m-%d"]

[columns]
client = "Client"
episode = "Episode"
session_date = "Date"
attendance = "Came"

[defaults]
clinician = "clin-a"
modality = "video"

[values.attendance]
"Y" = "attended"
"N" = "no-show"

[[measures]]
measure = "phq-9"
timing = "start"
total = "PHQ9"

[[measures]]
measure = "gad-7"
timing = "start"
items = { q1 = "G1", q2 = "G2", q3 = "G3", q4 = "G4", q5 = "G5", q6 = "G6", q7 = "G7" }
"""
HEADER = "Client,Episode,Date,Came,PHQ9,G1,G2,G3,G4,G5,G6,G7,Comment\r\n"
GOOD_ROW = "c0,1,01/01/2026,Y,5,,,,,,,,ok\r\n"

#: CSV rows carrying the canary (after a good row), by the cell it is in.
CSV_ROWS: dict[str, bytes] = {
    "client": f"{C}x,1,01/02/2026,Y,5,,,,,,,,x\r\n".encode(),
    "episode": f"c1,{C},01/02/2026,Y,5,,,,,,,,x\r\n".encode(),
    "date": f"c1,1,{C},Y,5,,,,,,,,x\r\n".encode(),
    "attendance": f"c1,1,01/02/2026,{C},5,,,,,,,,x\r\n".encode(),
    "total": f"c1,1,01/02/2026,Y,{C},,,,,,,,x\r\n".encode(),
    "total-out-of-range": f"c1,1,01/02/2026,Y,99{C},,,,,,,,x\r\n".encode(),
    "item": f"c1,1,01/02/2026,Y,,{C},1,1,1,1,1,1,x\r\n".encode(),
    "item-out-of-range": f"c1,1,01/02/2026,Y,,7,1,1,1,1,1,1,{C}\r\n".encode(),
    "extra-cell": f"c1,1,01/02/2026,Y,5,,,,,,,,x,{C}\r\n".encode(),
    "short-row": f"c1,{C}\r\n".encode(),
    "open-quote": f'c1,1,01/02/2026,Y,5,,,,,,,,"{C}\r\n'.encode(),
    "not-utf-8": f"{C}".encode() + b"\xff,1,01/02/2026,Y,5,,,,,,,,x\r\n",
    "not-utf-8-unmapped": f"c1,1,01/02/2026,Y,5,,,,,,,,{C}".encode() + b"\xff\xfe\r\n",
}

#: Mappings with the canary in a wrong value, by what is wrong.
MAPPINGS: dict[str, tuple[str, str]] = {
    "encoding": ('encoding = "utf-8"', f'encoding = "{C}"'),
    "measure": ('measure = "phq-9"', f'measure = "{C}"'),
    "timing": ('timing = "start"\ntotal', f'timing = "{C}"\ntotal'),
    "value": ('"N" = "no-show"', f'"N" = "{C}"'),
    "date-format": ('"%Y-%m-%d"]', f'"{C}"]'),
    "delimiter": ('delimiter = ","', f'delimiter = "{C}"'),
    "modality": ('modality = "video"', f'modality = "{C}"'),
    "clinician-type": ('clinician = "clin-a"', f'clinician = ["{C}"]'),
}


def _edit_line(folder: Path, name: str, change: Callable[[dict[str, Any]], Any], index: int = 0) -> None:
    path = folder / name
    lines = path.read_text(encoding="utf-8").splitlines()
    changed = change(json.loads(lines[index]))
    lines[index] = changed if isinstance(changed, str) else json.dumps(changed)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _rename_client(folder: Path, *, system: bool = False) -> None:
    """The first episode's client identified by the canary in every resource about them: its value, in the
    host's system (read as data), or (``system``) its system and value too, as another organisation's
    export would name its client throughout (refused: ``other-system``)."""
    episode = json.loads((folder / "EpisodeOfCare.ndjson").read_text(encoding="utf-8").splitlines()[0])
    value = episode["patient"]["identifier"]["value"]

    def renamed(node: Any) -> Any:
        if isinstance(node, dict):
            named = node.get("identifier")
            if isinstance(named, dict) and named.get("value") == value:
                return {**node, "identifier": {"system": C if system else named.get("system"), "value": C}}
            return {key: renamed(item) for key, item in node.items()}
        return [renamed(item) for item in node] if isinstance(node, list) else node

    for path in folder.glob("*.ndjson"):
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text(
            "".join(json.dumps(renamed(json.loads(line))) + "\n" for line in lines), encoding="utf-8"
        )


def _first_item(r: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**r, "item": [{**r["item"][0], **changes}, *r["item"][1:]]}


#: Changes to a Bulk Data directory carrying the canary, by where.
FHIR_CHANGES: dict[str, Callable[[Path], None]] = {
    "episode-id": lambda d: _edit_line(d, "EpisodeOfCare.ndjson", lambda r: {**r, "id": C}),
    "encounter-id": lambda d: _edit_line(d, "Encounter.ndjson", lambda r: {**r, "id": C}),
    "reference": lambda d: _edit_line(
        d, "Encounter.ndjson", lambda r: {**r, "episodeOfCare": [{"reference": f"EpisodeOfCare/{C}"}]}
    ),
    "provenance-target": lambda d: _edit_line(
        d, "Provenance.ndjson", lambda r: {**r, "target": [{"reference": f"Encounter/{C}"}]}
    ),
    "identifier": lambda d: _rename_client(d),
    "identifier-system": lambda d: _rename_client(d, system=True),
    "extension-value": lambda d: _edit_line(
        d,
        "EpisodeOfCare.ndjson",
        lambda r: {
            **r,
            "extension": [
                {**e, "valueCoding": {"code": C}} if "valueCoding" in e else e for e in r["extension"]
            ],
        },
    ),
    "unknown-extension": lambda d: _edit_line(
        d, "Encounter.ndjson", lambda r: {**r, "extension": [{"url": f"http://x/{C}", "valueString": C}]}
    ),
    "wrong-type": lambda d: _edit_line(d, "Encounter.ndjson", lambda r: {**r, "period": C}),
    "wrong-type-list": lambda d: _edit_line(d, "EpisodeOfCare.ndjson", lambda r: {**r, "status": [C]}),
    "bad-date": lambda d: _edit_line(
        d, "Encounter.ndjson", lambda r: {**r, "period": {"start": f"2026-{C}"}}
    ),
    "unknown-resource-type": lambda d: _edit_line(d, "Encounter.ndjson", lambda r: {**r, "resourceType": C}),
    "other-resource-type": lambda d: _edit_line(
        d, "Encounter.ndjson", lambda r: {**r, "resourceType": "Patient", "id": C}
    ),
    "not-json": lambda d: _edit_line(d, "Encounter.ndjson", lambda r: '{"id":"' + C + '", oops'),
    "not-utf-8": lambda d: (d / "Goal.ndjson").write_bytes(
        (d / "Goal.ndjson").read_bytes() + C.encode() + b"\xff\n"
    ),
    "answer": lambda d: _edit_line(
        d, "QuestionnaireResponse.ndjson", lambda r: _first_item(r, answer=[{"valueInteger": C}])
    ),
    "link-id": lambda d: _edit_line(d, "QuestionnaireResponse.ndjson", lambda r: _first_item(r, linkId=C)),
    # a linkId the measure lacks, with an answer refused for its shape: the item is named by its place
    "link-id-twice": lambda d: _edit_line(
        d, "QuestionnaireResponse.ndjson", lambda r: {**r, "item": [{**r["item"][0], "linkId": C}] * 2}
    ),
    "link-id-grouped": lambda d: _edit_line(
        d, "QuestionnaireResponse.ndjson", lambda r: _first_item(r, linkId=C, item=[])
    ),
    "link-id-two-answers": lambda d: _edit_line(
        d,
        "QuestionnaireResponse.ndjson",
        lambda r: _first_item(r, linkId=C, answer=[{"valueInteger": 1}, {"valueInteger": 2}]),
    ),
    "link-id-not-a-number": lambda d: _edit_line(
        d, "QuestionnaireResponse.ndjson", lambda r: _first_item(r, linkId=C, answer=[{"valueString": "x"}])
    ),
    "score": lambda d: _edit_line(d, "Observation.ndjson", lambda r: {**r, "valueQuantity": {"value": C}}),
    "control-character": lambda d: _edit_line(d, "EpisodeOfCare.ndjson", lambda r: {**r, "id": C + "\x00"}),
    "flag": lambda d: _edit_line(d, "Flag.ndjson", lambda r: {**r, "id": C, "code": {"text": C}}),
}

#: Changes to a Bundle carrying the canary, by where.
BUNDLE_CHANGES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "full-url": lambda b: {**b, "entry": [{**b["entry"][0], "fullUrl": f"urn:uuid:{C}"}, *b["entry"][1:]]},
    "type": lambda b: {**b, "type": C},
    "resource-id": lambda b: {
        **b,
        "entry": [{**b["entry"][0], "resource": {**b["entry"][0]["resource"], "id": C}}, *b["entry"][1:]],
    },
    "resource-type": lambda b: {**b, "resourceType": C},
    "not-json": lambda b: C + "{",
}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts += [record.getMessage(), repr(record.args)]
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo practice and the canary-laden inputs, made once."""
    root = tmp_path_factory.mktemp("inputs")
    db = root / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--clients", "12", "--quiet", "--out", str(root / "demo.txt")]) == 0
    bulk = root / "bulk"
    assert main(["export", "fhir", "--db", str(db), "--all", "--out", str(bulk)]) == 0
    (root / "map.toml").write_text(MAPPING, encoding="utf-8")
    for name, row in CSV_ROWS.items():
        (root / f"{name}.csv").write_bytes((HEADER + GOOD_ROW).encode() + row)
    for name, (old, new) in MAPPINGS.items():
        assert old in MAPPING
        (root / f"map-{name}.toml").write_text(MAPPING.replace(old, new), encoding="utf-8")
    for name, change in FHIR_CHANGES.items():
        shutil.copytree(bulk, root / f"fhir-{name}")
        change(root / f"fhir-{name}")
    listing = io.StringIO()
    with contextlib.redirect_stdout(listing):
        assert main(["caseload", "--db", str(db), "--all", "--json"]) == 0
    episode = json.loads(listing.getvalue())[0]["episode_id"]
    bundle_path = root / "bundle.json"
    assert main(["export", "fhir", "--db", str(db), "--episode", episode, "--out", str(bundle_path)]) == 0
    return {"root": root, "db": str(db), "bulk": bulk, "bundle": bundle_path}


Probe = Callable[[dict[str, Any], Path], list[str]]


def _bundles(change: Callable[[dict[str, Any]], Any]) -> Probe:
    def probe(world: dict[str, Any], out: Path) -> list[str]:
        bundle = json.loads(Path(world["bundle"]).read_text(encoding="utf-8"))
        changed = change(bundle)
        path = out / "source.json"
        path.write_text(changed if isinstance(changed, str) else json.dumps(changed), encoding="utf-8")
        return ["import", "fhir", "--db", str(out / "new.sqlite"), "--create", str(path)]

    return probe


def _db(world: dict[str, Any], out: Path) -> list[str]:
    return ["--db", world["db"]]


def _file(name: str, text: str) -> Callable[[Path], str]:
    def write(out: Path) -> str:
        (out / name).write_text(text, encoding="utf-8")
        return str(out / name)

    return write


ANSWERS = {
    "answer": json.dumps({"answers": {"q1": C, "q2": 1}}),
    "item": json.dumps({"answers": {C: 1}}),
    "out-of-range": json.dumps({"answers": {"q1": 99}, "client_ref": C}),
    "not-json": C + "{",
}
EXCLUSIONS = {
    "reference": json.dumps({C: "moved away"}),
    "reason": json.dumps({"demo-client-001": C}),
    "wrong-type": json.dumps({C: [C]}),
    "not-an-object": json.dumps([C]),
    "not-json": C + "{",
}
PG_URL = f"postgresql://postgres:{C}@127.0.0.1:1/test?clinic=north&password={C}&sslpassword={C}"


def _probes() -> dict[str, dict[str, Probe]]:
    db = _db
    probes: dict[str, dict[str, Probe]] = {
        "demo": {"no-client-input": lambda w, o: ["demo", "--db", str(o / "d.sqlite"), "--clients", "12"]},
        "caseload": {
            "clinic": lambda w, o: ["caseload", *db(w, o), "--clinic", C],
            "clinician": lambda w, o: ["caseload", *db(w, o), "--clinician", C],
            "db-password": lambda w, o: ["caseload", "--db", PG_URL],
        },
        "episode show": {
            "prefix": lambda w, o: ["episode", "show", *db(w, o), C],
            "clinic": lambda w, o: ["episode", "show", *db(w, o), "--clinic", C, "0"],
        },
        "measures list": {"no-client-input": lambda w, o: ["measures", "list"]},
        "measures show": {"no-client-input": lambda w, o: ["measures", "show", "phq-9"]},
        "measures validate": {
            f"answers-{name}": (
                lambda t: lambda w, o: ["measures", "validate", "phq-9", _file("a.json", t)(o)]
            )(text)
            for name, text in ANSWERS.items()
        },
        "measures check": {
            "definition": lambda w, o: [
                "measures",
                "check",
                _file("d.json", json.dumps({"id": "x", "items": [{"key": C, "label": C}]}))(o),
            ]
        },
        "plugins": {"no-client-input": lambda w, o: ["plugins"]},
        "report": {"clinic": lambda w, o: ["report", *db(w, o), "--clinic", C, "--out", str(o / "r.html")]},
        "quality": {
            "clinic": lambda w, o: ["quality", *db(w, o), "--clinic", C],
            **{
                f"exclusions-{name}": (
                    lambda t: lambda w, o: ["quality", *db(w, o), "--exclusions", _file("x.json", t)(o)]
                )(text)
                for name, text in EXCLUSIONS.items()
            },
        },
        "export fhir": {
            "episode": lambda w, o: ["export", "fhir", *db(w, o), "--episode", C, "--out", str(o / "b.json")],
            "clinic": lambda w, o: [
                "export",
                "fhir",
                *db(w, o),
                "--clinic",
                C,
                "--all",
                "--out",
                str(o / "n"),
            ],
        },
        "export csv": {
            "clinic": lambda w, o: ["export", "csv", *db(w, o), "--clinic", C, "--out", str(o / "c")],
        },
        "outbox status": {"no-client-input": lambda w, o: ["outbox", "status", *db(w, o), "--dead"]},
        "outbox dispatch": {"no-channel-registered": lambda w, o: ["outbox", "dispatch", *db(w, o)]},
        "outbox retry": {"id": lambda w, o: ["outbox", "retry", *db(w, o), C]},
        "audit verify": {"clinic": lambda w, o: ["audit", "verify", *db(w, o), "--clinic", C]},
        "audit show": {
            "client": lambda w, o: ["audit", "show", *db(w, o), "--client", C],
            "actor": lambda w, o: ["audit", "show", *db(w, o), "--actor", C],
            "clinic": lambda w, o: ["audit", "show", *db(w, o), "--clinic", C],
        },
        "verify": {"clinic": lambda w, o: ["verify", *db(w, o), "--clinic", C]},
        "backup": {"no-client-input": lambda w, o: ["backup", *db(w, o), str(o / "b.sqlite")]},
        "import csv": {
            **{
                f"cell-{name}": (
                    lambda n: (
                        lambda w, o: [
                            "import",
                            "csv",
                            "--mapping",
                            str(w["root"] / "map.toml"),
                            "--db",
                            str(o / "new.sqlite"),
                            "--create",
                            str(w["root"] / f"{n}.csv"),
                        ]
                    )
                )(name)
                for name in CSV_ROWS
            },
            **{
                f"mapping-{name}": (
                    lambda n: (
                        lambda w, o: [
                            "import",
                            "csv",
                            "--mapping",
                            str(w["root"] / f"map-{n}.toml"),
                            "--db",
                            str(o / "new.sqlite"),
                            "--create",
                            str(w["root"] / "total.csv"),
                        ]
                    )
                )(name)
                for name in MAPPINGS
            },
            "clinic": lambda w, o: [
                "import",
                "csv",
                "--mapping",
                str(w["root"] / "map.toml"),
                *db(w, o),
                "--clinic",
                C,
                str(w["root"] / "total.csv"),
            ],
        },
        "import fhir": {
            **{
                f"ndjson-{name}": (
                    lambda n: (
                        lambda w, o: [
                            "import",
                            "fhir",
                            "--db",
                            str(o / "new.sqlite"),
                            "--create",
                            str(w["root"] / f"fhir-{n}"),
                        ]
                    )
                )(name)
                for name in FHIR_CHANGES
            },
            **{f"bundle-{name}": _bundles(change) for name, change in BUNDLE_CHANGES.items()},
            "clinic": lambda w, o: [
                "import",
                "fhir",
                "--db",
                str(o / "new.sqlite"),
                "--create",
                "--clinic",
                C,
                str(w["bulk"]),
            ],
        },
    }
    return probes


PROBES = _probes()

#: The probes whose canary is data the command takes (a reference, an id, a filter, a cell it does not read)
#: or that give no client input: they succeed; every other probe's input is refused (exit 1 or 2).
ACCEPTED = {
    *(f"{command}:no-client-input" for command in PROBES),
    "caseload:clinician",
    "audit show:client",
    "audit show:actor",
    "quality:exclusions-reference",
    "quality:exclusions-reason",
    "import csv:cell-client",
    "import csv:cell-episode",
    "import csv:cell-open-quote",
    "import csv:cell-not-utf-8-unmapped",
    "import fhir:clinic",
    *(
        f"import fhir:{name}"
        for name in (
            "bundle-full-url",
            "bundle-resource-id",
            "ndjson-encounter-id",
            "ndjson-extension-value",
            "ndjson-identifier",
            "ndjson-other-resource-type",
            "ndjson-provenance-target",
            "ndjson-unknown-extension",
        )
    ),
}


def _modes(command: str) -> list[list[str]]:
    """The modes a command runs in: text and --json, with and without --dry-run, as it has them."""
    options = {o for a in parser_actions(commands()[command]) for o in a.option_strings}
    outputs = [[], ["--json"]] if "--json" in options else [[]]
    runs = [[], ["--dry-run"]] if "--dry-run" in options else [[]]
    return [[*r, *j] for r in runs for j in outputs]


def _cases() -> Iterator[Any]:
    for command, probes in PROBES.items():
        for name in probes:
            for mode in _modes(command):
                yield pytest.param(command, name, mode, id=f"{command}:{name}:{' '.join(mode) or 'text'}")


def test_every_command_has_a_probe() -> None:
    assert set(PROBES) == set(commands())


@pytest.mark.parametrize(("command", "name", "mode"), list(_cases()))
def test_no_canary_from_an_input_is_echoed(
    world: dict[str, Any],
    command: str,
    name: str,
    mode: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*PROBES[command][name](world, tmp_path), *mode]
    inputs = set(tmp_path.rglob("*"))
    handler, root = _Records(), logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        code = main(argv)
    except SystemExit as exc:  # an argparse refusal: its message is on stderr, checked below
        code = int(exc.code or 0)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    written = [
        p.read_bytes().decode("utf-8", "replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and p not in inputs and ".sqlite" not in p.name
    ]
    leaks = [t for t in [out, err, *handler.texts, *written] if C in t]
    assert not leaks, leaks[:3]
    # the probe reached its path: the input was refused, or (ACCEPTED) taken as data
    assert code == 0 if f"{command}:{name}" in ACCEPTED else code in (1, 2), code
