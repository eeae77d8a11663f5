"""``alliancekit import fhir`` of an export whose ``EpisodeOfCare`` names another norm population (its
``norm-population`` extension) than the episode an earlier import opened from it: the keyed start carries
the population, so the import stops at that ``EpisodeOfCare``'s row with a row error naming the row, the
field ``population`` and the rule ``population-changed`` (never the value), writes nothing of its batch,
and, once the source is fixed, the same command resumes; a dry run reports the same error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.fhir.codes import EXT_NORM_POPULATION

from . import test_import_fhir as fhir_tests
from .conftest import run
from .test_import_fhir import DEMO_CLINIC, _lines, _versions, _write

# the demo practice's export (made once per module) and a copy of it per test, to change
demo_export = fhir_tests.demo_export
small_export = fhir_tests.small_export

REFUSED = "population-changed (the episode was imported before with another population)"


def _with_population(resource: dict[str, Any], population: str | None) -> dict[str, Any]:
    """``resource`` with its norm-population extension naming ``population`` (``None``: without one)."""
    others = [e for e in resource.get("extension", []) if e.get("url") != EXT_NORM_POPULATION]
    named = [] if population is None else [{"url": EXT_NORM_POPULATION, "valueString": population}]
    changed = {**resource, "extension": [*others, *named]}
    if not changed["extension"]:
        del changed["extension"]
    return changed


def _argv(db: Path, source: Path, *more: str) -> list[str]:
    return ["import", "fhir", "--db", str(db), "--create", "--clinic", DEMO_CLINIC, *more, str(source)]


def _stored(db: Path) -> dict[str, int]:
    with open_practice(db) as practice:
        return _versions(practice)


@pytest.mark.parametrize(("first", "then"), [(None, "child"), ("child", "adolescent"), ("child", None)])
@pytest.mark.parametrize("more", [(), ("--source-id", "again")], ids=["same-name", "other-source-id"])
def test_an_episode_imported_with_another_population_is_a_row_error_and_writes_nothing(
    small_export: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    first: str | None,
    then: str | None,
    more: tuple[str, ...],
) -> None:
    episodes = list(_lines(small_export, "EpisodeOfCare"))
    index = len(episodes) // 2  # one in the middle: the batches before it are committed
    episodes[index] = _with_population(episodes[index], first)
    _write(small_export, "EpisodeOfCare", episodes)
    db = tmp_path / "p.sqlite"
    code, _, err = run(capsys, *_argv(db, small_export))
    assert code == 0, err
    before = _stored(db)

    episodes[index] = _with_population(episodes[index], then)
    _write(small_export, "EpisodeOfCare", episodes)
    changed = tmp_path / "changed"  # a new export of the same practice: another folder, another checkpoint
    small_export.rename(changed)
    stored = db.read_bytes()
    code, out, err = run(capsys, *_argv(db, changed, "--dry-run", *more))
    assert db.read_bytes() == stored
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: row {index + 1}, population: {REFUSED}"
    ]
    code, out, err = run(capsys, *_argv(db, changed, "--batch-size", "1", *more))

    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: row {index + 1}, population: {REFUSED}"]
    assert f"checkpoint at row {index}" in out  # the episodes before it are recognised, and checkpointed
    for named in (first, then):
        assert named is None or named not in err  # the value is never echoed
    assert _stored(db) == before  # nothing written: no session twice, no second episode

    # fixed (the population as the episode was opened with): the same command resumes and writes nothing
    episodes[index] = _with_population(episodes[index], first)
    _write(changed, "EpisodeOfCare", episodes)
    code, out, err = run(capsys, *_argv(db, changed, "--batch-size", "1", *more))
    assert code == 0, err
    # the episodes before the checkpoint skipped, the rest recognised by their keys
    assert f"0 written, {len(episodes)} already imported; checkpoint at row {len(episodes)}" in out
    assert _stored(db) == before


@pytest.mark.parametrize(
    ("value", "field", "rule"),
    [
        ({"valueInteger": 7}, "valueInteger", "type"),  # read as absent before: the default norms
        ({"valueBoolean": True}, "valueBoolean", "type"),
        ({"valueString": "no-such-population"}, "valueString", "declared-population"),
        ({"valueCode": "no-such-population"}, "valueCode", "declared-population"),
    ],
)
def test_a_population_extension_that_names_no_declared_population_is_named_and_nothing_is_written(
    small_export: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    value: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    """Found while reading the source, so the dry run reports it too, by row, path and rule (the value
    never shown); the import writes nothing."""
    episodes = list(_lines(small_export, "EpisodeOfCare"))
    plain = [e for e in episodes[1].get("extension", []) if e.get("url") != EXT_NORM_POPULATION]
    episodes[1] = {**episodes[1], "extension": [*plain, {"url": EXT_NORM_POPULATION, **value}]}
    _write(small_export, "EpisodeOfCare", episodes)
    db = tmp_path / "p.sqlite"
    expected = f"error: row 2, EpisodeOfCare.extension[{len(plain)}].{field}: {rule}"
    for more in (("--dry-run",), ()):
        code, _, err = run(capsys, *_argv(db, small_export, *more))
        assert code == 1
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert [e.split(" (")[0] for e in errors] == [expected]
        assert "no-such-population" not in err
    assert not db.exists()  # the new database, with nothing committed, is removed
