"""``measures show``, ``list`` and ``validate`` with a practice (``--db``): a measure whose plugin is no
longer installed is shown, listed and scored by the definition the practice stored, read through its guarded
path (audited), on SQLite and on PostgreSQL.

Before, the measures commands had no ``--db``: a stored definition could not be shown at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import alliancekit_measure_k10
import pytest
from tests.feedback.conftest import CLINIC, Clinic, later

from alliancekit import open_practice
from alliancekit.cli.common import DB_ENV
from alliancekit.cli.main import main
from alliancekit.domain import Administration, AdministrationTiming
from alliancekit.plugins import make_plugin_host
from alliancekit.plugins.manager import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV, reset_plugin_host

K10 = Administration("k10", "1.0", AdministrationTiming.START, total=30)
K10_ANSWERS = {f"q{n}": 2 for n in range(1, 11)}
#: The supplier a measure known only by its stored definition is shown with.
STORED = "stored in the practice; its plugin is not installed"


@pytest.fixture(autouse=True)
def cli_without_k10() -> Iterator[None]:
    """The CLI's plugin host: the PostgreSQL store, and no K10 (whether or not it is installed here)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
        patch.setenv(ALLOW_LIST_ENV, "postgres")
        patch.delenv(DB_ENV, raising=False)
        reset_plugin_host()
        yield
    reset_plugin_host()


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A practice whose data used K10 (its definition stored), written while its plugin was installed."""
    if request.param == "sqlite":
        where = str(tmp_path / "p.sqlite")
    else:
        pg = request.getfixturevalue("pg")
        where = pg.location(pg.new_schema(), CLINIC)
    with_k10 = make_plugin_host(load_entry_points=False, extra_plugins=[alliancekit_measure_k10])
    if request.param == "postgresql":  # the store's own plugin, for its URL
        import alliancekit_postgres.plugin

        with_k10 = make_plugin_host(
            load_entry_points=False, extra_plugins=[alliancekit_measure_k10, alliancekit_postgres.plugin]
        )
    clinic = Clinic(open_practice(where, clock=later, plugins=with_k10))
    with clinic.p:
        clinic.session(clinic.episode(), K10)
    return where


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _definition_reads(capsys: pytest.CaptureFixture[str], location: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "audit", "show", "--db", location, "--json")
    assert code == 0, err
    return [e for e in json.loads(out)["entries"] if e["record_type"] == "measure-definitions"]


def test_a_stored_definition_is_shown_with_db(location: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "measures", "show", "k10")
    assert (code, err) == (2, "alliancekit: error: no measure with id k10\n")  # the plugin is gone
    before = len(_definition_reads(capsys, location))
    code, out, err = run(capsys, "measures", "show", "k10", "--db", location)
    assert code == 0, err
    assert out.startswith("Kessler Psychological Distress Scale (K10) (k10 1.0)\n")
    assert f"supplied by: {STORED}\n" in out
    code, out, err = run(capsys, "measures", "show", "k10", "--version", "1.0", "--db", location, "--json")
    assert code == 0, err
    shipped = json.loads(
        Path(alliancekit_measure_k10.__file__).with_name("k10-1.0.json").read_text(encoding="utf-8")
    )
    assert json.loads(out) == shipped
    # each read went through the practice and was audited, as a report's read of the definitions
    reads = _definition_reads(capsys, location)
    assert len(reads) == before + 2
    assert {e["action"] for e in reads[before:]} == {"read-report"}


def test_an_installed_measure_is_shown_as_before_with_db(
    location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, with_db, _ = run(capsys, "measures", "show", "phq-9", "--db", location)
    assert code == 0
    assert (code, with_db) == (0, run(capsys, "measures", "show", "phq-9")[1])
    # a measure neither installed nor stored is unknown with a practice too
    code, out, _ = run(capsys, "measures", "show", "oq-45", "--db", location, "--json")
    assert code == 2
    assert json.loads(out) == {"error": {"kind": "error", "message": "no measure with id oq-45"}}


def test_list_and_validate_take_the_stored_definition(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "measures", "list", "--db", location, "--json")
    assert code == 0, err
    suppliers = {(m["id"], m["version"]): m["supplier"] for m in json.loads(out)}
    assert suppliers[("k10", "1.0")] == STORED
    assert suppliers[("phq-9", "1.0")] != STORED
    code, out, _ = run(capsys, "measures", "list", "--json")
    assert "k10" not in {m["id"] for m in json.loads(out)}
    response = tmp_path / "k10.json"
    response.write_text(json.dumps({"answers": K10_ANSWERS}))
    code, out, err = run(capsys, "measures", "validate", "k10", str(response), "--db", location, "--json")
    assert code == 0, err
    assert json.loads(out)["score"]["total"] == 20
    assert run(capsys, "measures", "validate", "k10", str(response))[0] == 2  # without the practice


def test_db_naming_no_practice_is_refused_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.sqlite"
    code, _, err = run(capsys, "measures", "show", "phq-9", "--db", str(missing))
    assert code == 2
    assert f"no alliancekit database at {missing}" in err
    assert not missing.exists()


def test_ALLIANCEKIT_DB_names_the_practice(
    location: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_ENV, location)
    code, out, err = run(capsys, "measures", "show", "k10")
    assert code == 0, err
    assert f"supplied by: {STORED}" in out
