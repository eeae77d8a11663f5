"""An open alert carries the day it was raised, its rule and its message, in the episode's state and the
alert view; the timeline names the rule; databases written before (snapshot shape 2) still load and
verify."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Role
from alliancekit.events.codec import SNAPSHOT_VERSION, Codec
from alliancekit.events.types import AlertRaised

from .conftest import CLINIC, CLINICIAN, Clinic, phq9

ADMIN = Actor("admin-1", Role.ADMINISTRATOR, CLINIC)


def _raised(c: Clinic, ep: str) -> dict[str, AlertRaised]:
    """The alert-raised events of the episode by alert id, as the timeline holds them."""
    return {
        e.event.alert_id: e.event for e in c.p.timeline(CLINICIAN, ep) if isinstance(e.event, AlertRaised)
    }


def _episode_with_alerts(path: Path) -> tuple[str, date]:
    with open_practice(path) as p:
        c = Clinic(p)
        ep = c.episode()
        c.session(ep, phq9(10, item9=1))  # a risk item endorsed
        return ep, c.day


def test_open_alerts_carry_raised_day_rule_and_message(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, phq9(10, item9=1))
    held_on = clinic.day
    raised = _raised(clinic, ep)
    alerts = clinic.p.alerts(CLINICIAN, ep)
    assert alerts
    assert set(alerts) == set(raised)
    for alert_id, alert in alerts.items():
        event = raised[alert_id]
        assert alert.raised_on == event.raised_on == held_on
        assert (alert.rule_id, alert.message) == (event.rule_id, event.message)
        assert alert.message
    assert clinic.p.episode(CLINICIAN, ep).alerts == alerts
    # acknowledging keeps them; a later session does not move the raised day
    alert_id = next(iter(alerts))
    clinic.p.acknowledge_alert(CLINICIAN, ep, alert_id, on=held_on)
    clinic.session(ep, phq9(10, item9=1))
    after = clinic.p.alerts(CLINICIAN, ep)[alert_id]
    assert (after.status.value, after.raised_on, after.message) == (
        "acknowledged",
        held_on,
        alerts[alert_id].message,
    )


def test_the_readable_timeline_names_the_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.sqlite"
    ep, _ = _episode_with_alerts(path)
    with open_practice(path) as p:
        rules = {a.rule_id for a in _raised(Clinic(p), ep).values()}
    assert main(["episode", "show", "--db", str(path), ep]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "alert raised" in line]
    assert len(lines) == len(rules)
    assert {line.split("alert raised: ", 1)[1].split()[0] for line in lines} == rules


def _as_shape_2(path: Path, episode_id: str) -> None:
    """The episode's snapshot as the release before kept it: shape 2, alerts without day or message."""
    conn = sqlite3.connect(path)
    (text,) = conn.execute("SELECT state FROM episodes WHERE episode_id = ?", (episode_id,)).fetchone()
    state = json.loads(text)
    state["_v"] = 2
    for alert in state["alerts"].values():
        del alert["raised_on"], alert["message"]
    conn.execute("UPDATE episodes SET state = ? WHERE episode_id = ?", (json.dumps(state), episode_id))
    conn.commit()
    conn.close()


def test_a_shape_2_snapshot_loads_verifies_and_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    ep, held_on = _episode_with_alerts(path)
    _as_shape_2(path, ep)
    with open_practice(path) as p:
        stored = p.store.load_snapshot(ep)
        assert stored is not None
        assert '"_v": 2' in stored.state_json
        alerts = p.alerts(CLINICIAN, ep)
        assert alerts
        assert all(a.raised_on == held_on and a.message for a in alerts.values())
        report = p.verify(ADMIN)
        assert report.ok, report.describe()
        # the next command writes the current shape
        p.acknowledge_alert(CLINICIAN, ep, next(iter(alerts)), on=held_on)
        stored = p.store.load_snapshot(ep)
        assert stored is not None
        assert json.loads(stored.state_json)["_v"] == SNAPSHOT_VERSION == 9
        assert p.verify(ADMIN).ok


def test_a_tampered_shape_2_snapshot_is_still_found(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    ep, _ = _episode_with_alerts(path)
    _as_shape_2(path, ep)
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE episodes SET state = json_set(state, '$.sessions_attended', 99) WHERE episode_id = ?", (ep,)
    )
    conn.commit()
    conn.close()
    with open_practice(path) as p:
        report = p.verify(ADMIN)
    assert not report.ok
    assert "snapshot differs" in report.describe()


def test_the_upcaster_fills_alerts_from_their_events(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    ep, held_on = _episode_with_alerts(path)
    _as_shape_2(path, ep)
    with open_practice(path) as p:
        stored = p.store.load_snapshot(ep)
        events = p.store.load_events(ep)
    assert stored is not None
    assert Codec.decode_state(stored.state_json) is None  # an older shape: not read as the current one
    upcast = json.loads(Codec.upcast_state(stored.state_json, events))
    assert upcast["_v"] == SNAPSHOT_VERSION
    assert {a["raised_on"] for a in upcast["alerts"].values()} == {held_on.isoformat()}
    # shape 1 has no upcaster (schema migration 2 rewrites it): returned as it is
    shape_1 = json.dumps({k: v for k, v in json.loads(stored.state_json).items() if k != "_v"})
    assert Codec.upcast_state(shape_1, events) == shape_1
