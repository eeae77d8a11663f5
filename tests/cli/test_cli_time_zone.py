"""The CLI's days are the clinic's: ``--time-zone`` (else ``$ALLIANCEKIT_TIME_ZONE``, else UTC) is the zone a
command's today and the days it is given are taken in. Without it a clinic far from UTC had its audit
``--since``/``--until`` days and its timeline dates in UTC. The records are written at fixed instants by a
practice with ``clock=``; the CLI then reads them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Consent, Consultation

CLINIC = "north"
ME = Actor("clin-1", Role.CLINICIAN, CLINIC)
ZONE = "Pacific/Auckland"
#: 23:59:59 on 1 June 2025 in Auckland (NZST, UTC+12), then 00:00:00 on 2 June: both on 1 June in UTC.
LAST = datetime(2025, 6, 1, 11, 59, 59, tzinfo=UTC)
FIRST = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ALLIANCEKIT_TIME_ZONE", raising=False)
    monkeypatch.delenv("ALLIANCEKIT_DB", raising=False)
    path = tmp_path / "p.sqlite"
    now = [LAST]
    with open_practice(path, clock=lambda: now[0], clinic_time_zones={CLINIC: ZONE}) as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=date(2025, 6, 1))
        now[0] = FIRST
        consultation = Consultation(held_on=date(2025, 6, 2), modality="video", consent=Consent(True, True))
        p.record_consultation(ME, ep, consultation)
    return path


def _audited(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["audit", "show", *argv, "--json"]) == 0
    return [e["at"] for e in json.loads(capsys.readouterr().out)["entries"] if e["actor_id"] == ME.id]


def test_audit_days_are_the_clinics_with_a_time_zone(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    day = ["--db", str(db), "--since", "2025-06-02", "--until", "2025-06-02"]
    before = ["--db", str(db), "--since", "2025-06-01", "--until", "2025-06-01"]
    assert _audited(capsys, *day, "--time-zone", ZONE) == [FIRST.isoformat()]
    assert _audited(capsys, *before, "--time-zone", ZONE) == [LAST.isoformat()]
    assert _audited(capsys, *day) == []  # UTC: both on 1 June
    assert _audited(capsys, *before) == [LAST.isoformat(), FIRST.isoformat()]
    monkeypatch.setenv("ALLIANCEKIT_TIME_ZONE", ZONE)
    assert _audited(capsys, *day) == [FIRST.isoformat()]
    assert _audited(capsys, *day, "--time-zone", "UTC") == []  # the option wins


def test_the_timeline_shows_the_clinics_dates(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def dates(*extra: str) -> list[str]:
        with open_practice(db, read_only=True) as p:
            [episode_id] = [row.episode_id for row in p.store.caseload(open_only=False)]
        assert main(["episode", "show", episode_id[:8], "--db", str(db), *extra]) == 0
        out = capsys.readouterr().out
        return [line.split()[1] for line in out.splitlines() if line.startswith("    ")]

    assert dates("--time-zone", ZONE) == ["2025-06-01", "2025-06-02"]
    assert dates() == ["2025-06-01", "2025-06-01"]


@pytest.mark.parametrize(
    ("option", "env", "message"),
    [
        (["--time-zone", "Mars/Olympus"], None, "--time-zone: time-zone"),
        (["--time-zone", ""], None, "--time-zone: time-zone"),
        ([], "Mars/Olympus", "$ALLIANCEKIT_TIME_ZONE: time-zone"),
    ],
)
def test_an_unknown_time_zone_is_a_usage_error_that_writes_nothing(
    db: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: list[str],
    env: str | None,
    message: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("ALLIANCEKIT_TIME_ZONE", env)
    with open_practice(db, read_only=True) as p:
        before = len(p.store.audit_records())
    assert main(["caseload", "--db", str(db), *option]) == 2
    assert message in capsys.readouterr().err
    with open_practice(db, read_only=True) as p:
        assert len(p.store.audit_records()) == before
