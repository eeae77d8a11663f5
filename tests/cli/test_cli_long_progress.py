"""Progress of ``alliancekit export fhir --all``, ``export csv`` and ``verify`` on a terminal: the episodes
done of how many, a rate and an ETA on stderr, ending "n/n (100%) ... done in"; nothing when stderr is not a
terminal, and stdout the same either way."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: The ``on_a_terminal`` fixture (tests/conftest.py): the exit code, stdout, and what a terminal showed.
OnATerminal = Callable[[list[str]], tuple[int, bytes, str]]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")

CLI = [sys.executable, "-m", "alliancekit"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A demo practice of 12 clients and how many episodes it holds."""
    db = tmp_path_factory.mktemp("progress") / "demo.sqlite"
    made = subprocess.run(
        [*CLI, "demo", "--clients", "12", "--seed", "5", "--db", str(db), "-q"],
        capture_output=True,
        timeout=300,
        check=True,
    )
    assert made.returncode == 0
    listed = subprocess.run(
        [*CLI, "export", "csv", "--identified", "--out", "-", "--table", "episodes", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    episodes = len(listed.stdout.splitlines()) - 1  # one row per episode under the header
    assert episodes > 12  # some clients came back for a second episode: not one per client
    return db, episodes


def _progress_lines(text: str) -> list[str]:
    """The progress lines the terminal was shown, in order (each starts by clearing the line)."""
    return [part for part in re.split(r"[\r\n]+", text) if part.startswith("\x1b[K")]


def _commands(tmp_path: Path, db: Path) -> dict[str, tuple[list[str], str]]:
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)
    base = ["--db", str(db)]
    return {
        "fhir-dir": ([*CLI, "export", "fhir", "--all", "--out", str(tmp_path / "fhir"), *base], "exporting"),
        "fhir-stdout": ([*CLI, "export", "fhir", "--all", "--out", "-", *base], "exporting"),
        "csv-dir": (
            [*CLI, "export", "csv", "--key-file", str(key), "--out", str(tmp_path / "csv"), *base],
            "exporting",
        ),
        "csv-stdout": ([*CLI, "export", "csv", "--identified", "--out", "-", *base], "exporting"),
        "verify": ([*CLI, "verify", *base], "verifying"),
        "audit-verify": ([*CLI, "audit", "verify", *base], "verifying"),
    }


LABELS = {"exporting": "exporting episodes", "verifying": "verifying clinic demo-clinic"}
COMMANDS = ["fhir-dir", "fhir-stdout", "csv-dir", "csv-stdout", "verify", "audit-verify"]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_terminal_is_shown_the_episodes_done_and_how_long_it_took(
    demo: tuple[Path, int],
    tmp_path: Path,
    name: str,
    on_a_terminal: OnATerminal,
) -> None:
    db, episodes = demo
    argv, kind = _commands(tmp_path, db)[name]
    code, stdout, shown = on_a_terminal(argv)
    assert code == 0
    lines = _progress_lines(shown)
    assert lines, shown
    last = lines[-1]
    assert last.startswith(f"\x1b[K{LABELS[kind]}: {episodes}/{episodes} (100%)")
    assert "episodes/s" in last
    assert "done in" in last
    for line in lines[:-1]:  # the lines before count up to it, with an ETA
        assert line.startswith(f"\x1b[K{LABELS[kind]}: ")
        assert "ETA " in line
    assert b"\x1b[K" not in stdout  # the progress never goes to stdout
    assert LABELS[kind].encode() not in stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_a_pipe_gets_no_progress_and_stdout_is_the_same(
    demo: tuple[Path, int],
    tmp_path: Path,
    name: str,
    on_a_terminal: OnATerminal,
) -> None:
    db, _ = demo
    argv, kind = _commands(tmp_path, db)[name]
    piped = subprocess.run(argv, capture_output=True, timeout=300, check=False)
    assert piped.returncode == 0
    assert LABELS[kind].encode() not in piped.stderr
    assert b"\r" not in piped.stderr
    assert b"\x1b" not in piped.stderr
    if name.endswith("-stdout"):  # the export itself: the same bytes whether stderr is a terminal or not
        code, stdout, _ = on_a_terminal(argv)
        assert code == 0
        assert stdout == piped.stdout


def _cli_entries(db: Path) -> list[tuple[str, str]]:
    from alliancekit import open_practice
    from alliancekit.domain import Actor, Purpose, Role

    auditor = Actor("auditor", Role.ADMINISTRATOR, "demo-clinic", Purpose.OPERATIONS)
    with open_practice(db) as practice:
        entries = practice.audit_entries(auditor, actor_id="alliancekit-cli")
    return [(e.action, e.record_type) for e in entries]


@pytest.mark.parametrize(("name", "action"), [("fhir-dir", "export-fhir-bulk"), ("csv-dir", "export-csv")])
def test_with_progress_the_audit_log_gets_one_caseload_read_and_one_entry_per_episode(
    demo: tuple[Path, int],
    tmp_path: Path,
    name: str,
    action: str,
    on_a_terminal: OnATerminal,
) -> None:
    """What the export wrote before it had a progress line: the ids are read once, by the export's walk."""
    db, episodes = demo
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(db.read_bytes())
    before = _cli_entries(copy)
    argv, _ = _commands(tmp_path, copy)[name]
    code, _, shown = on_a_terminal(argv)
    assert code == 0
    assert f"{episodes}/{episodes} (100%)" in shown
    assert (
        _cli_entries(copy)[len(before) :]
        == [("read-caseload", "caseload")] + [(action, "episode")] * episodes
    )


@pytest.mark.parametrize("name", ["fhir-dir", "csv-dir"])
def test_an_export_refused_its_directory_shows_no_progress_and_audits_nothing(
    demo: tuple[Path, int],
    tmp_path: Path,
    name: str,
    on_a_terminal: OnATerminal,
) -> None:
    db, _ = demo
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(db.read_bytes())
    before = _cli_entries(copy)
    argv, _ = _commands(tmp_path, copy)[name]
    target = Path(argv[argv.index("--out") + 1])
    target.mkdir()
    (target / "other.txt").write_text("not an export\n")
    code, _, shown = on_a_terminal(argv)
    assert code == 2
    assert f"error: --out {target}: exists and is not empty; pass --replace" in shown
    assert "exporting episodes" not in shown
    assert _cli_entries(copy) == before


def test_an_export_that_stops_early_ends_its_line_before_what_follows(
    demo: tuple[Path, int],
    tmp_path: Path,
    on_a_terminal: OnATerminal,
) -> None:
    """An episode that cannot be read stops the export part way: what is printed then starts a line."""
    import sqlite3

    db, episodes = demo
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(db.read_bytes())
    with sqlite3.connect(copy) as conn:
        (last,) = conn.execute("SELECT episode_id FROM episodes ORDER BY episode_id DESC LIMIT 1").fetchone()
        conn.execute("UPDATE events SET payload = '{' WHERE episode_id = ?", (last,))
    conn.close()
    argv, _ = _commands(tmp_path, copy)["fhir-dir"]
    code, stdout, shown = on_a_terminal(argv)
    assert code != 0
    assert stdout == b""
    assert not (tmp_path / "fhir").exists()
    shown_lines = _progress_lines(shown)
    assert shown_lines
    assert f"/{episodes} (100%)" not in shown_lines[-1]  # it stopped before the last episode
    # the line is ended before the error is printed: the error starts a line of its own
    assert re.fullmatch(
        r"\x1b\[Kexporting episodes: \d+/\d+ \(\d+%\)  [\d.,]+ episodes/s  ETA \d+:\d\d", shown_lines[-1]
    )
    after = shown[shown.rindex("\x1b[K") :].split("\r\n", 1)
    assert after[0] == shown_lines[-1]
    assert after[1].strip()


def test_each_clinic_of_a_shared_file_is_shown_its_own_episodes(
    tmp_path: Path, on_a_terminal: OnATerminal
) -> None:
    """Two clinics in one SQLite file: each clinic's line counts the episodes its report counts (north's
    line read 5/5 for a clinic of 2: the file's episodes)."""
    from datetime import date

    from alliancekit import open_practice
    from alliancekit.domain import Actor, Role

    db = tmp_path / "two.sqlite"
    with open_practice(db) as practice:
        for clinic, count in (("north", 2), ("south", 3)):
            me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic)
            for n in range(count):
                practice.start_episode(
                    me, client_ref=f"{clinic}-client-{n}", clinician_id=me.id, opened_on=date(2026, 1, 5)
                )
    code, stdout, shown = on_a_terminal([*CLI, "verify", "--db", str(db)])
    assert code == 0, shown
    assert b"clinic north: record ok: 2 episodes" in stdout
    finals = [line for line in _progress_lines(shown) if "done in" in line]
    assert [line.split("  ")[0] for line in finals] == [
        "\x1b[Kverifying clinic north: 2/2 (100%)",
        "\x1b[Kverifying clinic south: 3/3 (100%)",
    ]
