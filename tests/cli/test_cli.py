"""The command line, run in-process through ``main(argv)`` against real SQLite files."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from alliancekit.cli.main import main


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    assert main(["demo", "--db", str(path), "--quiet"]) == 0
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_summary_names_every_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "d.sqlite"
    code, out, _ = run(capsys, "demo", "--db", str(db), "--out", str(tmp_path / "out"), "--quiet")
    assert code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # the first line counts every episode: the couple, the family and the group come on top of the 24
    episodes = sum(summary["episodes_by_stage"].values())
    assert episodes == 24 + 8
    assert "24 synthetic individual clients and 8 episodes of clients seen together in" in out
    assert summary["clients"] == 24
    assert {"active", "closed"} <= set(summary["episodes_by_stage"])
    reasons = set(summary["closing_reasons"])
    assert {"referred-at-consultation", "dropout (unplanned)", "goals-met (planned)"} <= reasons
    assert summary["ruptures"] >= 2


def test_demo_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the same seed *and today*: without --today each demo is made for the day it runs, and a UTC midnight
    # between the two would move every date of the second
    dumps = []
    for name in ("a", "b"):
        db = tmp_path / f"{name}.sqlite"
        argv = ["demo", "--db", str(db), "--clients", "14", "--seed", "3", "--today", "2026-03-15", "--quiet"]
        assert main(argv) == 0
        with closing(sqlite3.connect(db)) as conn, conn:
            dumps.append(conn.execute("SELECT * FROM events ORDER BY episode_id, seq").fetchall())
    capsys.readouterr()
    assert dumps[0] == dumps[1]
    assert len(dumps[0]) > 100


def test_demo_replaces_its_own_database_but_not_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.sqlite"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "--quiet")[0] == 0
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "--quiet")[0] == 0
    precious = tmp_path / "notes.sqlite"
    precious.write_bytes(b"someone else's file")
    code, _, err = run(capsys, "demo", "--db", str(precious), "--quiet")
    assert code == 2
    assert "not an alliancekit database" in err
    assert precious.read_bytes() == b"someone else's file"


def test_demo_refuses_too_few_clients(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--db", str(tmp_path / "d.sqlite"), "--clients", "3")
    assert code == 2
    assert "--clients: at least 12" in err


def test_caseload_table_and_json(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "caseload", "--db", str(demo_db))
    assert code == 0
    assert "episode(s)" in out
    code, out, _ = run(capsys, "caseload", "--db", str(demo_db), "--json", "--clinician", "clin-ada")
    rows = json.loads(out)
    assert rows
    assert {r["clinician_id"] for r in rows} == {"clin-ada"}
    assert all(r["closed_on"] is None for r in rows)
    code, out, _ = run(capsys, "caseload", "--db", str(demo_db), "--json", "--all")
    assert any(r["closed_on"] for r in json.loads(out))


def test_episode_show_by_prefix(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "caseload", "--db", str(demo_db), "--json")
    episode_id = json.loads(out)[0]["episode_id"]
    code, out, _ = run(capsys, "episode", "show", "--db", str(demo_db), episode_id[:8])
    assert code == 0
    assert f"episode {episode_id}" in out
    assert "fit decision: proceed" in out
    assert "synthetic" not in out  # the readable timeline carries no free text
    code, out, _ = run(capsys, "episode", "show", "--db", str(demo_db), episode_id, "--json")
    timeline = json.loads(out)["timeline"]
    assert timeline[0]["type"] == "episode-opened"


def _not_found_entries(db: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT action, record_id FROM audit WHERE outcome = 'not-found'").fetchall()
    return [(str(action), str(record)) for action, record in rows]


@pytest.mark.parametrize(
    "argv",
    [("episode", "show"), ("export", "fhir", "--out", "-", "--episode")],
    ids=["episode show", "export fhir --episode"],
)
def test_an_id_matching_no_episode_is_refused_and_audited(
    argv: tuple[str, ...], tmp_path: Path, demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a failed lookup is a failed access attempt: audited as the library's own lookups are
    db = tmp_path / "copy.sqlite"
    db.write_bytes(demo_db.read_bytes())
    code, out, err = run(capsys, *argv[:2], "--db", str(db), *argv[2:], "zzzz")
    assert code == 2
    assert "no episode" in err
    assert out == ""
    assert [record for _, record in _not_found_entries(db)] == ["zzzz"]


@pytest.mark.parametrize("blank", ["", "  "], ids=["empty", "spaces"])
@pytest.mark.parametrize(
    ("argv", "named"),
    [(("episode", "show"), "ID"), (("export", "fhir", "--out", "-", "--episode"), "--episode")],
    ids=["episode show", "export fhir --episode"],
)
def test_a_blank_id_is_refused_as_required(
    argv: tuple[str, ...],
    named: str,
    blank: str,
    tmp_path: Path,
    demo_db: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # every id starts with "": it is a missing id, not an ambiguous prefix nor (export) every episode
    db = tmp_path / "copy.sqlite"
    db.write_bytes(demo_db.read_bytes())
    with closing(sqlite3.connect(db)) as conn:
        entries = conn.execute("SELECT count(*) FROM audit").fetchone()
    code, out, err = run(capsys, *argv[:2], "--db", str(db), *argv[2:], blank)
    assert (code, out) == (2, "")
    assert err == f"alliancekit: error: {named}: required (an episode id or a unique prefix of it)\n"
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM audit").fetchone() == entries


def test_reading_a_missing_database_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.sqlite"
    code, _, err = run(capsys, "caseload", "--db", str(missing))
    assert code == 2
    assert f"no alliancekit database at {missing}" in err
    assert not missing.exists()


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2
    monkeypatch.delenv("ALLIANCEKIT_DB", raising=False)
    assert main(["caseload"]) == 2
    assert "--db: name the practice" in capsys.readouterr().err


def test_plugins_lists_builtins_with_their_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    infos = {info["name"]: info for info in json.loads(out)}
    assert "alliancekit_register_stores" in infos["alliancekit.store.sqlite"]["hooks"]
    assert infos["alliancekit.store.sqlite"]["distribution"] == "alliancekit (builtin)"


def test_measures_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "measures", "list", "--json")
    assert code == 0
    ids = {m["id"] for m in json.loads(out)}
    assert {"ors", "srs", "wai-sr", "phq-9", "gad-7", "core-10"} <= ids
    code, out, _ = run(capsys, "measures", "show", "phq-9")
    assert code == 0
    assert "44249-1" in out  # the LOINC panel code travels with the definition


def test_measures_validate_scores_or_names_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps({"answers": {"individually": 3, "interpersonally": 4.5, "socially": 5, "overall": 6}})
    )
    code, out, _ = run(capsys, "measures", "validate", "ors", str(good))
    assert code == 0
    assert json.loads(out)["total"] == 18.5
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"answers": {"individually": 3, "interpersonally": 4.5, "socially": 5, "overall": 97.25}})
    )
    code, out, err = run(capsys, "measures", "validate", "ors", str(bad))
    assert code == 1
    assert "$.answers.overall" in err
    assert "97.25" not in err + out
    code, _, err = run(capsys, "measures", "validate", "ors", str(tmp_path / "missing.json"))
    assert code == 2
    assert "no such file" in err
    code, _, err = run(capsys, "measures", "validate", "ors", str(tmp_path))
    assert code == 2
    assert err == f"alliancekit: error: {tmp_path}: file (it is a directory)\n"


def test_measures_check_definition(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from alliancekit.plugins.manager import get_plugin_host

    definition = dict(get_plugin_host().measures().get("gad-7").definition)
    good = tmp_path / "def.json"
    good.write_text(json.dumps(definition))
    code, out, _ = run(capsys, "measures", "check", str(good))
    assert code == 0
    assert out.startswith("ok: gad-7")
    definition["items"] = "not a list"
    good.write_text(json.dumps(definition))
    code, _, err = run(capsys, "measures", "check", str(good))
    assert code == 1
    assert "$.items" in err
