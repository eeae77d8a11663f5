"""``alliancekit demo`` replaces only a database it made itself, and checks its arguments first."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.cli.main import main
from alliancekit.demo import simulate_practice
from alliancekit.demo.simulate import LAST_TODAY, MAX_CLIENTS
from alliancekit.errors import ValidationError

D = date(2026, 1, 19)
_SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, "demo-clinic")
_ADMIN = Actor("adm-1", Role.ADMINISTRATOR, "demo-clinic")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def real_practice(tmp_path: Path) -> Path:
    """A practice the demo did not make: one episode in a clinic of its own."""
    db = tmp_path / "clinic.sqlite"
    with open_practice(db) as practice:
        practice.start_episode(
            Actor("clin-a", Role.CLINICIAN, "north"),
            client_ref="client-1",
            clinician_id="clin-a",
            opened_on=D,
        )
    return db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_real_practice_is_refused_and_left_as_it_was(
    real_practice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(real_practice)
    code, err = run(capsys, "demo", "--db", str(real_practice), "--clients", "12", "--quiet")
    assert code == 2
    assert "an alliancekit practice the demo did not make (it holds the clinics north)" in err
    assert "Pass --force to replace it" in err
    assert _digest(real_practice) == before
    with open_practice(real_practice, read_only=True) as practice:
        assert practice.clinics() == ["north"]


def test_force_replaces_a_practice_the_demo_did_not_make(
    real_practice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, "demo", "--db", str(real_practice), "--clients", "12", "--quiet", "--force")
    assert code == 0, err
    with open_practice(real_practice, read_only=True) as practice:
        assert practice.clinics() == ["demo-clinic"]


def test_an_earlier_demo_is_replaced_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "--seed", "1", "-q")[0] == 0
    first = _digest(db)
    assert run(capsys, "demo", "--db", str(db), "--clients", "13", "--seed", "2", "-q")[0] == 0
    assert _digest(db) != first
    with open_practice(db, read_only=True) as practice:
        assert practice.clinics() == ["demo-clinic"]


def test_the_same_demo_command_runs_again_over_its_own_out_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first command, run a second time: the earlier demo's database and the files it wrote
    into --out are replaced alike, without --replace."""
    db, out = tmp_path / "demo.sqlite", tmp_path / "demo-out"
    argv = ["demo", "--db", str(db), "--out", str(out), "--clients", "12", "-q"]
    assert run(capsys, *argv, "--seed", "1")[0] == 0
    first = _digest(out / "summary.json")
    assert run(capsys, *argv, "--seed", "2")[0] == 0
    assert _digest(out / "summary.json") != first
    assert (out / "report.html").is_file()


@pytest.mark.parametrize("written_by", ["another demo", "no summary"])
def test_out_files_the_earlier_demo_did_not_write_need_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], written_by: str
) -> None:
    """An earlier demo at --db lets the demo replace only what that demo wrote into --out: the summary of
    another practice's demo, or a report.html without its summary, stays unless --replace is given."""
    db, out = tmp_path / "demo.sqlite", tmp_path / "out"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")[0] == 0
    if written_by == "another demo":
        other = tmp_path / "other.sqlite"
        assert run(capsys, "demo", "--db", str(other), "--out", str(out), "--clients", "12", "-q")[0] == 0
        kept = out / "summary.json"
    else:
        out.mkdir()
        kept = out / "report.html"
        kept.write_text("<p>a report of the host's own</p>", encoding="utf-8")
    before, demo = _digest(kept), _digest(db)
    again = ["demo", "--db", str(db), "--out", str(out), "--clients", "12", "-q"]
    code, err = run(capsys, *again)
    assert (code, err) == (2, f"alliancekit: error: --out {kept}: exists; pass --replace to replace it\n")
    assert (_digest(kept), _digest(db)) == (before, demo)
    assert run(capsys, *again, "--replace")[0] == 0
    assert _digest(kept) != before


def test_a_real_practice_whose_clinic_is_called_demo_clinic_is_refused_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "clinic.sqlite"
    with open_practice(db) as practice:  # the demo's clinic id, but not made by the demo: no mark
        practice.start_episode(
            Actor("clin-a", Role.CLINICIAN, "demo-clinic"),
            client_ref="c-1",
            clinician_id="clin-a",
            opened_on=D,
        )
    before = _digest(db)
    code, err = run(capsys, "demo", "--db", str(db), "--clients", "12", "--quiet")
    assert code == 2
    assert "the demo did not make (it holds the clinics demo-clinic)" in err
    assert _digest(db) == before
    with open_practice(db, read_only=True) as practice:
        assert not practice.is_demo()
    code, err = run(capsys, "demo", "--db", str(db), "--clients", "12", "--quiet", "--force")
    assert code == 0, err
    with open_practice(db) as practice:
        assert practice.is_demo()
        assert "c-1" not in {row.client_ref for row in practice.caseload(_SUPERVISOR, include_closed=True)}


def test_the_demo_marks_what_it_made_and_the_mark_is_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")[0] == 0
    with open_practice(db) as practice:
        assert practice.is_demo()
        marks = [e for e in practice.audit_entries(_ADMIN) if e.action == "mark-demo"]
    assert [(e.actor_id, e.outcome) for e in marks] == [("demo-admin", "allowed")]


def test_a_file_that_is_not_alliancekits_is_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.sqlite"
    notes.write_bytes(b"someone else's file")
    code, err = run(capsys, "demo", "--db", str(notes), "--force", "-q")
    assert code == 2
    assert "not an alliancekit database; the demo never replaces other files" in err
    assert notes.read_bytes() == b"someone else's file"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--clients", "11"], "--clients: at least 12"),
        (["--clients", "0"], "--clients: at least 12"),
        (["--out", "{file}"], "exists and is not a directory"),
        (["--today", "2199-11-02"], "--today: from 1901-03-27 to 2199-11-01"),
        (["--today", "1901-03-26"], "--today: from 1901-03-27 to 2199-11-01"),
    ],
)
def test_arguments_are_checked_before_any_file_is_touched(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")[0] == 0
    before = _digest(db)
    afile = tmp_path / "a-file"
    afile.write_text("x")
    code, err = run(capsys, "demo", "--db", str(db), "-q", *(a.format(file=afile) for a in argv))
    assert code == 2
    assert says in err
    assert _digest(db) == before  # the earlier demo is still there, whole


def test_twelve_clients_is_the_least_the_demo_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "demo", "--db", str(tmp_path / "d.sqlite"), "--clients", "12", "-q")[0] == 0


def test_an_empty_file_is_filled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "empty.sqlite"
    db.write_bytes(b"")
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")[0] == 0
    with open_practice(db, read_only=True) as practice:
        assert practice.clinics() == ["demo-clinic"]


def test_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "demo", "--db", str(tmp_path), "-q")
    assert code == 2
    assert "not a file" in err


def test_the_demo_is_the_year_before_its_today_and_nothing_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    code, err = run(capsys, "demo", "--db", str(db), "--clients", "40", "--today", "2026-03-15", "-q")
    assert code == 0, err
    today = date(2026, 3, 15)
    first_moment = datetime(2026, 3, 15, tzinfo=UTC)
    with open_practice(db) as practice:
        rows = practice.caseload(_SUPERVISOR, include_closed=True)
        long_course = [r for r in rows if r.opened_on < date(2025, 3, 15)]
        # One client (the year-long course, for the twelve-month quality measures) starts before the year.
        assert len(long_course) == 1
        assert all(r.opened_on <= today for r in rows)
        assert all(r.last_session_on is None or r.last_session_on <= today for r in rows)
        assert all(r.closed_on is None or r.closed_on <= today for r in rows)
        open_rows = [r for r in rows if r.closed_on is None and r.last_session_on is not None]
        assert open_rows
        assert max((today - r.last_session_on).days for r in open_rows if r.last_session_on) < 200
        for row in rows:
            for entry in practice.timeline(_SUPERVISOR, row.episode_id):
                held_on = getattr(getattr(entry.event, "session", None), "held_on", None)
                assert held_on is None or held_on <= today
                reviewed_on = getattr(getattr(entry.event, "review", None), "held_on", None)
                assert reviewed_on is None or reviewed_on <= today
                # stored no later than today's first moment: a demo made for today, at any hour, records
                # nothing after what the practice records next by the real clock
                assert entry.recorded_at <= first_moment
        assert max(e.recorded_at for r in rows for e in practice.timeline(_SUPERVISOR, r.episode_id)) == (
            first_moment
        )


def test_the_same_seed_and_today_make_the_same_practice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = []
    for name in ("a.sqlite", "b.sqlite"):
        db = tmp_path / name
        assert run(capsys, "demo", "--db", str(db), "--clients", "14", "--today", "2026-03-15", "-q")[0] == 0
        with open_practice(db) as practice:
            made.append(practice.caseload(_SUPERVISOR, include_closed=True))
    assert made[0] == made[1]


def test_a_bad_today_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--db", str(tmp_path / "d.sqlite"), "--today", "2026-13-01"])
    assert exited.value.code == 2
    assert "--today" in capsys.readouterr().err
    assert not (tmp_path / "d.sqlite").exists()


@pytest.mark.parametrize(("today", "ok"), [("2199-12-31", False), ("2199-11-01", True), ("1901-03-27", True)])
def test_a_today_the_demo_cannot_simulate_is_refused_before_anything_is_written(
    today: str, ok: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the bounds: the year-long course's intake 450 days before today, a booster 60 days after an ending
    db, out = tmp_path / "d.sqlite", tmp_path / "out"
    code, err = run(
        capsys, "demo", "--db", str(db), "--clients", "12", "--today", today, "--out", str(out), "-q"
    )
    if ok:
        assert code == 0, err
        return
    assert code == 2
    assert err == (
        "alliancekit: error: --today: from 1901-03-27 to 2199-11-01 (the demo records dates from 450 days "
        "before it to 60 days after it)\n"
    )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValidationError) as refused:  # the library refuses it alike, before it opens a store
        simulate_practice(db, clients=12, today=date.fromisoformat(today))
    assert (refused.value.field, refused.value.rule) == ("today", "range")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("location", ["memory:", ":memory:", "sqlite::memory:"])
def test_a_store_in_memory_is_refused_for_the_practice_would_vanish(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, "demo", "--db", location, "--clients", "12", "-q")
    assert code == 2
    assert f"--db: {location} is a store in memory, gone when the demo ends" in err
    assert "already holds" not in err
    assert list(tmp_path.iterdir()) == []  # not even SQLite's writers' lock beside a ":memory:" file


def test_a_file_whose_name_only_contains_memory_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / ":memory:.sqlite"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")[0] == 0
    with open_practice(db, read_only=True) as practice:
        assert practice.clinics() == ["demo-clinic"]


def test_clients_has_an_upper_bound_checked_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert MAX_CLIENTS == 100_000
    db = tmp_path / "d.sqlite"
    code, err = run(capsys, "demo", "--db", str(db), "--clients", str(MAX_CLIENTS + 1), "-q")
    assert code == 2
    assert "--clients: at most 100,000" in err
    assert not db.exists()
    # The bound itself passes the check: the demo goes on to judge --db (a directory, refused), so no huge
    # practice is simulated to show it.
    code, err = run(capsys, "demo", "--db", str(tmp_path), "--clients", str(MAX_CLIENTS), "-q")
    assert code == 2
    assert "--clients" not in err
    assert "not a file" in err


def test_the_library_refuses_too_many_clients_before_opening_anything(tmp_path: Path) -> None:
    db = tmp_path / "d.sqlite"
    with pytest.raises(ValidationError) as refused:
        simulate_practice(db, clients=MAX_CLIENTS + 1)
    assert (refused.value.field, refused.value.rule) == ("clients", "maximum")
    # At the bound the clients pass and the next check (a today the demo cannot simulate) refuses.
    with pytest.raises(ValidationError) as refused:
        simulate_practice(db, clients=MAX_CLIENTS, today=date.fromordinal(LAST_TODAY.toordinal() + 1))
    assert (refused.value.field, refused.value.rule) == ("today", "range")
    assert not db.exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where nothing can be created")
def test_an_out_directory_that_cannot_be_made_stops_the_demo_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.sqlite"
    code, err = run(capsys, "demo", "--db", str(db), "--clients", "12", "-q", "--out", "/proc/alliancekit-x")
    assert code == 2
    assert "--out /proc/alliancekit-x: the directory cannot be made" in err
    assert not db.exists()


def test_an_out_directory_is_made_with_its_parents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a" / "b"
    code, _ = run(
        capsys, "demo", "--db", str(tmp_path / "d.sqlite"), "--clients", "12", "-q", "--out", str(out)
    )
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"summary.json", "report.html"}
