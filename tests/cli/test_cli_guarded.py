"""Every CLI command, enumerated from the parser, on a practice where one client withheld their record:
commands that read clinical content go through the facade (audited, the lockbox honoured), verification
writes nothing, and the rest touch no clinical content. A new command must be added to COMMANDS."""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, Session, open_practice
from alliancekit.cli.main import build_parser, main
from alliancekit.domain import Administration

CANARY = "CANARY-cli-4b2e"
IMPORTS = Path(__file__).parents[2] / "examples" / "imports"
LEVEL = 3.7
SCORE = "14.8"
#: A date and time as the exports write them, milliseconds and offset included.
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
D = date(2026, 1, 19)

Argv = Callable[[Path, Path, str], list[str]]

#: command path -> (how the practice is touched, the arguments after the command path)
#: audited: reads clinical content through the facade; read-only: opens the file read-only;
#: none: no practice database; worker: outbox rows only, references and codes (never a request's link:
#: tests/notify/test_outbox_links.py), of every clinic, unaudited; writes: creates or rewrites the database
COMMANDS: dict[str, tuple[str, Argv]] = {
    "caseload": ("audited", lambda db, tmp, ep: ["--db", str(db), "--all"]),
    "episode show": ("audited", lambda db, tmp, ep: ["--db", str(db), ep[:10], "--json"]),
    "report": ("audited", lambda db, tmp, ep: ["--db", str(db), "--out", str(tmp / "report")]),
    "quality": ("audited", lambda db, tmp, ep: ["--db", str(db), "--json"]),
    "export fhir": ("audited", lambda db, tmp, ep: ["--db", str(db), "--all", "--out", str(tmp / "bulk")]),
    "export csv": (
        "audited",
        lambda db, tmp, ep: ["--db", str(db), "--out", str(tmp / "csv"), "--key-file", str(tmp / "key")],
    ),
    "import csv": (
        "writes",
        lambda db, tmp, ep: [
            "--db",
            str(db),
            "--mapping",
            str(IMPORTS / "openfit-style.toml"),
            str(IMPORTS / "openfit-style.csv"),
        ],
    ),
    "import fhir": ("writes", lambda db, tmp, ep: ["--db", str(db), "--dry-run", str(tmp / "answers.json")]),
    "audit show": ("audited", lambda db, tmp, ep: ["--db", str(db), "--json"]),
    "audit verify": ("read-only", lambda db, tmp, ep: ["--db", str(db)]),
    "verify": ("read-only", lambda db, tmp, ep: ["--db", str(db), "--json"]),
    "backup": ("audited", lambda db, tmp, ep: ["--db", str(db), str(tmp / "backup.sqlite")]),
    "outbox status": ("worker", lambda db, tmp, ep: ["--db", str(db), "--dead"]),
    "outbox dispatch": ("worker", lambda db, tmp, ep: ["--db", str(db)]),
    "outbox retry": ("worker", lambda db, tmp, ep: ["--db", str(db), "0" * 32]),
    "measures list": ("none", lambda db, tmp, ep: []),
    "measures show": ("none", lambda db, tmp, ep: ["ors"]),
    "measures validate": ("none", lambda db, tmp, ep: ["ors", str(tmp / "answers.json")]),
    "measures check": ("none", lambda db, tmp, ep: [str(tmp / "definition.json")]),
    "plugins": ("none", lambda db, tmp, ep: []),
    "demo": ("writes", lambda db, tmp, ep: ["--db", str(tmp / "demo.sqlite"), "--clients", "12", "--quiet"]),
}


def _paths(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix} {name}".strip()
                found += _paths(sub, path) or [path]
    return found


def test_every_cli_command_is_in_the_table() -> None:
    assert sorted(_paths(build_parser())) == sorted(COMMANDS)


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A practice whose one client withheld their whole record, with a canary in the text and a score."""
    db = tmp_path_factory.mktemp("cli-guarded") / "p.sqlite"
    me = Actor("clin-a", Role.CLINICIAN, "c1")
    items = dict.fromkeys(("individually", "interpersonally", "socially", "overall"), LEVEL)
    with open_practice(db) as p:
        ep = p.start_episode(me, client_ref="client-1", clinician_id="clin-a", opened_on=D)
        from alliancekit.domain import Consent, Consultation, FitDecision, GoalDraft

        p.record_consultation(
            me, ep, Consultation(held_on=D, modality="video", consent=Consent(treatment=True, measures=True))
        )
        p.decide_fit(me, ep, FitDecision(outcome="proceed", decided_on=D, rationale=CANARY))
        p.agree_goals(me, ep, [GoalDraft(CANARY)], agreed_on=D)
        p.record_session(
            me,
            ep,
            Session(
                held_on=D,
                modality="video",
                attendance="attended",
                helpful=CANARY,
                administrations=(Administration("ors", "1.0", "start", items),),
            ),
        )
        p.set_lockbox(me, ep, scope="record", on=D)
    return db, ep


def _copy(db: Path, tmp: Path) -> Path:
    target = tmp / "copy.sqlite"
    target.write_bytes(db.read_bytes())
    return target


def _files(tmp: Path) -> str:
    return "".join(
        p.read_text(errors="replace") for p in tmp.rglob("*") if p.is_file() and p.suffix != ".sqlite"
    )


def _audit_rows(db: Path) -> int:
    import sqlite3

    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn, conn:
        return int(
            conn.execute("SELECT count(*) FROM audit WHERE actor_id = 'alliancekit-cli'").fetchone()[0]
        )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_command_on_a_locked_record(
    command: str, locked: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kind, argv = COMMANDS[command]
    db = _copy(locked[0], tmp_path)
    (tmp_path / "answers.json").write_text(
        '{"individually": 5, "interpersonally": 5, "socially": 5, "overall": 5}'
    )
    (tmp_path / "definition.json").write_text("{}")
    (tmp_path / "key").write_bytes(b"a synthetic pseudonym key for the test")
    before_bytes = hashlib.sha256(db.read_bytes()).hexdigest()
    before_audit = _audit_rows(db)
    main([*command.split(), *argv(db, tmp_path, locked[1])])
    out, err = capsys.readouterr()
    # instants (a Bulk manifest's transactionTime, say) are not scores: "17:41:14.861" holds "14.8"
    shown = _INSTANT.sub("<instant>", out + err + _files(tmp_path))
    assert CANARY not in shown
    assert SCORE not in shown
    if kind == "audited":
        assert _audit_rows(db) > before_audit, f"{command} read clinical content without an audit entry"
    elif kind == "read-only":
        # (a WAL database's readers keep its -wal and -shm side files; the database itself is untouched)
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before_bytes
        assert _audit_rows(db) == before_audit
    elif kind in ("none", "worker"):
        assert _audit_rows(db) == before_audit


def test_the_worker_commands_are_the_ones_the_security_page_exempts() -> None:
    """docs/reference/security.md names the outbox commands that take no actor: this table's workers."""
    text = (Path(__file__).parents[2] / "docs" / "reference" / "security.md").read_text(encoding="utf-8")
    start = text.index("- **The outbox worker's calls take no actor")
    bullet = text[start : text.index("\n- ", start + 1)]
    workers = {command for command, (kind, _) in COMMANDS.items() if kind == "worker"}
    assert workers == set(re.findall(r"`(outbox \w+)`", bullet))
