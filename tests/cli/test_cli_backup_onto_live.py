"""`backup --replace` onto a database in use: before, the copy was renamed over it while its `-wal` file
stayed beside it, and SQLite applied that file to the copy on its next open, so the published "backup"
held the other database's pages (and verified, or not, by chance). A `-wal` or `-journal` beside PATH is
now refused, before anything is written; once the database is closed, it is replaced as before."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.cli.main import main
from alliancekit.errors import StoreError

NORTH = Actor("clin-n", Role.CLINICIAN, "north")
SOUTH = Actor("clin-s", Role.CLINICIAN, "south")


def _practice(path: Path, clinician: Actor) -> None:
    with open_practice(path) as practice:
        practice.start_episode(
            clinician, client_ref="h-1", clinician_id=clinician.id, opened_on=date(2026, 1, 5)
        )


def test_a_database_in_use_is_not_replaced_and_a_closed_one_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = tmp_path / "north.sqlite", tmp_path / "south.sqlite"
    _practice(source, NORTH)
    _practice(target, SOUTH)
    live = open_practice(target)  # another process's practice, writing
    live.start_episode(SOUTH, client_ref="h-2", clinician_id="clin-s", opened_on=date(2026, 1, 6))
    assert (tmp_path / "south.sqlite-wal").exists()

    assert main(["backup", "--db", str(source), str(target), "--replace"]) == 2
    err = capsys.readouterr().err
    assert f"PATH {target}: south.sqlite-wal is beside it: a database in use" in err
    assert len(live.caseload(SOUTH)) == 2  # untouched, and still south's
    assert live.clinics() == ["south"]
    assert not [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
    # nothing audited in the source: the refusal came before the backup
    with open_practice(source, read_only=True) as north:
        assert "back-up" not in [r.action for r in north.store.audit_records()]

    # the library's own path refuses it as well (a host calling Practice.back_up)
    admin = Actor("it-1", Role.ADMINISTRATOR, "north")
    with open_practice(source) as north, pytest.raises(StoreError, match=r"south\.sqlite-wal is beside it"):
        north.back_up(admin, target)
    assert live.clinics() == ["south"]
    live.close()
    assert not (tmp_path / "south.sqlite-wal").exists()

    assert main(["backup", "--db", str(source), str(target), "--replace"]) == 0, capsys.readouterr().err
    with open_practice(target, read_only=True) as copy:
        assert copy.clinics() == ["north"]
