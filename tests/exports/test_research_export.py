"""``alliancekit export csv``: de-identified by default (no free text, keyed pseudonyms, no dates), a data
dictionary beside the files and in the docs, audited through the guard in batches, and bad input refused
before anything is read or written."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.demo import simulate_practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import AccessDenied, ValidationError
from alliancekit.exports import research
from alliancekit.exports.research import (
    DICTIONARY,
    KEY_ENV,
    dictionary_markdown,
    export_research,
    load_key,
    parquet_available,
    pseudonym,
)
from alliancekit.store import group_commit
from alliancekit.store.protocol import AuditRecord
from alliancekit.store.sqlite import SQLiteStore

CLINIC = "demo-clinic"
KEY = b"k" * 32
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("research") / "demo.sqlite"
    simulate_practice(path, clients=12, seed=7)
    return path


@pytest.fixture
def practice_copy(demo_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "p.sqlite"
    copy.write_bytes(demo_db.read_bytes())
    return copy


def actor() -> Actor:
    return Actor("research-lead", Role.SUPERVISOR, CLINIC, Purpose.QUALITY_IMPROVEMENT)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_de_identified_by_default(practice_copy: Path, tmp_path: Path) -> None:
    with open_practice(practice_copy) as practice:
        result = export_research(practice, actor(), tmp_path / "out", key=KEY)
        states = {ep: practice.episode(actor(), ep) for ep in practice.episode_ids(actor())}
    assert result.files == ("administrations.csv", "data-dictionary.csv", "episodes.csv", "subscales.csv")
    admins, episodes = rows(tmp_path / "out" / "administrations.csv"), rows(tmp_path / "out" / "episodes.csv")
    assert len(episodes) == result.episodes == len(states)
    assert len(admins) == result.administrations > 100
    text = "".join(p.read_text() for p in (tmp_path / "out").iterdir())
    for state in states.values():
        # no host reference, episode id or clinician id, and no date, appears anywhere
        assert state.client_ref not in text
        assert state.episode_id not in text
        assert state.opened_on.isoformat() not in text
    assert "synthetic" not in text  # the demo's free text
    pseudonyms = {pseudonym(KEY, "client", s.client_ref) for s in states.values()}
    assert {r["client"] for r in episodes} == pseudonyms
    assert {r["client"] for r in admins} <= pseudonyms
    assert all(r["held_on"] == "" for r in admins)
    assert all(r["opened_on"] == "" for r in episodes)
    assert all(int(r["day"]) >= 0 for r in admins)


def test_the_pseudonym_is_hmac_sha256_under_the_key_per_kind() -> None:
    expected = hmac.new(KEY, b"client\0client-1", hashlib.sha256).hexdigest()[:32]
    assert pseudonym(KEY, "client", "client-1") == expected
    assert pseudonym(KEY, "clinician", "client-1") != expected  # a clinician with the same id differs
    assert pseudonym(b"j" * 32, "client", "client-1") != expected  # another key, another pseudonym


def test_identified_writes_references_and_dates_and_needs_no_key(practice_copy: Path, tmp_path: Path) -> None:
    with open_practice(practice_copy) as practice:
        export_research(practice, actor(), tmp_path / "out", identified=True)
        refs = {practice.episode(actor(), ep).client_ref for ep in practice.episode_ids(actor())}
    episodes = rows(tmp_path / "out" / "episodes.csv")
    assert {r["client"] for r in episodes} == refs
    assert all(r["opened_on"] for r in episodes)
    assert all(r["held_on"] for r in rows(tmp_path / "out" / "administrations.csv"))


def test_the_rows_match_the_records(practice_copy: Path, tmp_path: Path) -> None:
    with open_practice(practice_copy) as practice:
        export_research(practice, actor(), tmp_path / "out", identified=True)
        states = {ep: practice.episode(actor(), ep) for ep in practice.episode_ids(actor())}
    for row in rows(tmp_path / "out" / "episodes.csv"):
        state = states[row["episode"]]
        assert row["stage"] == state.stage.value
        assert int(row["sessions_attended"]) == state.sessions_attended
        assert int(row["goals"]) == len(state.goals)
        if row["outcome_measure"]:
            assert float(row["first_total"]) == state.first_scores[row["outcome_measure"]].total
    admins = rows(tmp_path / "out" / "administrations.csv")
    assert {r["measure"] for r in admins} >= {"phq-9", "ors", "srs"}
    assert {r["timing"] for r in admins} == {"start", "end"}


def test_the_alerts_column_counts_every_alert_raised_not_only_the_open_ones(
    practice_copy: Path, tmp_path: Path
) -> None:
    with open_practice(practice_copy) as practice:
        export_research(practice, actor(), tmp_path / "out", identified=True)
        raised = {
            ep: sum(1 for e in practice.timeline(actor(), ep) if e.type == "alert-raised")
            for ep in practice.episode_ids(actor())
        }
    episodes = rows(tmp_path / "out" / "episodes.csv")
    assert {r["episode"]: int(r["alerts"]) for r in episodes} == raised
    assert any(r["stage"] == "closed" and int(r["alerts"]) for r in episodes)  # closing resolves them


def test_what_the_lockbox_withholds_is_neither_written_nor_counted_and_the_episode_says_so(
    practice_copy: Path, tmp_path: Path
) -> None:
    with open_practice(practice_copy) as practice:
        ids = practice.episode_ids(actor())
        states = {ep: practice.episode(actor(), ep) for ep in ids}
        closed = [
            ep for ep in ids if states[ep].ending_reason and states[ep].goals and states[ep].alerts == {}
        ]
        whole, sessions, goals = closed[:3]
        for ep, scope, classes in (
            (whole, "record", ()),
            (sessions, "class", ("sessions",)),
            (goals, "class", ("goals", "ending")),
        ):
            clinician = Actor(states[ep].clinician_id, Role.CLINICIAN, CLINIC, Purpose.TREATMENT)
            practice.set_lockbox(clinician, ep, scope=scope, classes=classes, on=states[ep].opened_on)
        export_research(practice, actor(), tmp_path / "out", identified=True)
    episodes = {r["episode"]: r for r in rows(tmp_path / "out" / "episodes.csv")}
    administered = {r["episode"] for r in rows(tmp_path / "out" / "administrations.csv")}
    # a whole-record lockbox withholds even that the episode exists: no row says anything of it
    assert whole not in episodes
    assert whole not in administered
    assert sessions not in administered
    row = episodes[sessions]
    counted = (row["sessions_scheduled"], row["sessions_attended"], row["alerts"], row["first_total"])
    assert counted == ("0", "0", "0", "")
    assert episodes[sessions]["goals"] == str(len(states[sessions].goals))  # what is shared still counts
    assert (episodes[goals]["goals"], episodes[goals]["ending_reason"]) == ("0", "")
    assert episodes[goals]["sessions_attended"] == str(states[goals].sessions_attended)
    assert goals in administered
    assert {ep: r["withheld"] for ep, r in episodes.items() if r["withheld"] == "true"} == dict.fromkeys(
        (sessions, goals), "true"
    )
    assert len(episodes) == len(ids) - 1
    assert {r["withheld"] for r in episodes.values()} == {"true", "false"}
    # the subscale scores are of the administrations written, and only of them: a withheld one has none
    admins = {r["administration"]: r for r in rows(tmp_path / "out" / "administrations.csv")}
    assert list(admins) == [str(n) for n in range(1, len(admins) + 1)]
    subscales = rows(tmp_path / "out" / "subscales.csv")
    assert subscales
    assert all(admins[r["administration"]]["measure"] == r["measure"] for r in subscales)
    assert not {admins[r["administration"]]["episode"] for r in subscales} & {whole, sessions}


def test_the_data_dictionary_is_beside_the_files_and_in_the_docs(practice_copy: Path, tmp_path: Path) -> None:
    with open_practice(practice_copy) as practice:
        export_research(practice, actor(), tmp_path / "out", key=KEY)
    dictionary = rows(tmp_path / "out" / "data-dictionary.csv")
    assert [(r["file"], r["column"]) for r in dictionary] == [(c.file, c.name) for c in DICTIONARY]
    for name in ("administrations", "subscales", "episodes"):
        with (tmp_path / "out" / f"{name}.csv").open(encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert header == [c.name for c in DICTIONARY if c.file == name]
    guide = (ROOT / "docs" / "guides" / "research-exports.md").read_text(encoding="utf-8")
    assert dictionary_markdown() in guide


class CountingStore(SQLiteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions: list[list[AuditRecord]] = []

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        super().append_audit(records)
        self.transactions.append(list(records))


@pytest.mark.parametrize("batch", [5, 1000])
def test_every_episode_read_is_audited_in_batches(
    practice_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(group_commit, "AUDIT_BATCH", batch)
    store = CountingStore(practice_copy)
    with contextlib.closing(store), open_practice(store) as practice:
        result = export_research(practice, actor(), tmp_path / "out", key=KEY)
    entries = [r for t in store.transactions for r in t]
    exported = [r for r in entries if r.action == "export-csv"]
    assert len(exported) == result.episodes
    assert all(r.purpose == "quality-improvement" and r.client_ref for r in exported)
    total = len(entries)  # the caseload walk and every episode read
    assert [len(t) for t in store.transactions] == [batch] * (total // batch) + (
        [total % batch] if total % batch else []
    )


def test_a_refused_read_publishes_nothing(practice_copy: Path, tmp_path: Path) -> None:
    clinician = Actor("someone-else", Role.CLINICIAN, CLINIC, Purpose.QUALITY_IMPROVEMENT)
    with open_practice(practice_copy) as practice, pytest.raises(AccessDenied):
        export_research(
            practice, clinician, tmp_path / "out", key=KEY, episode_ids=practice.episode_ids(actor())
        )
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_progress_gets_1_to_n_after_each_episode(practice_copy: Path, tmp_path: Path) -> None:
    calls: list[int] = []
    with open_practice(practice_copy) as practice:
        result = export_research(practice, actor(), tmp_path / "out", key=KEY, progress=calls.append)
    assert result.episodes > 12  # the demo's returning clients have a second episode
    assert calls == list(range(1, result.episodes + 1))


def test_episode_ids_are_iterated_only_once_the_directory_is_accepted(
    practice_copy: Path, tmp_path: Path
) -> None:
    """The CLI passes ids read lazily (for its progress total): a refused export must not read them."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "other.txt").write_text("not an export\n")
    iterated: list[bool] = []

    def ids() -> Iterator[str]:
        iterated.append(True)
        yield from ()

    with open_practice(practice_copy) as practice, pytest.raises(ValidationError, match="directory: exists"):
        export_research(practice, actor(), target, key=KEY, episode_ids=ids())
    assert iterated == []


# -- bad input: refused before anything is read or written ---------------------------------------------


def test_a_key_is_required_for_a_de_identified_export(practice_copy: Path, tmp_path: Path) -> None:
    store = CountingStore(practice_copy)
    with (
        contextlib.closing(store),
        open_practice(store) as practice,
        pytest.raises(ValidationError) as caught,
    ):
        export_research(practice, actor(), tmp_path / "out")
    assert (caught.value.field, caught.value.rule) == ("key", "required")
    assert store.transactions == []
    assert not (tmp_path / "out").exists()


def test_an_identified_export_with_a_key_is_refused(practice_copy: Path, tmp_path: Path) -> None:
    # the library refuses what the CLI refuses (--identified with --key-file): which was meant is unknown
    store = CountingStore(practice_copy)
    with (
        contextlib.closing(store),
        open_practice(store) as practice,
        pytest.raises(ValidationError) as caught,
    ):
        export_research(practice, actor(), tmp_path / "out", key=KEY, identified=True)
    assert (caught.value.field, caught.value.rule) == ("key", "conflict")
    assert store.transactions == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", [b"short", "a text key of plenty of characters", 42])
def test_a_short_or_mistyped_key_is_refused(practice_copy: Path, tmp_path: Path, bad: object) -> None:
    with open_practice(practice_copy) as practice, pytest.raises(ValidationError) as caught:
        export_research(practice, actor(), tmp_path / "out", key=bad)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("key", "type")
    assert not (tmp_path / "out").exists()


def test_load_key_from_a_file_or_the_environment(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"0123456789abcdef\n")
    assert load_key(tmp_path / "key") == b"0123456789abcdef"  # exactly the minimum, newline removed
    (tmp_path / "short").write_bytes(b"0123456789abcde\n")
    with pytest.raises(ValidationError) as short:
        load_key(tmp_path / "short")
    assert (short.value.field, short.value.rule) == ("key", "too-short")
    assert load_key(environ={KEY_ENV: "x" * 16}) == b"x" * 16
    with pytest.raises(ValidationError) as missing:
        load_key(environ={})
    assert (missing.value.field, missing.value.rule) == ("key", "required")
    with pytest.raises(ValidationError) as empty:
        load_key(environ={KEY_ENV: ""})
    assert empty.value.rule == "required"


def test_an_unreadable_key_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as absent:
        load_key(tmp_path / "nope")
    assert (absent.value.field, absent.value.rule) == ("key", "unreadable")
    (tmp_path / "dir").mkdir()
    with pytest.raises(ValidationError) as directory:
        load_key(tmp_path / "dir")
    assert directory.value.rule == "unreadable"
    secret = tmp_path / "secret"
    secret.write_bytes(b"s3cret-s3cret-s3cret")
    if os.geteuid() != 0:  # root reads any file
        secret.chmod(0)
        with pytest.raises(ValidationError) as denied:
            load_key(secret)
        assert "s3cret" not in str(denied.value)


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"file_format": "xlsx"}, "format", "one-of"),
        ({"identified": "yes"}, "identified", "type"),
        ({"purpose": "research"}, "purpose", "type"),
    ],
)
def test_bad_options_are_refused(
    practice_copy: Path, tmp_path: Path, kwargs: dict[str, object], field: str, rule: str
) -> None:
    with open_practice(practice_copy) as practice, pytest.raises(ValidationError) as caught:
        export_research(practice, actor(), tmp_path / "out", key=KEY, **kwargs)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert not (tmp_path / "out").exists()


def test_parquet_without_pyarrow_says_how_to_install_it(
    practice_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(research, "parquet_available", lambda: False)
    with open_practice(practice_copy) as practice, pytest.raises(ValidationError) as caught:
        export_research(practice, actor(), tmp_path / "out", key=KEY, file_format="parquet")
    assert (caught.value.field, caught.value.rule) == ("format", "missing-dependency")
    assert "alliancekit[parquet]" in str(caught.value)


def test_parquet_holds_what_csv_holds(practice_copy: Path, tmp_path: Path) -> None:
    if not parquet_available():
        pytest.skip("pyarrow is not installed: pip install 'alliancekit[parquet]' to test the Parquet export")
    import pyarrow.parquet as pq

    with open_practice(practice_copy) as practice:
        export_research(practice, actor(), tmp_path / "csv", key=KEY)
        export_research(practice, actor(), tmp_path / "pq", key=KEY, file_format="parquet")
    for name in ("administrations", "episodes"):
        table = pq.read_table(tmp_path / "pq" / f"{name}.parquet").to_pylist()
        expected = rows(tmp_path / "csv" / f"{name}.csv")
        assert len(table) == len(expected)
        assert [r["client"] for r in table] == [r["client"] for r in expected]
        assert table[0].keys() == expected[0].keys()
    # the subscale scores: the same rows, typed (the WAI-SR's goal, task and bond in the demo)
    table = pq.read_table(tmp_path / "pq" / "subscales.parquet").to_pylist()
    expected = rows(tmp_path / "csv" / "subscales.csv")
    assert {r["subscale"] for r in table} == {"goal", "task", "bond"}
    assert [(r["administration"], r["measure"], r["subscale"], r["score"]) for r in table] == [
        (int(r["administration"]), r["measure"], r["subscale"], float(r["score"])) for r in expected
    ]


# -- the command --------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_cli_without_a_key_exits_2_and_writes_nothing(
    practice_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_env_key: None
) -> None:
    code, _, err = run(capsys, "export", "csv", "--db", str(practice_copy), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "key: required" in err
    assert KEY_ENV in err
    assert not (tmp_path / "out").exists()


def test_cli_with_an_unreadable_key_file_exits_2(
    practice_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_env_key: None
) -> None:
    code, _, err = run(
        capsys,
        "export",
        "csv",
        "--db",
        str(practice_copy),
        "--out",
        str(tmp_path / "o"),
        "--key-file",
        str(tmp_path),
    )
    assert code == 2
    assert f"--key-file {tmp_path}: Is a directory" in err


@pytest.mark.parametrize("order", ["identified-first", "key-file-first"])
def test_cli_refuses_identified_with_a_key_file(
    order: str, practice_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    options = ["--identified", "--key-file", str(key_file)]
    if order == "key-file-first":
        options = [*options[1:], options[0]]
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:  # argparse's own usage error
        main(["export", "csv", "--db", str(practice_copy), "--out", str(out), *options])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--identified" in err
    assert "--key-file" in err
    assert "not allowed with" in err
    assert not out.exists()


def test_cli_with_a_key_from_the_environment_and_stdout(
    practice_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "k" * 32)
    code, out, err = run(
        capsys, "export", "csv", "--db", str(practice_copy), "--out", "-", "--table", "episodes"
    )
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert table
    assert table[0]["client"] == pseudonym(KEY, "client", "demo-client-000") or len(table[0]["client"]) == 32
    assert err == f"wrote {len(table)} episodes (de-identified) to -\n"  # the table written, not the other
    code, out, err = run(capsys, "export", "csv", "--db", str(practice_copy), "--out", "-")
    rows = len(list(csv.DictReader(io.StringIO(out))))
    assert err == f"wrote {rows} administrations of {len(table)} episodes (de-identified) to -\n"
