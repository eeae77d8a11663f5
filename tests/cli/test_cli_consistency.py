"""The CLI says the same thing the same way: a library error names the option the user typed, a key file
is refused in one wording, a kind of value has one metavar, an option that would be ignored is refused, and
an input that gives nothing to do is a usage error (exit 2) written before anything is opened or created.

Enumerated from the parser where a rule holds for every option, so that a new option cannot be left out."""

from __future__ import annotations

import argparse
import inspect
import json
import os
from pathlib import Path

import pytest

from alliancekit.cli import export
from alliancekit.cli.common import in_options, input_file, is_subcommands, iso_date, parser_actions
from alliancekit.cli.main import main
from alliancekit.cli.reference import commands
from alliancekit.errors import ValidationError
from alliancekit.fhir.validate import packaged_schema_path

EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"
MAPPING = EXAMPLES / "openfit-style.toml"
CANARY = "clinic-CANARY-3141"

#: The metavar of each kind of value, and the kinds there are.
METAVARS = {
    "LOCATION",
    "ID",
    "N",
    "YYYY",
    "YYYY-MM-DD",
    "FILE",
    "DIR",
    "PATH",
    "URL",
    "REF",
    "NAME",
    "VERSION",
}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    assert main(["demo", "--db", str(path), "--clients", "12", "--today", "2026-01-31", "--quiet"]) == 0
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exited:  # argparse's own usage errors
        code = int(str(exited.code))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def options() -> list[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    """Every option of every command that takes a value or is a flag (``--help`` aside)."""
    return [
        (name, parser, action)
        for name, parser in commands().items()
        for action in parser_actions(parser)
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


def long_form(action: argparse.Action) -> str:
    return max((o for o in action.option_strings if o.startswith("--")), key=len)


# -- 1. a library error names the option ---------------------------------------------------------------


def test_every_option_taking_a_value_names_its_field_in_an_error() -> None:
    for name, parser, action in options():
        if action.nargs == 0:
            continue
        said = in_options(parser, ValidationError(action.dest, "some-rule", "why"))
        assert said == f"{long_form(action)}: some-rule (why)", (name, action.dest)


def positionals() -> list[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    """Every positional argument of every command (the subcommand choices aside)."""
    return [
        (name, parser, action)
        for name, parser in commands().items()
        for action in parser_actions(parser)
        if not action.option_strings and not is_subcommands(action)
    ]


def test_every_positional_names_its_field_in_an_error_as_the_usage_line_shows_it() -> None:
    seen = set()
    for name, parser, action in positionals():
        shown = [word.strip("[]") for word in parser.format_usage().split()]  # [ID]: an optional positional
        said = in_options(parser, ValidationError(action.dest, "some-rule", "why"))
        named, _, rest = said.partition(": ")
        assert rest == "some-rule (why)", (name, action.dest)
        assert named in shown, (name, action.dest, named)
        assert named != action.dest or action.metavar is None, (name, action.dest)
        seen.add(named)
    assert {"SOURCE", "ID", "RESPONSE.json", "DEFINITION.json"} <= seen  # the enumeration found them


def test_a_field_no_option_takes_is_left_as_the_library_says_it() -> None:
    parser = commands()["export fhir"]
    assert in_options(parser, ValidationError("directory", "not-writable")) == "directory: not-writable"
    assert in_options(parser, ValidationError("max_entries_x", "r")) == "max_entries_x: r"
    assert (
        in_options(parser, ValidationError("type", "enum")) == "type: enum"
    )  # --type's field is bundle_type
    import_fhir = commands()["import fhir"]
    assert in_options(import_fhir, ValidationError("json", "syntax")) == "json: syntax"  # not the --json flag


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["export", "fhir", "--episode", "0", "--type", "transaction", "--max-entries", "0"],
            "--max-entries: range",
        ),
        (["export", "fhir", "--all", "--base-url", "ftp://x"], "--base-url: absolute-url"),
        (["export", "fhir", "--all", "--identifier-system", "no url"], "--identifier-system: absolute-uri"),
        (["export", "fhir", "--all", "--request", "ftp://x"], "--request: absolute-url"),
        (["report", "--max-charts", "-1"], "--max-charts: range"),
        (["report", "--today", "1899-12-31"], "--today: range"),
        (["quality", "--today", "2200-01-01"], "--today: range"),
        (["audit", "show", "--since", "1899-12-31"], "--since: range"),
        (["audit", "show", "--until", "2200-01-01"], "--until: range"),
    ],
)
def test_library_errors_name_the_option_typed(
    demo_db: Path, tmp_path: Path, argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    writes = ["--out", str(out_dir)] if argv[0] in ("export", "report") else []
    code, out, err = run(capsys, *argv, "--db", str(demo_db), *writes)
    assert (code, out) == (2, "")
    assert err.startswith(f"alliancekit: error: {says}")
    assert not out_dir.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--max-charts", "0", "--today", "1900-01-01", "--out", "-"],
        ["audit", "show", "--since", "1900-01-01", "--until", "2199-12-31", "--json"],
    ],
)
def test_the_bounds_themselves_pass(
    demo_db: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv, "--db", str(demo_db))
    assert code == 0, err


# -- 2. one key-file wording ---------------------------------------------------------------------------

KEY_COMMANDS = {"verify": [], "audit verify": [], "export csv": ["--out"], "backup": ["PATH"]}


def test_the_key_file_table_holds_every_command_with_a_key_file() -> None:
    assert {n for n, _, a in options() if "--key-file" in a.option_strings} == set(KEY_COMMANDS)


def _key_argv(command: str, db: Path, tmp: Path, key: Path) -> list[str]:
    more = ["--out", str(tmp / "tables")] if command == "export csv" else []
    if command == "backup":
        more = [str(tmp / "tables")]
    return [*command.split(), "--db", str(db), "--key-file", str(key), *more]


@pytest.mark.parametrize("command", sorted(KEY_COMMANDS))
def test_a_key_file_is_refused_in_one_wording(
    demo_db: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no.key"
    code, out, err = run(capsys, *_key_argv(command, demo_db, tmp_path, missing))
    assert (code, out, err) == (
        2,
        "",
        f"alliancekit: error: --key-file {missing}: No such file or directory\n",
    )
    code, _, err = run(capsys, *_key_argv(command, demo_db, tmp_path, tmp_path))
    assert (code, err) == (2, f"alliancekit: error: --key-file {tmp_path}: Is a directory\n")
    short = tmp_path / "short.key"
    short.write_bytes(b"k" * 15)  # shorter than either key's minimum
    code, _, err = run(capsys, *_key_argv(command, demo_db, tmp_path, short))
    assert code == 2
    assert err.startswith(f"alliancekit: error: --key-file {short}: too-short (a key of at least ")
    assert not (tmp_path / "tables").exists()


@pytest.mark.parametrize("command", sorted(KEY_COMMANDS))
def test_a_long_enough_key_passes(
    demo_db: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "good.key"
    key.write_bytes(b"k" * 32 + b"\n")  # the audit key's minimum (the pseudonym key's is lower)
    key.chmod(0o600)
    code, _, err = run(capsys, *_key_argv(command, demo_db, tmp_path, key))
    assert "--key-file" not in err
    assert code in (0, 1)  # verify's finding is about the record (no checkpoints under this key), not the key


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("command", sorted(KEY_COMMANDS))
@pytest.mark.parametrize(
    ("mode", "warned"),
    [(0o600, False), (0o400, False), (0o700, False), (0o640, True), (0o604, True), (0o610, True)],
)
def test_a_key_file_other_users_can_open_is_used_with_a_warning(
    demo_db: Path,
    tmp_path: Path,
    command: str,
    mode: int,
    warned: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whoever reads the pseudonym key can re-identify an export; whoever reads the audit key can forge
    checkpoints. Warned, not refused: secret volumes mount keys 0644 in containers nobody else shares."""
    key = tmp_path / "shared.key"
    key.write_bytes(b"k" * 32)
    key.chmod(mode)
    code, _, err = run(capsys, *_key_argv(command, demo_db, tmp_path, key))
    assert code in (0, 1)
    warning = f"alliancekit: warning: --key-file {key}: open to other users (mode {mode:04o}); chmod 600 it\n"
    assert (warning in err) is warned
    assert "k" * 32 not in err


# -- 3. one metavar per kind of value --------------------------------------------------------------------


def test_every_kind_of_value_has_one_metavar() -> None:
    for name, _, action in options():
        where = (name, long_form(action))
        if action.nargs == 0 or action.choices is not None:
            continue  # a flag, or a choice argparse lists itself
        assert action.metavar in METAVARS, where
        assert (action.type is iso_date) == (action.metavar == "YYYY-MM-DD"), where
        assert (inspect.unwrap(action.type) is input_file) == (action.metavar == "FILE"), where
        if action.type is int:
            assert action.metavar in ("N", "YYYY"), where
        if action.metavar == "YYYY":
            assert action.type is int, where
        assert action.dest.endswith("version") == (action.metavar == "VERSION"), where
        assert len(action.metavar) > 1 or action.metavar == "N", where  # a word, not a letter (F for FILE)


def test_options_that_name_a_file_to_read_are_files() -> None:
    reading = {"--key-file", "--mapping", "--schema", "--exclusions"}
    for name, _, action in options():
        if long_form(action) in reading:
            assert (action.metavar, inspect.unwrap(action.type)) == ("FILE", input_file), name


def test_a_blank_file_name_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "import", "csv", "--mapping", "", "history.csv")
    assert code == 2
    assert "argument --mapping: empty; name a file" in err


# -- 4. combinations that would be ignored ---------------------------------------------------------------


def test_the_directory_options_are_those_documented_as_with_all() -> None:
    fhir = commands()["export fhir"]
    documented = {long_form(a) for a in parser_actions(fhir) if (a.help or "").startswith("with --all")}
    assert documented == set(export.DIRECTORY_OPTIONS)


def test_the_bundle_options_are_those_documented_as_with_episode() -> None:
    fhir = commands()["export fhir"]
    documented = {long_form(a) for a in parser_actions(fhir) if (a.help or "").startswith("with --episode")}
    assert documented == set(export.BUNDLE_OPTIONS)


@pytest.mark.parametrize("option", [["--type", "batch"], ["--max-entries", "8"]])
def test_a_bundle_option_with_all_is_refused_naming_both(
    demo_db: Path, tmp_path: Path, option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    bulk = tmp_path / "bulk"
    code, out, err = run(capsys, "export", "fhir", "--db", str(demo_db), "--all", "--out", str(bulk), *option)
    assert (code, out) == (2, "")
    assert err.startswith(f"alliancekit: error: {option[0]}: not with --all (")
    assert not bulk.exists()


def _value(option: str) -> list[str]:
    if option == "--replace" or option == "--requires-access-token":
        return [option]
    return [option, "https://fhir.example.org/export"]


@pytest.mark.parametrize("option", sorted(export.DIRECTORY_OPTIONS))
@pytest.mark.parametrize("target", ["--out -", "--episode"])
def test_an_nd_json_directory_option_elsewhere_is_refused_naming_both(
    demo_db: Path, tmp_path: Path, option: str, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "b.json"
    which = ["--all", "--out", "-"] if target == "--out -" else ["--episode", "0", "--out", str(bundle)]
    code, out, err = run(capsys, "export", "fhir", "--db", str(demo_db), *which, *_value(option))
    assert (code, out) == (2, "")
    assert err.startswith(f"alliancekit: error: {option}: not with {target} (")
    assert not bundle.exists()


def test_a_directory_option_with_all_into_a_directory_is_taken(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bulk = tmp_path / "bulk"
    argv = ["export", "fhir", "--db", str(demo_db), "--all", "--out", str(bulk)]
    code, _, err = run(capsys, *argv, "--base-url", "https://fhir.example.org/export", "--replace")
    assert code == 0, err
    assert "https://fhir.example.org/export/" in (bulk / "manifest.json").read_text()


def test_a_schema_without_validate_is_refused_and_with_it_taken(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["export", "fhir", "--db", str(demo_db), "--all", "--out", str(tmp_path / "bulk")]
    code, _, err = run(capsys, *argv, "--schema", str(packaged_schema_path()))
    assert (code, err) == (
        2,
        "alliancekit: error: --schema: only with --validate (the schema is what --validate checks against)\n",
    )
    assert not (tmp_path / "bulk").exists()
    code, _, err = run(capsys, *argv, "--schema", str(packaged_schema_path()), "--validate")
    assert code == 0, err


@pytest.mark.parametrize(
    ("more", "says"),
    [
        (["--out", "-", "--replace"], "--replace: not with --out -"),
        (["--out", "DIR", "--table", "episodes"], "--table: only with --out -"),
    ],
)
def test_export_csv_refuses_options_it_would_ignore(
    demo_db: Path, tmp_path: Path, more: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    more = [str(tmp_path / "tables") if m == "DIR" else m for m in more]
    code, out, err = run(capsys, "export", "csv", "--db", str(demo_db), "--identified", *more)
    assert (code, out) == (2, "")
    assert err.startswith(f"alliancekit: error: {says}")
    assert not (tmp_path / "tables").exists()
    code, out, _ = run(
        capsys, "export", "csv", "--db", str(demo_db), "--identified", "--out", "-", "--table", "episodes"
    )
    assert code == 0
    assert "closing_reason" in out.splitlines()[0]  # the episodes table, not the administrations


# -- 5. files and clinics name their option --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (
            ["import", "csv", "--dry-run", "--mapping", "MISSING", str(EXAMPLES / "openfit-style.csv")],
            "--mapping",
        ),
        (["export", "fhir", "--all", "--out", "OUT", "--validate", "--schema", "MISSING"], "--schema"),
        (["quality", "--exclusions", "MISSING"], "--exclusions"),
    ],
)
def test_a_file_that_cannot_be_read_names_its_option(
    demo_db: Path, tmp_path: Path, argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    argv = [str(missing) if a == "MISSING" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    code, out, err = run(capsys, *argv, "--db", str(demo_db))
    assert (code, out) == (2, "")
    assert err == f"alliancekit: error: {option} {missing}: No such file or directory\n"
    assert not (tmp_path / "out").exists()


#: Per command with --clinic, the rest of a call that would otherwise run.
CLINIC_COMMANDS: dict[str, list[str]] = {
    "caseload": [],
    "episode show": ["0"],
    "report": ["--out", "OUT"],
    "quality": [],
    "export fhir": ["--all", "--out", "OUT"],
    "export csv": ["--identified", "--out", "OUT"],
    "audit show": [],
    "audit verify": [],
    "verify": [],
    "import csv": ["--dry-run", "--mapping", str(MAPPING), str(EXAMPLES / "openfit-style.csv")],
    "import fhir": ["--dry-run", str(Path(__file__).parents[1] / "imports" / "data" / "episode-bundle.json")],
    "measures list": [],
    "measures show": ["phq-9"],
    "measures validate": ["ors", "no-such-response.json"],  # refused before the response is read
}


def test_the_clinic_table_holds_every_command_with_a_clinic() -> None:
    assert {n for n, _, a in options() if "--clinic" in a.option_strings} == set(CLINIC_COMMANDS)


@pytest.mark.parametrize("command", sorted(CLINIC_COMMANDS))
@pytest.mark.parametrize("clinic", ["", "   "])
def test_a_blank_clinic_is_refused_naming_the_option_and_rule(
    demo_db: Path, tmp_path: Path, command: str, clinic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rest = [str(tmp_path / "out") if a == "OUT" else a for a in CLINIC_COMMANDS[command]]
    code, out, err = run(capsys, *command.split(), "--db", str(demo_db), "--clinic", clinic, *rest)
    assert (code, out) == (2, "")
    assert err == "alliancekit: error: --clinic: empty; name a clinic, or leave the option out\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["caseload", "verify"])
def test_an_unknown_clinic_is_named_by_the_option_never_echoed(
    demo_db: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *command.split(), "--db", str(demo_db), "--clinic", CANARY)
    assert code == 2
    assert err == "alliancekit: error: --clinic: no such clinic in this practice (it holds: demo-clinic)\n"
    assert CANARY not in err
    code, _, err = run(capsys, *command.split(), "--db", str(demo_db), "--clinic", "demo-clinic")
    assert code == 0, err


# -- 6. a header without the mapped columns ----------------------------------------------------------------


def test_a_header_without_the_mapped_columns_is_one_usage_error_writing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (EXAMPLES / "openfit-style.csv").read_text(encoding="utf-8").splitlines()
    header = good[0].split(",")
    kept = [h for h in header if h not in ("ORS Total", "SRS Total")]
    rows = [
        ",".join(c for h, c in zip(header, line.split(","), strict=True) if h in kept) for line in good[1:]
    ]
    source = tmp_path / "other.csv"
    source.write_text("\n".join([",".join(kept), *rows]) + "\n", encoding="utf-8")
    db = tmp_path / "p.sqlite"
    argv = ["import", "csv", "--db", str(db), "--create", "--mapping", str(MAPPING)]
    for dry_run in ([], ["--dry-run"]):
        code, out, err = run(capsys, *argv, str(source), *dry_run)
        assert (code, out) == (2, "")
        assert err == (
            "alliancekit: error: header: missing-column (the mapping names columns the header lacks: "
            "ORS Total, SRS Total)\n"
        )
        assert not db.exists()
    code, _, err = run(capsys, *argv, str(EXAMPLES / "openfit-style.csv"))  # every mapped column: imported
    assert code == 0, err


# -- 7. a FHIR directory with nothing to read -------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_a_fhir_directory_without_ndjson_is_a_usage_error(
    tmp_path: Path, dry_run: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "export"
    source.mkdir()
    (source / "notes.txt").write_text("not FHIR")
    db = tmp_path / "p.sqlite"
    argv = ["import", "fhir", "--db", str(db), "--create", *dry_run]
    code, out, err = run(capsys, *argv, str(source))
    assert (code, out) == (2, "")
    assert err.startswith("alliancekit: error: SOURCE: no-files (no NDJSON files (*.ndjson) in the directory")
    assert not db.exists()
    (source / "EpisodeOfCare.ndjson").write_text("")  # one NDJSON file, empty: nothing to import, no error
    code, out, err = run(capsys, *argv, str(source))
    assert code == 0, err
    assert "0 units" in out


# -- an option given before the command's name ---------------------------------------------------------


def test_every_option_given_before_its_command_is_named_as_misplaced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``alliancekit --json caseload`` was refused as ``caseload: unrecognized arguments: --json`` (caseload
    has --json), ``alliancekit --db x caseload`` as an invalid command ``x``, and ``alliancekit --bogus`` as a
    missing command. Every option of every command, typed before it, is now said to belong after it (with
    ``--json`` anywhere, as a JSON error object too); an option of no command is named as unrecognized."""
    for name, _, action in options():
        for option in set(action.option_strings) - {"--version"}:  # alliancekit's own (measures show has one)
            argv = [option, *(["x"] if action.nargs != 0 else []), *name.split(), "--json"]
            with pytest.raises(SystemExit) as exited:
                main(argv)
            out, err = capsys.readouterr()
            assert exited.value.code == 2, argv
            says = (
                f"{option}: an option of a command; give it after the command (alliancekit COMMAND {option})"
            )
            assert err.splitlines()[-1] == f"alliancekit: error: {says}", argv
            assert out == json.dumps({"error": {"kind": "usage", "message": says}}) + "\n", argv
    with pytest.raises(SystemExit) as exited:
        main(["--bogus", "caseload"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "alliancekit: error: unrecognized arguments: --bogus"


def test_the_top_level_options_still_work_before_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--version"], ["--vers"], ["--help"], ["-h", "caseload"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0, argv
        assert capsys.readouterr().out.startswith(("alliancekit 0", "usage: alliancekit [-h]")), argv
