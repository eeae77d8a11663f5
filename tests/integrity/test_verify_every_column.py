"""Whatever an editor puts in any column of any table verify reads (a value that is not a time, date, number
or JSON, another type, NULL, over-long text), `alliancekit verify` reports a finding (exit 1): never a crash
(exit 70, a traceback), and never the value or a client's data.

The tables and columns come from the database's own schema (``PRAGMA table_info``), so a column added later
is covered without a line here; what verify deliberately does not check is listed with the reason."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Actor, Practice
from alliancekit.cli.main import main
from alliancekit.demo import simulate_practice
from alliancekit.demo.simulate import MIN_CLIENTS
from alliancekit.domain import Role
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.sqlite import SQLiteStore

KEY = b"every-column-seal-key-" + b"k" * 16
CLINIC = "demo-clinic"
TEXT = "planted-not-a-value"

#: What is planted: each kind a value an editor can put in any SQLite column.
KINDS: dict[str, Any] = {
    "text": TEXT,  # not a time, date, number, JSON or enum member
    "null": None,
    "number": 987654321,
    "over-long": "planted-" + "y" * 5000,
}

#: What verify reads nothing of, and why.
UNCHECKED_TABLES = {
    "outbox": "notifications waiting to be sent: delivery state, not the record",
    "kiosk_failures": "counts of wrong kiosk codes for a rate limit, not the record",
    "audit_checkpoints_v1": "checkpoints as a file kept them before chains per clinic: left by the "
    "migration, read by nothing",
    "practice_meta": "settings; the one verify reads (the backfill mark) has its own tests",
}
_UNCHAINED = (
    "a well-formed value here is consistent with the record: these rows are not hash-chained, and verify "
    "checks only that they name the clinic's episodes with consistent times and hashed secrets "
    "(alliancekit.integrity.verify: what they cannot tell)"
)
#: Columns where a change may pass (it must still never crash verify, nor echo the value), and why.
UNCHECKED_COLUMNS = {
    ("episodes", "missed_measures"): "depends on the host's protocols, left out on purpose "
    "(alliancekit.integrity.verify's _row_value)",
    **{("commands", c): _UNCHAINED for c in ("clinic_id", "command", "key")},
    **{
        ("administration_requests", c): _UNCHAINED
        for c in (
            "clinic_id",
            "request_id",
            "measure_id",
            "version",
            "point",
            "session_id",
            "language",
            "code_hash",
            "created_at",
            "remind_at",
            "used_at",
            "revoked_at",
        )
    },
    ("audit_checkpoints", "chain"): "a checkpoint moved out of the clinic's chains reads as none: the "
    "documented cut-back limit, caught only with the host's expected head",
}
#: The columns a table's findings name its rows by (ids and published measure names, never client data): a
#: value planted there may be named back, as any id the record holds is.
KEY_COLUMNS = {
    ("episodes", "episode_id"),
    ("episodes", "clinic_id"),
    ("events", "episode_id"),
    ("administration_requests", "request_id"),
    ("measure_definitions", "measure_id"),
    ("measure_definitions", "version"),
    ("commands", "command"),
}


def _schema(path: Path) -> list[tuple[str, str, bool]]:
    """Every column of every table: its table, its name, and whether the schema refuses NULL there."""
    with sqlite3.connect(path) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master"
                " WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name"
            )
        ]
        return [(t, str(c[1]), bool(c[3])) for t in tables for c in conn.execute(f'PRAGMA table_info("{t}")')]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("every-column") / "demo.sqlite"
    simulate_practice(path, clients=MIN_CLIENTS, seed=3, today=date(2026, 6, 1))
    # sealed, so that the checkpoints have rows too: one audited read writes entries and a checkpoint
    practice = Practice(SQLiteStore(path), plugins=make_plugin_host(), audit_key=KEY, checkpoint_every=1)
    with practice:
        practice.audit_entries(Actor("adm", Role.ADMINISTRATOR, CLINIC))
    return path


def _cases() -> list[Any]:
    # the schema of a fresh practice: the same tables and columns as the demo's
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "schema.sqlite"
        SQLiteStore(path).close()
        columns = _schema(path)
    # a table verify reads nothing of has no case (UNCHECKED_TABLES says why), nor has NULL where the
    # schema refuses it: an editor cannot plant that
    return [
        pytest.param(table, column, kind, id=f"{table}.{column}-{kind}")
        for table, column, not_null in columns
        if table not in UNCHECKED_TABLES
        for kind in KINDS
        if not (not_null and KINDS[kind] is None)
    ]


def test_every_table_of_a_practice_is_listed_here(demo: Path) -> None:
    """The tables are the schema's: a table verify checks must have rows in the demo to tamper with."""
    with sqlite3.connect(demo) as conn:
        for table in {t for t, _, _ in _schema(demo)} - UNCHECKED_TABLES.keys():
            assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] > 0, table  # noqa: S608


@pytest.mark.parametrize(("table", "column", "kind"), _cases())
def test_a_malformed_value_in_any_column_is_a_finding(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, column: str, kind: str
) -> None:
    path = tmp_path / "p.sqlite"
    path.write_bytes(demo.read_bytes())
    value = KINDS[kind]
    with sqlite3.connect(path) as conn:
        refs = [str(r[0]) for r in conn.execute("SELECT client_ref FROM episodes")]
        # the row's key: its primary key (some tables have no rowid), else its rowid
        pk = [
            str(c[1])
            for c in sorted(conn.execute(f'PRAGMA table_info("{table}")'), key=lambda c: c[5])
            if c[5]
        ]
        keys = ", ".join(f'"{k}"' for k in pk) if pk else "rowid"
        match = " AND ".join(f'"{k}" IS ?' for k in pk) if pk else "rowid = ?"
        # the first row with a value there (a NULL planted where there is NULL changes nothing)
        row = conn.execute(
            f'SELECT "{column}", {keys} FROM "{table}" ORDER BY "{column}" IS NULL LIMIT 1'  # noqa: S608
        ).fetchone()
        if row[0] == value:
            pytest.skip("the row holds that value already")
        try:
            conn.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE {match}', (value, *row[1:]))  # noqa: S608
        except sqlite3.IntegrityError:
            pytest.skip("the schema refuses that value (NOT NULL, UNIQUE, CHECK)")
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    key_file.chmod(0o600)
    code = main(["verify", "--db", str(path), "--key-file", str(key_file)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "internal error" not in err
    shown = out + err
    if (table, column) in UNCHECKED_COLUMNS:  # it may pass: UNCHECKED_COLUMNS says why
        assert code in (0, 1), shown
    else:
        assert code == 1, shown
        assert "record broken:" in out
    assert not [ref for ref in refs if ref in shown]
    if isinstance(value, str) and (table, column) not in KEY_COLUMNS:
        assert value not in shown


def _plant(path: Path, sql: str) -> str:
    """Run ``sql`` (an UPDATE of one episode's row, ``?`` its id) on ``path``; the episode's id."""
    with sqlite3.connect(path) as conn:
        episode_id = str(conn.execute("SELECT min(episode_id) FROM episodes").fetchone()[0])
        conn.execute(sql, (episode_id,))
    return episode_id


def test_a_date_that_is_not_one_is_named_by_table_key_and_rule(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.sqlite"
    path.write_bytes(demo.read_bytes())
    episode_id = _plant(path, f"UPDATE episodes SET opened_on = '{TEXT}' WHERE episode_id = ?")  # noqa: S608
    assert main(["verify", "--db", str(path)]) == 1
    out, err = capsys.readouterr()
    assert (
        f"  projections: episodes row episode {episode_id}: a value in it is not what its column holds"
        " (a time, date, number or JSON that is not one) (changed outside alliancekit)"
    ) in out.splitlines()
    assert TEXT not in out + err


def test_backup_of_such_a_file_does_not_verify_and_writes_nothing(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.sqlite"
    path.write_bytes(demo.read_bytes())
    episode_id = _plant(path, f"UPDATE episodes SET closed_on = '{TEXT}' WHERE episode_id = ?")  # noqa: S608
    copy = tmp_path / "copy.sqlite"
    assert main(["backup", "--db", str(path), str(copy)]) == 1
    out, err = capsys.readouterr()
    assert "internal error" not in err
    assert f"projections: episodes row episode {episode_id}: " in out
    assert out.splitlines()[-1] == f"the copy did not verify: nothing was written to {copy}"
    assert not copy.exists()
    assert TEXT not in out + err


def test_a_journal_beside_the_file_is_what_verify_says(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A writer stopped mid-transaction leaves a hot -journal that SQLite must roll back before reading:
    a read-only open cannot, and says so (not that the file is read-only)."""
    import subprocess
    import sys

    path = tmp_path / "p.sqlite"
    path.write_bytes(demo.read_bytes())
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    stopped = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 1'); c.execute('BEGIN')\n"
        "c.execute(\"UPDATE audit SET detail = detail || ' '\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", stopped, str(path)], check=True)
    assert Path(f"{path}-journal").exists()
    assert main(["verify", "--db", str(path)]) == 2
    _, err = capsys.readouterr()
    assert f"cannot open {path} read-only: p.sqlite-journal is beside it" in err
    assert "the file is read-only" not in err
