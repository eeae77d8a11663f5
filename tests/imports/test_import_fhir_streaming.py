"""``alliancekit import fhir`` keeps its join on disk and reads one episode at a time: however the source's
resources are spread over its files, the units are the same; the scratch file holds no client reference; a
source changed between the check and the writing is refused, not half-read; NDJSON lines split as
``bytes.splitlines`` splits them."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliancekit import open_practice
from alliancekit.demo import simulate_practice
from alliancekit.errors import ValidationError
from alliancekit.fhir import export_ndjson
from alliancekit.imports.fhir_files import lines_of
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.units import Unit
from alliancekit.imports.writer import run_import
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.plugins import get_plugin_host

from .test_import_fhir import DEMO_CLINIC, _actor, _states


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fhir-streaming")
    simulate_practice(folder / "demo.sqlite", clients=12, seed=7)
    with open_practice(folder / "demo.sqlite") as practice:
        export_ndjson(practice, _actor(DEMO_CLINIC), folder / "export", purpose="treatment")
    return folder / "export"


def _registry() -> MeasureRegistry:
    return get_plugin_host().measures()


def _lines(folder: Path) -> dict[str, list[str]]:
    return {
        path.stem: path.read_text(encoding="utf-8").splitlines() for path in sorted(folder.glob("*.ndjson"))
    }


def _units(source: Path) -> list[Any]:
    """The units of ``source`` without their rows (which say where each episode was in its own layout)."""
    found = FhirSource(source, _registry())
    units: list[Unit] = list(found.units())
    assert found.errors == []
    return [(u.episode, u.steps, u.proceed, u.consulted, u.consultation, u.fit_on, u.withheld) for u in units]


def test_resources_spread_over_files_in_any_order_give_the_same_units(export: Path, tmp_path: Path) -> None:
    by_type = _lines(export)
    # one file, the types in reverse order: every Provenance, response and Observation before its episode
    one = tmp_path / "one.ndjson"
    one.write_text("\n".join(line for kind in reversed(by_type) for line in by_type[kind]) + "\n", "utf-8")
    # each type's resources cut in three, in order, and the n-th part of every type in the n-th file (as a
    # Bulk Data server splits a large type): an episode's resources spread over files, each with others'
    spread = tmp_path / "spread"
    spread.mkdir()
    parts: list[list[str]] = [[], [], []]
    for lines in reversed(by_type.values()):
        third = -(-len(lines) // 3)
        for i in range(3):
            parts[i] += lines[i * third : (i + 1) * third]
    for i, lines in enumerate(parts):
        (spread / f"part-{i}.ndjson").write_text("\n".join(lines) + "\n", "utf-8")
    expected = _units(export)
    assert len(expected) == len(by_type["EpisodeOfCare"]) > 10
    assert _units(one) == expected
    assert _units(spread) == expected


def test_a_spread_source_imports_the_same_records(export: Path, tmp_path: Path) -> None:
    by_type = _lines(export)
    spread = tmp_path / "spread"
    spread.mkdir()
    for kind, lines in by_type.items():  # each type's second half in a file of its own, read first
        half = len(lines) // 2
        (spread / f"{kind}.ndjson").write_text("\n".join(lines[:half]) + "\n", "utf-8")
        (spread / f"0-{kind}.ndjson").write_text("\n".join(lines[half:]) + "\n", "utf-8")
    found = []
    for source in (export, spread):
        with open_practice(tmp_path / f"{source.name}.sqlite") as practice:
            source_of = FhirSource(source, practice.plugins.measures())
            result = run_import(practice, source_of, clinic_id=DEMO_CLINIC, source_id="s")
            assert (result.errors, result.written) == ((), len(by_type["EpisodeOfCare"]))
            found.append(_states(practice, defaultdict(set)))
    assert found[0] == found[1]


def test_the_join_on_disk_holds_no_client_reference(export: Path) -> None:
    source = FhirSource(export, _registry())
    units = source.units()
    first = next(units)  # the whole source is joined (and checked) before the first unit
    assert source._joined is not None
    rows = source._joined.scratch._conn().execute("SELECT key, item FROM items").fetchall()
    units.close()
    clients = {json.loads(line)["patient"]["identifier"]["value"] for line in _lines(export)["EpisodeOfCare"]}
    assert first.episode.client_ref in clients
    assert len(rows) > 1000
    for key, item in rows:
        for client in clients:
            assert client.encode() not in key
            assert client not in item
    # where each resource is, never what it says: an item is numbers, codes, instants and ids
    assert not any("Agreed task" in item or "valueQuantity" in item for _, item in rows)


def test_the_join_is_removed_when_the_reading_stops(export: Path) -> None:
    source = FhirSource(export, _registry())
    units = source.units()
    next(units)
    assert source._joined is not None
    scratch = source._joined.scratch
    units.close()
    assert source._joined is None
    with pytest.raises(RuntimeError, match="closed"):
        scratch.count("episodes")


@pytest.mark.parametrize("change", ["same length", "longer"])
def test_a_source_changed_while_it_is_imported_is_refused(export: Path, tmp_path: Path, change: str) -> None:
    folder = tmp_path / "changing"
    folder.mkdir()
    for path in export.glob("*.ndjson"):
        (folder / path.name).write_bytes(path.read_bytes())
    source = FhirSource(folder, _registry())
    units = source.units()
    next(units)  # checked: every resource read once
    path = folder / "Encounter.ndjson"
    lines = path.read_text(encoding="utf-8").splitlines()
    last = json.loads(lines[-1])
    last["status"] = "finished" if change == "same length" else "finished-and-then-some"
    text = json.dumps(last)
    if change == "same length":
        text = text.replace('"finished"', '"finishex"')
    lines[-1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as refused:
        list(units)
    assert (refused.value.field, refused.value.rule) == ("source", "changed")
    assert source._joined is None  # the join is removed all the same


@given(st.binary().map(lambda b: bytes(b"ab\r\n"[x % 4] for x in b)))
def test_lines_split_as_splitlines_splits_them(data: bytes) -> None:
    found = list(lines_of(io.BytesIO(data), 0))
    assert [line for _, line in found] == data.splitlines()
    assert all(data[at : at + len(line)] == line for at, line in found)


def test_lines_start_where_the_offset_says(tmp_path: Path) -> None:
    data = b'\xef\xbb\xbf{}\r\n\r{"a": 1}\n'
    with io.BytesIO(data) as f:
        f.seek(3)
        assert list(lines_of(f, 3)) == [(3, b"{}"), (7, b""), (8, b'{"a": 1}')]


def test_a_source_read_again_gives_the_same_units(export: Path) -> None:
    # a run that finds the source changed before its checkpoint reads it again from its start: a new join
    source = FhirSource(export, _registry())
    first, notes = list(source.units()), list(source.notes)
    assert source._joined is None
    again = list(source.units())
    assert again == first
    assert len(first) > 10
    assert (source.notes, source.errors) == (notes, [])  # the second pass's notes are not said twice
