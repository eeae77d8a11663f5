"""Where a command writes (the arguments whose metavar is DIR or PATH, enumerated from the parser): a path it
cannot write is refused in one line naming the argument, and a database there is never replaced.

Before, ``export fhir --episode ID --out practice.sqlite`` replaced the practice's own database with the
Bundle (exit 0), and a path that could not be written was named without its argument (``afile: File
exists`` for ``--out afile/sub``), unlike the paths the library checks (``--out: not-a-directory``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from alliancekit.cli.common import is_subcommands, parser_actions
from alliancekit.cli.main import main
from alliancekit.cli.reference import commands
from alliancekit.practice import remove_practice_files

#: The metavars of the arguments naming what a command writes.
OUTPUT_METAVARS = {"DIR", "PATH"}

#: For each way a command writes a path: the command, and its arguments around the path (``--db`` added).
WRITES: dict[str, tuple[str, Callable[[Path, str], list[str]]]] = {
    "demo": (
        "demo",
        lambda tmp, out: ["--db", str(tmp / "new.sqlite"), "--clients", "12", "-q", "--out", out],
    ),
    "report": ("report", lambda tmp, out: ["--out", out, "--today", "2026-01-31"]),
    "export fhir --episode": ("export fhir", lambda tmp, out: ["--episode", EPISODE_PREFIX, "--out", out]),
    "export fhir --all": ("export fhir", lambda tmp, out: ["--all", "--out", out]),
    "export csv": ("export csv", lambda tmp, out: ["--identified", "--out", out]),
    "backup": ("backup", lambda tmp, out: [out]),
}

#: A unique prefix of an episode of the demo below (a demo is the same for the same seed and today).
EPISODE_PREFIX = ""


def output_arguments() -> set[str]:
    return {
        command
        for command, parser in commands().items()
        for action in parser_actions(parser)
        if not is_subcommands(action) and action.metavar in OUTPUT_METAVARS
    }


def test_the_table_holds_every_command_that_writes_a_path() -> None:
    assert {command for command, _ in WRITES.values()} == output_arguments()


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    global EPISODE_PREFIX
    db = tmp_path_factory.mktemp("outputs") / "practice.sqlite"
    assert main(["demo", "--db", str(db), "--clients", "12", "--today", "2026-01-31", "--quiet"]) == 0
    EPISODE_PREFIX = _first_episode(db)
    return db


def _first_episode(db: Path) -> str:
    import io
    from contextlib import redirect_stdout

    listed = io.StringIO()
    with redirect_stdout(listed):
        assert main(["caseload", "--db", str(db), "--all", "--json"]) == 0
    return str(json.loads(listed.getvalue())[0]["episode_id"])


def run(
    capsys: pytest.CaptureFixture[str], way: str, db: Path, tmp: Path, out: str, *extra: str
) -> tuple[int, str, str]:
    command, args = WRITES[way]
    argv = [*command.split(), *([] if command == "demo" else ["--db", str(db)]), *args(tmp, out), *extra]
    code = main(argv)
    shown, said = capsys.readouterr()
    assert "Traceback" not in said
    return code, shown, said


@pytest.mark.parametrize("way", list(WRITES))
def test_a_path_under_a_file_is_refused_naming_its_argument(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path, way: str
) -> None:
    blocking = tmp_path / "afile"
    blocking.write_text("mine\n")
    out = str(blocking / "sub")
    argument = "PATH" if way == "backup" else "--out"
    code, shown, said = run(capsys, way, practice, tmp_path, out, "--json")
    assert code == 2
    lines = said.splitlines()
    assert len(lines) == 1, said
    assert lines[0].startswith(f"alliancekit: error: {argument}"), said
    assert "error" in json.loads(shown)
    assert blocking.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("way", list(WRITES))
def test_a_database_at_the_output_path_is_never_replaced(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path, way: str
) -> None:
    """Not the practice itself (``--out`` typed for ``--db``), nor any other database (a backup copy)."""
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(practice, copy)
    before = copy.read_bytes(), practice.read_bytes()
    for target in (copy, practice):
        code, _, said = run(capsys, way, practice, tmp_path, str(target))
        assert code == 2, said
        assert len(said.splitlines()) == 1, said
        assert str(target) in said
    assert (copy.read_bytes(), practice.read_bytes()) == before
    assert main(["verify", "--db", str(practice)]) == 0
    capsys.readouterr()


#: The files a command writes into its ``--out`` directory, by name (replaced when there from before).
FILES_IN_OUT = {"report": ["report.html"], "demo": ["summary.json", "report.html"]}


@pytest.mark.parametrize(("way", "name"), [(w, n) for w, names in FILES_IN_OUT.items() for n in names])
def test_a_database_at_a_file_written_into_the_out_directory_is_never_replaced(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path, way: str, name: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    shutil.copyfile(practice, out / name)
    before = (out / name).read_bytes()
    code, _, said = run(capsys, way, practice, tmp_path, str(out))
    assert code == 2, said
    says = "an SQLite database, never replaced by an output; name another one"
    assert said == f"alliancekit: error: --out {out / name}: {says}\n"
    assert (out / name).read_bytes() == before
    assert not (tmp_path / "new.sqlite").exists()  # the demo stopped before it made its practice


def test_an_earlier_bundle_is_replaced_with_replace(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path
) -> None:
    """The other side of the rule: a file that is not a database (an earlier export) is replaced when
    ``--replace`` says so."""
    earlier = tmp_path / "bundle.json"
    earlier.write_text('{"resourceType": "Bundle"}\n')
    code, _, said = run(capsys, "export fhir --episode", practice, tmp_path, str(earlier), "--replace")
    assert code == 0, said
    assert json.loads(earlier.read_text())["entry"]


def test_every_command_that_writes_a_path_takes_replace() -> None:
    """One rule for every output (docs/reference/cli.md, "Output"): a command that writes a file or a folder
    has ``--replace``, so a new command cannot write over what is there without it."""
    for command, parser in commands().items():
        if command not in output_arguments():
            continue
        options = {o for a in parser_actions(parser) for o in a.option_strings}
        assert "--replace" in options, command


def snapshot(path: Path) -> dict[str, bytes]:
    """What is at ``path``: a file's bytes, or every file under a directory by its relative name."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("way", list(WRITES))
def test_an_existing_output_is_refused_without_replace_and_replaced_with_it(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path, way: str
) -> None:
    """The rule for every way a command writes, enumerated from the parser: the output of an earlier run
    (a file, or a non-empty directory) is refused without ``--replace`` (exit 2, one line saying so, nothing
    changed), and replaced with it."""
    out = tmp_path / "out"
    code, _, said = run(capsys, way, practice, tmp_path, str(out))
    assert code == 0, said
    before = snapshot(out)
    assert before
    if way == "demo":  # over its own earlier practice the demo replaces its own out files (test_cli_demo)
        remove_practice_files(tmp_path / "new.sqlite")
    argument = "PATH" if way == "backup" else "--out"
    code, _, said = run(capsys, way, practice, tmp_path, str(out))
    assert code == 2, said
    assert said.startswith(f"alliancekit: error: {argument} {out}"), said
    assert said.endswith("; pass --replace to replace it\n") or "pass --replace to replace a previous" in said
    assert len(said.splitlines()) == 1, said
    assert snapshot(out) == before
    code, _, said = run(capsys, way, practice, tmp_path, str(out), "--replace")
    assert code == 0, said
    assert snapshot(out)


#: The ways that can write to standard output instead (``--out -``).
TO_STDOUT = [way for way in WRITES if way != "backup"]


@pytest.mark.parametrize("way", TO_STDOUT)
def test_replace_with_standard_output_is_refused_naming_both(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path, way: str
) -> None:
    code, shown, said = run(capsys, way, practice, tmp_path, "-", "--replace")
    assert code == 2, said
    nothing = "standard output has nothing to replace"
    assert said == f"alliancekit: error: --replace: not with --out - ({nothing})\n"
    assert shown == ""


def test_a_backup_to_standard_output_is_refused_saying_why(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, ``backup -`` wrote the copy to a file called ``-``."""
    monkeypatch.chdir(tmp_path)
    code, _, said = run(capsys, "backup", practice, tmp_path, "-")
    assert code == 2, said
    assert said == (
        "alliancekit: error: PATH -: not standard output: the copy is an SQLite file, verified before it is "
        "published under its name; name a file\n"
    )
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("way", ["export fhir --episode", "backup"])
def test_a_directory_at_a_file_output_is_refused_even_with_replace(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path, way: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argument = "PATH" if way == "backup" else "--out"
    for extra in ((), ("--replace",)):
        code, _, said = run(capsys, way, practice, tmp_path, str(out), *extra)
        assert code == 2, said
        assert said == f"alliancekit: error: {argument} {out}: a directory; name a file\n"
        assert list(out.iterdir()) == []


@pytest.mark.parametrize("way", ["export fhir --all", "export csv"])
def test_an_empty_directory_is_a_new_directory_output(
    capsys: pytest.CaptureFixture[str], practice: Path, tmp_path: Path, way: str
) -> None:
    """The boundary of "non-empty": an empty directory is written without ``--replace``; one holding a single
    file of the user's is refused, and keeps it."""
    out = tmp_path / "out"
    out.mkdir()
    code, _, said = run(capsys, way, practice, tmp_path, str(out))
    assert code == 0, said
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine\n")
    code, _, said = run(capsys, way, practice, tmp_path, str(other))
    assert code == 2, said
    assert "exists and is not empty; pass --replace" in said
    assert snapshot(other) == {"notes.txt": b"mine\n"}


@pytest.mark.parametrize("blank", ["", " "])
@pytest.mark.parametrize("way", list(WRITES))
def test_a_blank_output_path_is_refused_and_nothing_is_written(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    practice: Path,
    tmp_path: Path,
    way: str,
    blank: str,
) -> None:
    """Before, ``report --out ""`` and ``demo --out ""`` wrote into the current directory, and ``--out " "``
    made a file named by a space."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    try:
        code, _, said = run(capsys, way, practice, tmp_path, blank)
    except SystemExit as exited:  # argparse's own usage error
        code, said = int(str(exited.code)), capsys.readouterr().err
    assert code == 2, said
    argument = "PATH" if way == "backup" else "--out"
    assert re.search(rf"error: (argument )?{argument}: empty; name ", said), said
    assert list(work.iterdir()) == []
    assert not (tmp_path / "new.sqlite").exists()


def test_demo_replace_without_out_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--replace`` replaces what ``--out`` names; alone it would be ignored (the demo's own database is
    governed by ``--force``)."""
    db = tmp_path / "new.sqlite"
    code = main(["demo", "--db", str(db), "--clients", "12", "-q", "--replace"])
    assert code == 2
    assert capsys.readouterr().err == (
        "alliancekit: error: --replace: only with --out (it replaces the files --out names)\n"
    )
    assert not db.exists()
