"""``alliancekit import csv`` on sound and malformed files: each bad row named by row, column and rule
(never its value), nothing after the first bad row written, and a re-run after the fix resuming."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Actor, Purpose, Role, open_practice
from alliancekit.imports import ImportCheckpoint

from .conftest import CLINIC, HEADER, import_csv, row, sessions, write_csv, write_mapping

GOOD = [
    row("c-001", "08/01/2024", phq9="14"),
    row("c-001", "15/01/2024", gad=["1", "2", "0", "1", "2", "1", "0"]),
    row("c-001", "22/01/2024", came="N"),
    row("c-002", "2024-01-09", phq9="20", gad=["3", "3", "2", "2", "1", "1", "1"]),
    row("c-002", "2024-01-16", phq9="18"),
]


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def test_a_sound_file_imports_once_and_a_rerun_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, mapping, source = tmp_path / "p.sqlite", write_mapping(tmp_path), write_csv(tmp_path, GOOD)
    code, out, err = import_csv(capsys, db, mapping, source)
    assert code == 0, err
    assert "5 written" in out
    held = sessions(db)
    assert held == {
        "c-001": [
            ("2024-01-08", "attended", (("phq-9", 14.0),)),
            ("2024-01-15", "attended", (("gad-7", 7.0),)),
            ("2024-01-22", "no-show", ()),
        ],
        "c-002": [
            ("2024-01-09", "attended", (("gad-7", 13.0), ("phq-9", 20.0))),
            ("2024-01-16", "attended", (("phq-9", 18.0),)),
        ],
    }
    # again: the checkpoint skips every row
    assert import_csv(capsys, db, mapping, source)[1].startswith("imported 5 units: 0 written, 5 already")
    # under another checkpoint name every row is read again: the idempotency keys recognise each, and the
    # report counts them as already imported
    code, out, _ = import_csv(capsys, db, mapping, source, "--source-id", "a-copy")
    assert code == 0
    assert out.startswith("imported 5 units: 0 written, 5 already imported")
    assert sessions(db) == held


def test_a_total_only_row_is_recorded_as_a_total_and_no_items_are_invented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.sqlite"
    assert import_csv(capsys, db, write_mapping(tmp_path), write_csv(tmp_path, GOOD[:2]))[0] == 0
    with open_practice(db) as practice:
        actor = Actor("sup", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)
        episode = practice.caseload(actor)[0].episode_id
        recorded = [e.event for e in practice.timeline(actor, episode) if e.type == "session-recorded"]
    total_only = recorded[0].session.administrations[0]  # type: ignore[attr-defined]
    with_items = recorded[1].session.administrations[0]  # type: ignore[attr-defined]
    assert (total_only.measure_id, total_only.total, dict(total_only.answers)) == ("phq-9", 14, {})
    assert recorded[0].scores[0].subscales == {}  # type: ignore[attr-defined]
    assert recorded[0].scores[0].risk_items == ()  # type: ignore[attr-defined]
    assert with_items.total is None
    assert len(with_items.answers) == 7


@pytest.mark.parametrize(
    ("encoding", "declared", "bom"),
    [
        ("latin-1", "latin-1", b""),
        ("cp1252", "cp1252", b""),
        ("utf-16-le", "utf-8", codecs.BOM_UTF16_LE),  # the BOM wins over the declaration
        ("utf-16-be", "utf-16", codecs.BOM_UTF16_BE),
        ("utf-8", "utf-8", codecs.BOM_UTF8),
        ("utf-8", "latin-1", codecs.BOM_UTF8),
    ],
)
def test_other_encodings_and_byte_order_marks(
    encoding: str, declared: str, bom: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row("cl\u00e9ment-7", "08/01/2024", phq9="9"), row("cl\u00e9ment-7", "15/01/2024", phq9="8")]
    source = write_csv(tmp_path, rows, encoding=encoding)
    source.write_bytes(bom + source.read_bytes())
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path, encoding=declared), source)
    assert code == 0, err
    assert [s[0] for s in sessions(db)["cl\u00e9ment-7"]] == ["2024-01-08", "2024-01-15"]


def test_bytes_not_in_the_declared_encoding_are_a_row_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row(f"ok-{i}", "08/01/2024", phq9="9") for i in (1, 2)]
    rows.append(row("cl\u00e9ment-7", "08/01/2024", phq9="9"))
    source = write_csv(tmp_path, rows, encoding="latin-1")
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path, encoding="utf-8"), source)
    assert code == 1
    assert _errors(err) == ["error: row 4, Client: encoding (not utf-8: declare [source] encoding)"]
    assert "cl" not in err.replace("alliancekit", "").replace("declare", "")  # no part of the value
    # the sessions before it are written, but for the one still open when it was read (it may be part of it)
    assert set(sessions(db)) == {"ok-1"}


def test_a_utf16_declaration_without_a_bom_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path, GOOD, encoding="utf-16-le")
    code, _, err = import_csv(
        capsys, tmp_path / "p.sqlite", write_mapping(tmp_path, encoding="utf-16"), source
    )
    assert code == 2
    assert "error: SOURCE: encoding" in err
    assert not (tmp_path / "p.sqlite").exists()  # found before --create made the practice


@pytest.mark.parametrize(
    ("delimiter", "declared"), [(";", ";"), ("\t", "\t"), ("|", "|"), (";", "auto"), ("\t", "auto")]
)
def test_other_delimiters(
    delimiter: str, declared: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path, GOOD, delimiter=delimiter)
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path, delimiter=declared), source)
    assert code == 0, err
    assert sum(len(v) for v in sessions(db).values()) == 5


def _ors_mapping(folder: Path, decimal: str | None = None, delimiter: str = ",") -> Path:
    """A mapping of one ORS total (decimals allowed, 0 to 40), with ``decimal`` declared or not."""
    mapping = folder / "ors.toml"
    declared = "" if decimal is None else f'decimal = "{decimal}"\n'
    mapping.write_text(
        f'[source]\ndelimiter = "{delimiter}"\n{declared}[columns]\nclient = "C"\nsession_date = "D"\n'
        '[defaults]\nclinician = "x"\n[[measures]]\nmeasure = "ors"\ntotal = "ORS"\n',
        encoding="utf-8",
    )
    return mapping


def test_a_semicolon_file_may_use_decimal_commas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = _ors_mapping(tmp_path, decimal=",", delimiter=";")
    source = write_csv(tmp_path, [["c-1", "2024-01-08", "21,4"]], header=["C", "D", "ORS"], delimiter=";")
    db = tmp_path / "p.sqlite"
    assert import_csv(capsys, db, mapping, source)[0] == 0
    assert sessions(db)["c-1"][0][2] == (("ors", 21.4),)


@pytest.mark.parametrize(
    ("decimal", "cell", "total"),
    [
        (None, "21", 21.0),
        (None, "21.4", 21.4),
        (None, "+21.4", 21.4),
        (None, "007", 7.0),
        (None, "0", 0.0),
        (None, "-0", 0.0),
        (None, " 21.4 ", 21.4),  # spaces around a number are not part of it
        (None, ".5", 0.5),
        (None, "21.", 21.0),
        (".", "40.0", 40.0),
        (",", "21,4", 21.4),
        (",", "+21,4", 21.4),
        (",", ",5", 0.5),
        (",", "1,234", 1.234),  # a decimal comma: never a thousands separator
        (",", "21", 21.0),
    ],
)
def test_the_numbers_a_cell_may_hold(
    decimal: str | None, cell: str, total: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path, [["c-1", "2024-01-08", cell]], header=["C", "D", "ORS"])
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(capsys, db, _ors_mapping(tmp_path, decimal), source)
    assert code == 0, err
    assert sessions(db)["c-1"][0][2] == (("ors", total),)


@pytest.mark.parametrize(
    ("decimal", "cell"),
    [
        (None, "1_0"),  # Python's digit grouping
        (None, "1e1"),  # an exponent
        (None, "1.5E0"),
        (None, " nan"),
        (None, "NaN"),
        (None, "inf"),
        (None, "infinity"),
        (None, "-Infinity"),
        (None, "\u0663"),  # ARABIC-INDIC DIGIT THREE
        (None, "\u06f3"),  # EXTENDED ARABIC-INDIC DIGIT THREE
        (None, "\uff13"),  # FULLWIDTH DIGIT THREE
        (None, "0x1A"),
        (None, "21,4"),  # a decimal comma, not declared
        (None, "1,234"),  # a thousands separator (or an undeclared decimal comma)
        (None, "1,234.5"),
        (None, "1 234"),
        (None, "1\u00a0234"),  # a no-break space between digit groups
        (None, "1.2.3"),
        (None, "+-1"),
        (None, "--1"),
        (None, "+"),
        (None, "."),
        (None, "9" * 400),  # beyond a float: infinite
        (",", "21.4"),  # a decimal point, where a comma is declared
        (",", "1.234,5"),
        (",", "1,2,3"),
    ],
)
def test_anything_else_in_a_number_cell_is_a_row_error(
    decimal: str | None, cell: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path, [["c-1", "2024-01-08", cell]], header=["C", "D", "ORS"])
    db = tmp_path / "p.sqlite"
    code, out, err = import_csv(capsys, db, _ors_mapping(tmp_path, decimal), source)
    assert code == 1
    separator = "comma" if decimal == "," else "point"
    assert _errors(err) == [
        f"error: row 2, ORS: number (digits 0-9, an optional sign and a decimal {separator})"
    ]  # the whole report: the cell is never echoed
    assert cell.strip() not in out
    assert sessions(db) == {}


def test_an_item_cell_follows_the_same_number_syntax(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row("c-1", "08/01/2024", gad=["1", "1", "\u0662", "1", "1", "1", "1"])]
    code, _, err = import_csv(
        capsys, tmp_path / "p.sqlite", write_mapping(tmp_path), write_csv(tmp_path, rows), "--dry-run"
    )
    assert (code, _errors(err)) == (
        1,
        ["error: row 2, G3: number (digits 0-9, an optional sign and a decimal point)"],
    )


def test_a_missing_column_stops_the_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = [h for h in HEADER if h != "PHQ9"]
    rows = [[c for h, c in zip(HEADER, r, strict=True) if h != "PHQ9"] for r in GOOD]
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path), write_csv(tmp_path, rows, header=header))
    assert code == 2  # a file for another mapping: a usage error before anything is opened
    assert err == (
        "alliancekit: error: header: missing-column (the mapping names columns the header lacks: PHQ9)\n"
    )
    assert not db.exists()  # --create made nothing


def test_extra_columns_are_ignored_and_extra_or_missing_cells_are_row_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [*GOOD[:2], [*GOOD[2], "one too many"], GOOD[3][:-2]]
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path), write_csv(tmp_path, rows), "--dry-run")
    assert code == 1
    assert _errors(err) == [
        "error: row 4, row: extra-cells (13 cells expected)",
        "error: row 5, row: missing-cells (13 cells expected)",
    ]
    assert sessions(db) == {}  # a dry run writes nothing


def test_several_date_formats_and_a_date_in_none_of_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        row("c-1", "08/01/2024", phq9="5"),
        row("c-1", "2024-01-15", phq9="5"),
        row("c-1", "2024/01/22", phq9="5"),
    ]
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path), write_csv(tmp_path, rows))
    assert code == 1
    assert _errors(err) == ["error: row 4, Date: date-format (expected %d/%m/%Y or %Y-%m-%d)"]
    # row 3's session waits for the fix: row 4, fixed, could be part of it
    assert [s[0] for s in sessions(db)["c-1"]] == ["2024-01-08"]


def test_duplicate_rows_and_rows_out_of_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        row("c-1", "08/01/2024", phq9="5"),
        row("c-1", "08/01/2024", phq9="5"),  # the same row again
        row("c-1", "15/01/2024", phq9="6"),
        row("c-2", "15/01/2024", phq9="6"),
        row("c-1", "15/01/2024", phq9="7"),  # c-1 on a date already read, after another client
        row("c-1", "01/01/2024", phq9="7"),  # before c-1's sessions read so far
    ]
    code, _, err = import_csv(
        capsys, tmp_path / "p.sqlite", write_mapping(tmp_path), write_csv(tmp_path, rows), "--dry-run"
    )
    assert code == 1
    assert _errors(err) == [
        "error: row 3, row: duplicate (of row 2)",
        "error: row 6, row: duplicate (a session on this date was read earlier)",
        "error: row 7, Date: order (before a session read earlier)",
    ]


@pytest.mark.parametrize(
    ("phq9", "rule"),
    [("0", None), ("27", None), ("28", "maximum"), ("-1", "minimum"), ("3.5", "type"), ("many", "number")],
)
def test_totals_at_and_beyond_the_measure_range(
    phq9: str, rule: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = import_csv(
        capsys,
        tmp_path / "p.sqlite",
        write_mapping(tmp_path),
        write_csv(tmp_path, [row("c-1", "08/01/2024", phq9=phq9)]),
    )
    if rule is None:
        assert code == 0, err
        return
    assert code == 1
    [error] = _errors(err)
    assert error.startswith(f"error: row 2, PHQ9: {rule}")
    assert phq9 not in error.split(":", 2)[-1].replace("-27", "")  # the value is never shown


@pytest.mark.parametrize(
    ("item", "rule"), [("3", None), ("4", "maximum (at most 3)"), ("-1", "minimum (at least 0)")]
)
def test_items_at_and_beyond_their_range_name_the_items_column(
    item: str, rule: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row("c-1", "08/01/2024", gad=["1", "1", item, "1", "1", "1", "1"])]
    code, _, err = import_csv(
        capsys, tmp_path / "p.sqlite", write_mapping(tmp_path), write_csv(tmp_path, rows)
    )
    if rule is None:
        assert code == 0, err
    else:
        assert (code, _errors(err)) == (1, [f"error: row 2, G3: {rule}"])


def test_within_a_batch_nothing_is_half_written_and_the_fixed_file_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row(f"c-{i}", "08/01/2024", phq9=str(i)) for i in range(1, 9)]
    rows[5] = row("c-6", "08/01/2024", phq9="99")  # row 7 of the file
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    source = write_csv(tmp_path, rows)
    code, out, err = import_csv(capsys, db, mapping, source, "--batch-size", "2")
    assert code == 1
    assert _errors(err) == ["error: row 7, PHQ9: maximum (above the measure's range (0-27))"]
    assert "checkpoint at row 5" in out  # c-5 (row 6) was still open when row 7 was read
    assert sorted(sessions(db)) == ["c-1", "c-2", "c-3", "c-4"]
    with open_practice(db) as practice:
        system = Actor("alliancekit-import", Role.SYSTEM, CLINIC, Purpose.OPERATIONS)
        saved = practice.import_checkpoint(system, "history.csv")
    assert isinstance(saved, ImportCheckpoint)
    assert saved.row == 5
    rows[5] = row("c-6", "08/01/2024", phq9="6")
    write_csv(tmp_path, rows)
    code, out, _ = import_csv(capsys, db, mapping, source, "--batch-size", "2")
    assert code == 0
    assert out.startswith("imported 8 units: 4 written, 4 already imported")
    assert {c: s[0][2] for c, s in sessions(db).items()} == {
        f"c-{i}": (("phq-9", float(i)),) for i in range(1, 9)
    }


def test_a_file_changed_before_its_checkpoint_is_read_again_and_nothing_is_doubled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    first = [row("c-1", "08/01/2024", phq9="3"), row("c-2", "08/01/2024", phq9="4")]
    assert import_csv(capsys, db, mapping, write_csv(tmp_path, first))[0] == 0
    changed = [row("c-0", "01/01/2024", phq9="2"), *first, row("c-3", "08/01/2024", phq9="5")]
    code, out, _ = import_csv(capsys, db, mapping, write_csv(tmp_path, changed))
    assert code == 0
    assert out.startswith("imported 4 units: 2 written, 2 already imported")  # c-1 and c-2 recognised
    assert {c: len(s) for c, s in sessions(db).items()} == {"c-0": 1, "c-1": 1, "c-2": 1, "c-3": 1}


_SOUND = "[columns]\nclient = 'Client'\nsession_date = 'Date'\n[defaults]\nclinician = 'x'\n"
_PHQ9 = "[[measures]]\nmeasure = 'phq-9'\ntotal = 'PHQ9'\n"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[columns]\nclient = 'C'\n", "mapping.columns.session_date"),
        ("[columns]\nclient = 'C'\nsession_date = 'D'\n[defaults]\nclinician = 'x'\n", "mapping.measures"),
        ("[source]\nencoding = 'ebcdic'\n", "mapping.source.encoding"),
        ("[columns]\nclient = 'C'\nsession_date = 'D'\nshoe_size = 'S'\n", "mapping.columns.shoe_size"),
        ("[columns\n", "--mapping"),  # the file as a whole: named by its option
        (
            f"{_SOUND}[[measures]]\nmeasure = 'no-such-measure'\ntotal = 'PHQ9'\n",
            "mapping.measures[0].measure",
        ),
        (
            f"{_SOUND}[[measures]]\nmeasure = 'phq-9'\nversion = '9.9'\ntotal = 'PHQ9'\n",
            "mapping.measures[0].version",
        ),
        (
            f"{_SOUND}[[measures]]\nmeasure = 'gad-7'\nitems = {{ q1 = 'G1', q8 = 'G2' }}\n",
            "mapping.measures[0].items.q8",
        ),
        (f"{_SOUND}[[measures]]\nmeasure = 'gad-7'\nitems = 'G1'\n", "mapping.measures[0].items"),
        (f"[source]\ndate_formats = ['%d.%m.%Y', '%Q']\n{_SOUND}{_PHQ9}", "mapping.source.date_formats[1]"),
        (f"{_SOUND}{_PHQ9}{_PHQ9.replace('PHQ9', 'Other')}", "mapping.measures[1]"),
        (f"[source]\ndecimal = ';'\n{_SOUND}{_PHQ9}", "mapping.source.decimal"),
        (f"{_SOUND}{_PHQ9}timing = ['start']\n", "mapping.measures[0].timing"),
        (f"{_SOUND}{_PHQ9}timing = {{ at = 'start' }}\n", "mapping.measures[0].timing"),
    ],
)
def test_a_bad_mapping_names_its_key(
    text: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "bad.toml"
    mapping.write_text(text, encoding="utf-8")
    code, _, err = import_csv(capsys, tmp_path / "p.sqlite", mapping, write_csv(tmp_path, GOOD))
    assert code == 2
    assert f"alliancekit: error: {field}:" in err
    assert not (tmp_path / "p.sqlite").exists()


@pytest.mark.parametrize(
    ("name", "text", "rule"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000, "max-depth"),
        ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000 + "\n", "max-depth"),
        ("big.toml", "# " + "x" * 1_000_000 + "\n", "max-size"),
        ("nul.json", '{"columns": {"client": "C\\u0000"}}', "control-character"),
    ],
    ids=["deep-json", "deep-toml", "over-size", "nul"],
)
def test_a_hostile_mapping_file_is_refused_by_its_rule(
    name: str, text: str, rule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / name
    mapping.write_text(text, encoding="utf-8")
    code, _, err = import_csv(capsys, tmp_path / "p.sqlite", mapping, write_csv(tmp_path, GOOD))
    assert code == 2
    assert f"alliancekit: error: --mapping: {rule}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "p.sqlite").exists()


def test_the_example_mappings_import_their_sample_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = Path(__file__).parents[2] / "examples" / "imports"
    db = tmp_path / "p.sqlite"
    for name in ("openfit-style", "novopsych-style"):
        code, _, err = import_csv(capsys, db, examples / f"{name}.toml", examples / f"{name}.csv", "--json")
        assert code == 0, err
    held = sessions(db)
    assert len(held) == 11
    assert all(scores for s in held["NP001"] for scores in [s[2]])


def test_a_bad_row_of_a_session_holds_the_whole_session_back_and_the_fix_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        row("c-1", "08/01/2024", phq9="5"),
        row("c-1", "15/01/2024", phq9="6"),  # rows 3 and 4 are one session: a PHQ-9 row, then a GAD-7 row
        row("c-1", "15/01/2024", gad=["1", "1", "9", "1", "1", "1", "1"]),
        row("c-2", "08/01/2024", phq9="7"),
    ]
    db, mapping, source = tmp_path / "p.sqlite", write_mapping(tmp_path), write_csv(tmp_path, rows)
    code, out, err = import_csv(capsys, db, mapping, source, "--batch-size", "1")
    assert code == 1
    assert _errors(err) == ["error: row 4, G3: maximum (at most 3)"]
    assert "checkpoint at row 2" in out  # not row 3: the session of rows 3 and 4 is not written in part
    assert sessions(db) == {"c-1": [("2024-01-08", "attended", (("phq-9", 5.0),))]}
    rows[2] = row("c-1", "15/01/2024", gad=["1", "1", "2", "1", "1", "1", "1"])
    write_csv(tmp_path, rows)
    code, out, err = import_csv(capsys, db, mapping, source, "--batch-size", "1")
    assert code == 0, err
    assert out.startswith("imported 3 units: 2 written, 1 already imported")
    assert sessions(db)["c-1"][1] == ("2024-01-15", "attended", (("gad-7", 8.0), ("phq-9", 6.0)))


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b"\x7fELF" + b"\x01" * 200_000, 1),  # not CSV at all: no line break, one field of 200,000 bytes
        (",".join(HEADER).encode() + b'\r\nc-1,1,08/01/2024,Y,5,,,,,,,,"unclosed' + b" x" * 70_000, 2),
    ],
)
def test_a_field_longer_than_the_reader_takes_is_a_row_error(
    content: bytes, where: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "history.csv"
    source.write_bytes(content)
    code, _, err = import_csv(capsys, tmp_path / "p.sqlite", write_mapping(tmp_path), source, "--dry-run")
    assert code == 1
    assert _errors(err) == [f"error: row {where}, row: not-csv (a field of more than 131,072 characters)"]


@pytest.mark.parametrize(
    ("day", "rule"),
    [("01/01/1900", None), ("31/12/1899", "range"), ("31/12/2199", None), ("01/01/2200", "range")],
)
def test_dates_at_and_beyond_the_range_the_library_stores(
    day: str, rule: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row("c-1", day, phq9="5"), row("c-2", "2024-01-0x", phq9="5")]  # and a later row's error
    db, source = tmp_path / "p.sqlite", write_csv(tmp_path, rows)
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path), source, "--dry-run")
    assert code == 1
    later = "error: row 3, Date: date-format (expected %d/%m/%Y or %Y-%m-%d)"
    if rule is None:
        assert _errors(err) == [later]
    else:
        assert _errors(err) == ["error: row 2, Date: range (from 1900-01-01 to 2199-12-31)", later]


def test_a_clinician_the_library_would_refuse_is_a_row_error_of_the_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns]\nclient = "C"\nsession_date = "D"\nclinician = "Clinician"\n'
        '[[measures]]\nmeasure = "ors"\ntotal = "ORS"\n',
        encoding="utf-8",
    )
    rows = [["c-1", "2024-01-08", "clin-a", "20"], ["c-2", "2024-01-08", "k" * 300, "20"]]
    source = write_csv(tmp_path, rows, header=["C", "D", "Clinician", "ORS"])
    code, _, err = import_csv(capsys, tmp_path / "p.sqlite", mapping, source, "--dry-run")
    assert code == 1
    assert _errors(err) == ["error: row 3, Clinician: reference"]


@pytest.mark.parametrize(
    ("client", "episode", "rule"),
    [
        ("c-1", "1", None),
        ("c 1", "1", None),  # a space inside is part of the reference
        ("c-1 ", "1", "Client: whitespace"),  # not stripped into "c-1": that is another client's row
        (" c-1", "1", "Client: whitespace"),
        ("\u00a0c-1", "1", "Client: whitespace"),
        ("c-1\u200b", "1", "Client: control-character"),
        ("c\u202e1", "1", "Client: control-character"),
        ("c\t1", "1", "Client: control-character"),
        ("rene\u0301e", "1", "Client: unicode-nfc"),
        ("ren\u00e9e", "1", None),
        ("c-1", "1 ", "Episode: whitespace"),
        ("c-1", "e\u0301", "Episode: unicode-nfc"),
        ("c-1", "\u200b", "Episode: control-character"),
    ],
)
def test_an_id_cell_the_library_would_refuse_is_a_row_error_and_nothing_is_written(
    client: str, episode: str, rule: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row("c-0", "2024-01-08", phq9="5"), [client, episode, *row("x", "2024-01-08", phq9="5")[2:]]]
    db, source = tmp_path / "p.sqlite", write_csv(tmp_path, rows)
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path), source)
    if rule is None:
        assert code == 0, err
        assert set(sessions(db)) == {"c-0", client}
        return
    assert code == 1
    assert _errors(err) == [f"error: row 3, {rule}"]
    assert client not in err
    assert sessions(db) == {}  # the whole file stops at its first error: not even row 2 is written


def test_a_file_named_in_nfd_imports_under_its_nfc_name_and_a_rerun_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checkpoint is named by the file's name unless --source-id is given: a decomposed name (as macOS
    file names often are) is an id the library refuses, so its NFC spelling names the checkpoint."""
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    source = write_csv(tmp_path, [row("c-1", "2024-01-08", phq9="5")], name="donne\u0301es.csv")
    code, out, err = import_csv(capsys, db, mapping, source)
    assert code == 0, err
    assert out.startswith("imported 1 units: 1 written")
    code, out, err = import_csv(capsys, db, mapping, source)
    assert code == 0, err
    assert "0 written" in out
    assert set(sessions(db)) == {"c-1"}


def test_a_header_not_in_the_declared_encoding_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = [h if h != "Came" else "Pr\u00e9sent" for h in HEADER]
    mapping = write_mapping(tmp_path)
    mapping.write_text(mapping.read_text(encoding="utf-8").replace('"Came"', '"Pr\u00e9sent"'), "utf-8")
    source = write_csv(tmp_path, GOOD, header=header, encoding="cp1252")
    code, _, err = import_csv(capsys, tmp_path / "p.sqlite", mapping, source, "--dry-run")
    assert code == 1
    assert _errors(err) == ["error: row 1, header: encoding (not utf-8: declare [source] encoding)"]


def test_a_dry_run_creates_nothing_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, mapping = tmp_path / "store" / "p.sqlite", write_mapping(tmp_path)
    db.parent.mkdir()
    code, out, _ = import_csv(capsys, db, mapping, write_csv(tmp_path, GOOD[:2]), "--dry-run")
    assert (code, out) == (0, "checked 2 units: 2 to write, 0 already imported; checkpoint at row 0\n")
    assert list(db.parent.iterdir()) == []  # --create made no practice for a dry run
    assert import_csv(capsys, db, mapping, write_csv(tmp_path, GOOD[:2]))[0] == 0
    before = db.read_bytes()
    code, out, _ = import_csv(capsys, db, mapping, write_csv(tmp_path, GOOD), "--dry-run")
    assert (code, out) == (0, "checked 5 units: 3 to write, 2 already imported; checkpoint at row 3\n")
    assert db.read_bytes() == before  # opened read-only (an older store is not even migrated)


def _json(capsys: pytest.CaptureFixture[str], db: Path, source: Path, *more: str) -> dict[str, Any]:
    """The import's result as ``--json`` prints it, with its exit code as ``code``."""
    code, out, _ = import_csv(capsys, db, write_mapping(source.parent), source, "--json", *more)
    result: dict[str, Any] = json.loads(out)
    return {**result, "code": code}


_EIGHT = [row(f"c-{i}", "08/01/2024", phq9=str(i)) for i in range(1, 9)]


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        ([], _EIGHT, (0, 8, 0)),  # nothing imported yet
        (_EIGHT[:3], _EIGHT, (4, 5, 3)),  # resumed after the checkpoint (row 4)
        (_EIGHT, _EIGHT, (9, 0, 8)),  # everything imported already
        # a bad row 7: the import would write row 5 and stop (row 6's session waits for the fix)
        (_EIGHT[:3], [*_EIGHT[:5], row("c-6", "08/01/2024", phq9="99"), *_EIGHT[6:]], (4, 1, 3)),
        # changed before the checkpoint: read again from the start, the three stored found by their keys
        (_EIGHT[:3], [row("c-0", "01/01/2024", phq9="1"), *_EIGHT], (0, 6, 3)),
    ],
    ids=["fresh", "resumed", "done", "bad-row", "changed"],
)
def test_a_dry_run_reports_what_the_import_would_do_from_the_checkpoint(
    before: list[list[str]],
    now: list[list[str]],
    expected: tuple[int, int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "p.sqlite"
    if before:
        assert _json(capsys, db, write_csv(tmp_path, before))["code"] == 0
    source = write_csv(tmp_path, now)
    stored = db.read_bytes() if db.exists() else None
    dry = _json(capsys, db, source, "--dry-run", "--batch-size", "2")
    assert (db.read_bytes() if db.exists() else None) == stored  # a dry run writes nothing
    assert (dry["dry_run"], dry["written"]) == (True, 0)
    assert (dry["checkpoint"], dry["to_write"], dry["skipped"]) == expected  # resumes after, writes, skips
    real = _json(capsys, db, source, "--batch-size", "2")
    assert (dry["to_write"], dry["skipped"]) == (real["written"], real["skipped"])  # as the import did
    assert (dry["code"], dry["errors"]) == (real["code"], real["errors"])  # one error at most here


def test_a_source_that_is_a_directory_is_an_input_error_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(capsys, db, write_mapping(tmp_path), folder)
    assert code == 2
    assert "exports: not a file" in err
    assert not db.exists()


def test_a_date_after_today_is_a_row_error_and_its_batch_is_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo of a year to come (2099 for 2024): the library refuses the unit (no clinical date after the
    clinic's today), the import names its row, field and rule, and writes nothing of its batch."""
    rows = [row(f"c-{i}", "08/01/2024", phq9="5") for i in range(1, 5)]
    rows[2] = row("c-3", "08/01/2099", phq9="5")  # row 4 of the file
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    source = write_csv(tmp_path, rows)
    code, out, err = import_csv(capsys, db, mapping, source, "--batch-size", "2")
    assert code == 1
    assert _errors(err) == ['error: row 4, column "Date" (opened_on): future (refused by the library)']
    assert "2099" not in err.replace(str(tmp_path), "TMP")  # not in pytest's numbered folder either
    assert "checkpoint at row 3" in out
    assert sorted(sessions(db)) == ["c-1", "c-2"]  # c-4, in the refused unit's batch, is not written either


_OPENFIT = Path(__file__).parents[2] / "examples" / "imports" / "openfit-style.toml"
_OPENFIT_HEADER = [
    "Client ID",
    "Episode",
    "Session Date",
    "Clinician",
    "Format",
    "Attended",
    "ORS Total",
    "SRS Total",
]


def _openfit(day: str, ors: str = "20", srs: str = "36") -> list[str]:
    return ["OF-1", "1", day, "clin-ana", "Video", "Yes", ors, srs]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # a later session of an open episode dated in the future: the library refuses the session's date
        (
            [_openfit("08/01/2024"), _openfit("15/01/2099")],
            'error: row 3, column "Session Date" (session.held_on): future (refused by the library)',
        ),
        # an out-of-range total, refused where the row is read: its column, as before
        (
            [_openfit("08/01/2024", ors="41")],
            "error: row 2, ORS Total: maximum (above the measure's range (0-40))",
        ),
    ],
    ids=["future-date", "total-out-of-range"],
)
def test_an_openfit_style_row_error_names_the_column_to_fix(
    rows: list[list[str]], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refusal names the CSV column the refused field came from (the library's field in brackets), never
    the cell's value; ``--json`` carries the column beside the library's field and rule."""
    source = write_csv(tmp_path, rows, header=_OPENFIT_HEADER)
    code, _, err = import_csv(capsys, tmp_path / "p.sqlite", _OPENFIT, source)
    assert (code, _errors(err)) == (1, [expected])
    shown = err.replace(str(tmp_path), "TMP")  # pytest numbers its folders: /tmp/pytest-of-root/pytest-415/
    assert "2099" not in shown  # the values are never shown
    assert "41" not in shown
    code, out, _ = import_csv(capsys, tmp_path / "p.sqlite", _OPENFIT, source, "--json")
    [error] = json.loads(out)["errors"]
    assert code == 1
    if "refused" in expected:
        assert (error["field"], error["rule"], error["column"]) == (
            "session.held_on",
            "future",
            "Session Date",
        )
    else:
        assert (error["field"], error["rule"], error["column"]) == ("ORS Total", "maximum", None)
