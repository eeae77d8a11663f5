"""JSON past what Python parses (nested deeper than the stack) or holds (a number beyond a float, where a
checkpoint's heads need an int), planted in a column verify parses: `alliancekit verify` reports a finding
(exit 1), never an internal error (exit 70). PostgreSQL's side: the plugin's test_postgres_unreadable_rows."""

from __future__ import annotations

import sqlite3
import sys
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Practice
from alliancekit.cli.main import main
from alliancekit.demo import simulate_practice
from alliancekit.demo.simulate import MIN_CLIENTS
from alliancekit.domain import Role
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.sqlite import SQLiteStore

KEY = b"json-past-limits-seal-key-" + b"k" * 12
CLINIC = "demo-clinic"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


#: Deeper than the interpreter's stack allows json.loads (its C parser counts each level against the limit).
DEEP = _nested(sys.getrecursionlimit() * 3)
#: The largest float (1.7976931348623157e308): 1e308 still converts to an int, 1e309 reads as inf.
LARGEST, TOO_LARGE = "1e308", "1e309"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("json-limits") / "demo.sqlite"
    simulate_practice(path, clients=MIN_CLIENTS, seed=3, today=date(2026, 6, 1))
    with Practice(SQLiteStore(path), plugins=make_plugin_host(), audit_key=KEY, checkpoint_every=1) as p:
        p.audit_entries(Actor("adm", Role.ADMINISTRATOR, CLINIC))  # writes entries and a checkpoint
    return path


def _planted(demo: Path, tmp_path: Path, statement: str) -> Path:
    path = tmp_path / "p.sqlite"
    path.write_bytes(demo.read_bytes())
    with sqlite3.connect(path) as conn:
        episode = conn.execute("SELECT min(episode_id) FROM episodes").fetchone()[0]
        assert conn.execute(statement, {"episode": episode}).rowcount == 1
    return path


def _verify(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    key = path.parent / "seal.key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    code = main(["verify", "--db", str(path), "--key-file", str(key)])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        pytest.param(
            "UPDATE events SET payload = :deep WHERE episode_id = :episode AND seq = 2",
            "events: episode {episode} event 2: content does not match its hash",
            id="events.payload",
        ),
        pytest.param(
            "UPDATE episodes SET latest_scores = :deep WHERE episode_id = :episode",
            "projections: episode {episode} caseload row: caseload row differs from the snapshot's"
            " projection",
            id="episodes.latest_scores",
        ),
        pytest.param(
            "UPDATE audit_checkpoints SET heads = :deep WHERE seq = 1 AND :episode IS NOT NULL",
            "seals: audit_checkpoints row checkpoint 1 of chain demo-clinic: a value in it is not what its"
            " column holds",
            id="audit_checkpoints.heads",
        ),
    ],
)
def test_json_nested_past_the_stack_is_a_finding(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], statement: str, finding: str
) -> None:
    # Before the fix: exit 70, "internal error: RecursionError".
    path = _planted(demo, tmp_path, statement.replace(":deep", f"'{DEEP}'"))
    with sqlite3.connect(path) as conn:
        episode = conn.execute("SELECT min(episode_id) FROM episodes").fetchone()[0]
    code, out = _verify(path, capsys)
    assert code == 1, out
    assert any(line.strip().startswith(finding.format(episode=episode)) for line in out.splitlines()), out
    assert "RecursionError" not in out


@pytest.mark.parametrize("number", [LARGEST, TOO_LARGE])
def test_a_checkpoint_head_beyond_a_float_is_a_finding(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], number: str
) -> None:
    # Before the fix 1e309 (inf: int() raises OverflowError) ended verify with exit 70; 1e308 was a finding.
    path = _planted(
        demo,
        tmp_path,
        f"UPDATE audit_checkpoints SET heads = '[[0,{number},\"ab\"]]'"  # noqa: S608 - constants only
        " WHERE seq = 1 AND :episode IS NOT NULL",
    )
    code, out = _verify(path, capsys)
    assert code == 1, out
    assert "seals: " in out
    assert "OverflowError" not in out
