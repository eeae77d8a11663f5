"""Wrong inputs a developer trying the CLI gives it: each is a usage error (exit 2) in one line naming the
option and its rule, found before anything is opened or written, and never a value of the record."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.cli.common import DB_ENV
from alliancekit.cli.main import main

CLINICIAN = Actor("clin-a", Role.CLINICIAN, "north")
CANARY = "client-CANARY-2718"
EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "p.sqlite"
    with open_practice(path) as practice:
        practice.start_episode(
            CLINICIAN, client_ref=CANARY, clinician_id="clin-a", opened_on=date(2026, 3, 2)
        )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert CANARY not in err
    return code, out, err


@pytest.mark.parametrize("with_env", [True, False])
def test_a_blank_db_is_refused_not_read_as_the_environments(
    db: Path, with_env: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if with_env:
        monkeypatch.setenv(DB_ENV, str(db))
    else:
        monkeypatch.delenv(DB_ENV, raising=False)
    code, out, err = run(capsys, "caseload", "--db", "")
    assert code == 2
    assert out == ""
    assert "--db: empty" in err
    monkeypatch.setenv(DB_ENV, str(db))
    assert run(capsys, "caseload")[0] == 0  # no --db at all: the environment's, as before


@pytest.mark.parametrize("limit", ["0", "-1", "1000001"])
def test_outbox_dispatch_limit_out_of_range_is_refused_first(
    db: Path, limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "outbox", "dispatch", "--db", str(db), "--limit", limit)
    assert code == 2
    assert "--limit: from 1 to 1,000,000" in err


@pytest.mark.parametrize("limit", ["1", "1000000"])
def test_outbox_dispatch_limit_at_the_bounds_passes_the_check(
    db: Path, limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "outbox", "dispatch", "--db", str(db), "--limit", limit)
    # past the check, the command goes on: to dispatch, or to say there is no channel to dispatch through
    assert "--limit" not in err
    assert code == 0 or "no notification channel is registered here" in err


def test_audit_show_refuses_until_before_since(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("audit", "show", "--db", str(db), "--json")
    code, out, err = run(capsys, *argv, "--since", "2026-03-03", "--until", "2026-03-02")
    assert code == 2
    assert json.loads(out)["error"]["kind"] == "usage"  # with --json, the error on stdout as well
    assert "--until: not before --since" in err
    code, out, _ = run(capsys, *argv, "--since", "2026-03-02", "--until", "2026-03-02")
    assert code == 0  # the same day: the dates are inclusive
    assert list(json.loads(out)) == ["entries"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where nothing can be created")
@pytest.mark.parametrize(
    "argv",
    [
        ["export", "fhir", "--all", "--out", "/proc/alliancekit-export"],
        ["export", "csv", "--identified", "--out", "/proc/alliancekit-export"],
    ],
)
def test_an_output_directory_that_cannot_be_made_names_its_parent_not_a_staging_name(
    db: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv, "--db", str(db))
    assert code == 2
    assert "error: --out: not-writable (/proc: " in err
    assert ".partial-" not in err


@pytest.mark.parametrize("form", ["csv", "fhir"])
def test_a_blank_source_id_is_refused_not_read_as_the_files_name(
    db: Path, form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "history.ndjson"
    source.write_text("")
    mapping = ["--mapping", str(EXAMPLES / "openfit-style.toml")] if form == "csv" else []
    argv = ["import", form, "--db", str(db), *mapping, str(source), "--dry-run"]
    code, out, err = run(capsys, *argv, "--source-id", "")
    assert (code, out) == (2, "")
    assert "--source-id: empty" in err
    code, _, err = run(capsys, *argv, "--source-id", "h")  # one character: a name
    assert "--source-id" not in err


def test_report_out_that_is_a_file_is_refused_before_anything_is_read(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_practice(db) as practice:
        before = len(practice.store.audit_records())
    afile = tmp_path / "report.html"
    afile.write_text("mine")
    code, out, err = run(capsys, "report", "--db", str(db), "--out", str(afile))
    assert (code, out) == (2, "")
    assert f"--out {afile}: exists and is not a directory" in err
    assert afile.read_text() == "mine"
    with open_practice(db) as practice:
        assert len(practice.store.audit_records()) == before  # no report's reads were audited
    code, out, _ = run(capsys, "report", "--db", str(db), "--out", str(tmp_path), "--replace")  # a directory
    assert code == 0
    assert (tmp_path / "report.html").read_text() != "mine"


def test_create_in_a_missing_directory_names_the_directory_not_sqlites_exception(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "cannot open x.sqlite: OperationalError"."""
    db = tmp_path / "no-such-dir" / "x.sqlite"
    mapping = ["--mapping", str(EXAMPLES / "openfit-style.toml"), str(EXAMPLES / "openfit-style.csv")]
    code, out, err = run(capsys, "import", "csv", "--create", "--db", str(db), *mapping)
    assert (code, out) == (2, "")
    assert err == f"alliancekit: error: cannot open {db}: no such directory: {db.parent}\n"
    assert not db.parent.exists()


@pytest.mark.parametrize("given", ["option", "environment"])
def test_a_refused_store_path_is_named_once(
    given: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "--db P: cannot open P: ..." (and "--db P" of a path $ALLIANCEKIT_DB named): the store's
    words name the file, so they are shown alone, with the usage exit code."""
    db = tmp_path / "no-such-dir" / "x.sqlite"
    mapping = ["--mapping", str(EXAMPLES / "openfit-style.toml"), str(EXAMPLES / "openfit-style.csv")]
    where = ["--db", str(db)] if given == "option" else []
    if given == "environment":
        monkeypatch.setenv("ALLIANCEKIT_DB", str(db))
    code, out, err = run(capsys, "import", "csv", "--create", *where, *mapping)
    assert (code, out) == (2, "")
    assert err.count(str(db)) == 1, err
    assert "--db" not in err
    assert err == f"alliancekit: error: cannot open {db}: no such directory: {db.parent}\n"


def test_a_store_refusal_that_names_no_path_still_says_which(tmp_path: Path) -> None:
    """The ``--db P:`` prefix stays where the store's words do not name the location the error carries (and
    only there): the location is the error's attribute, set where the store opens, not read back from its
    words."""
    from alliancekit.cli.common import db_refused
    from alliancekit.errors import StoreError

    db = str(tmp_path / "x.sqlite")

    def refusal(text: str, location: str | None) -> StoreError:
        error = StoreError(text)
        error.location = location
        return error

    assert str(db_refused(db, refusal("written by a newer alliancekit", db))) == (
        f"--db {db}: written by a newer alliancekit"
    )
    assert str(db_refused(db, refusal(f"cannot open {db}: it is a directory", db))) == (
        f"cannot open {db}: it is a directory"
    )
    # words that name a path without the error saying it is the store's keep the prefix
    assert str(db_refused(db, f"cannot open {db}: it is a directory")) == (
        f"--db {db}: cannot open {db}: it is a directory"
    )
    assert str(db_refused(db, refusal(f"cannot open {db}: it is a directory", None))).startswith("--db ")
    # a short path that merely occurs in the words is not taken for the store naming it
    assert str(db_refused("a", refusal("not a directory", "a"))) == "--db a: not a directory"
    url = "postgresql://u:secret@127.0.0.1/db"
    assert str(db_refused(url, refusal("the server refused", "postgresql://u@127.0.0.1/db"))) == (
        "--db postgresql://u@127.0.0.1/db: the server refused"
    )


def test_a_demo_in_a_missing_directory_says_so_and_claims_no_removal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It also said "the unfinished demo database ... was removed" of a file that never existed."""
    db = tmp_path / "no-such-dir" / "demo.sqlite"
    code, out, err = run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")
    assert (code, out) == (2, "")
    assert err == f"alliancekit: error: cannot open {db}: no such directory: {db.parent}\n"


@pytest.mark.parametrize("argv", [["caseload"], ["export", "fhir", "--all", "--out", "-"], ["plugins"]])
def test_an_unknown_option_is_refused_with_its_commands_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """It was shown the top level's usage (``alliancekit [-h] [--version] COMMAND ...``)."""
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--bogus"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    command = " ".join(a for a in argv if not a.startswith("-") and a != "-")
    assert err.startswith(f"usage: alliancekit {command} ")
    assert err.endswith(f"alliancekit {command}: error: unrecognized arguments: --bogus\n")


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"'), key=repr) for name in names}  # noqa: S608


@pytest.mark.parametrize(
    ("command", "argv", "said"),
    [
        (["caseload"], ["--clinic", "north "], "--clinic: whitespace"),
        (["caseload"], ["--clinic", "\u200bnorth"], "--clinic: control-character"),
        (["caseload"], ["--clinician", "clin-a "], "--clinician: whitespace"),
        (["caseload"], ["--clinician", "\u00a0clin-a"], "--clinician: whitespace"),
        (["audit", "show"], ["--client", CANARY + "\u202e"], "--client: control-character"),
        (["audit", "show"], ["--client", "rene\u0301e"], "--client: unicode-nfc"),
        (["audit", "show"], ["--actor", " "], "--actor: required"),
        (["episode", "show"], ["ep\t1"], "ID: control-character"),
        (["outbox", "retry"], ["k "], "ID: whitespace"),
    ],
)
def test_an_id_the_library_refuses_is_named_by_its_option_and_nothing_is_written(
    db: Path, command: list[str], argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A padded or NFD id was a lookup that found nothing (``--clinic "north "``: no such clinic), audited
    as a read; now the option and the rule are named, before anything is read or written."""
    before = _tables(db)
    code, out, err = run(capsys, *command, "--db", str(db), *argv)
    assert code != 0
    assert out == ""
    assert said in err, err
    assert _tables(db) == before
