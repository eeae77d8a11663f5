"""Measurement protocols through the facade: a clinic's by name or value, the default, an episode's own
(the set_protocol command), due_measures as a guarded and audited read, and missed administrations in the
caseload of every builtin store. Each bad input is refused from the hierarchy and writes nothing."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import alliancekit
from alliancekit import MeasurementProtocol, Practice, ScheduleEntry, open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    Role,
    Session,
)
from alliancekit.errors import LifecycleError, PluginError, ValidationError
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.protocols import When
from alliancekit.protocols.registry import ProtocolRegistrar
from alliancekit.store.memory import MemoryStore
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import MISSED_MEASURES_FROM

CLINIC = "clinic-1"
OTHER = "clinic-2"
ME = Actor("clin-a", Role.CLINICIAN, CLINIC)
ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC)
DAY = date(2026, 1, 5)
ORS = dict.fromkeys(("individually", "interpersonally", "socially", "overall"), 5.0)
SRS = dict.fromkeys(("relationship", "goals_topics", "approach", "overall"), 9.0)
PHQ9 = {f"q{i}": 1 for i in range(1, 10)}
WEEKLY_PHQ9 = MeasurementProtocol("weekly-phq9", (ScheduleEntry("phq-9", "every-weeks", 2),))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _open(kind: str, tmp_path: Path, **options: Any) -> Practice:
    if kind == "memory":
        return Practice(MemoryStore(), **options)
    return open_practice(tmp_path / "p.sqlite", **options)


def _episode(p: Practice, clinic: str = CLINIC) -> str:
    me = Actor("clin-a", Role.CLINICIAN, clinic)
    ep = p.start_episode(me, client_ref="client-1", clinician_id="clin-a", opened_on=DAY)
    p.record_consultation(me, ep, Consultation(held_on=DAY, modality="video", consent=Consent(True, True)))
    p.decide_fit(me, ep, FitDecision(outcome="proceed", decided_on=DAY))
    p.agree_goals(me, ep, [GoalDraft("sleep better")], agreed_on=DAY)
    return ep


def _session(on: date, *given: str, clinic_actor: Actor = ME) -> Session:
    answers = {"ors": ("start", ORS), "srs": ("end", SRS), "phq-9": ("start", PHQ9)}
    return Session(
        held_on=on,
        modality="video",
        attendance="attended",
        administrations=tuple(Administration(m, "1.0", answers[m][0], answers[m][1]) for m in given),
    )


def _missed(p: Practice, ep: str) -> tuple[str, ...]:
    (row,) = [r for r in p.caseload(ME, include_closed=True) if r.episode_id == ep]
    return row.missed_measures


def _due(p: Practice, ep: str, *, for_next_session: bool = True) -> list[tuple[str, bool]]:
    return [(d.measure, d.overdue) for d in p.due_measures(ME, ep, for_next_session=for_next_session)]


# -- a clinic's protocol, the default, an episode's own --------------------------------------------------


def test_a_clinic_picks_a_registered_protocol_by_name(store_kind: str, tmp_path: Path) -> None:
    with _open(store_kind, tmp_path, protocols={CLINIC: "fit"}) as p:
        ep = _episode(p)
        assert _due(p, ep) == [("ors", False), ("srs", False)]
        assert _due(p, ep, for_next_session=False) == []
        p.record_session(ME, ep, _session(DAY + timedelta(days=7), "ors"))
        assert _missed(p, ep) == ("srs",)  # visible in the caseload
        assert _due(p, ep) == [("ors", False), ("srs", True)]
        p.record_session(ME, ep, _session(DAY + timedelta(days=14), "ors", "srs"))
        assert _missed(p, ep) == ()
        assert p.verify(ADMIN).ok


def test_the_default_protocol_serves_the_clinics_without_their_own(tmp_path: Path) -> None:
    with Practice(MemoryStore(), protocols={CLINIC: "fit"}, default_protocol=WEEKLY_PHQ9) as p:
        own, other = _episode(p), _episode(p, OTHER)
        assert [d.measure for d in p.due_measures(ME, own, for_next_session=True)] == ["ors", "srs"]
        elsewhere = Actor("clin-a", Role.CLINICIAN, OTHER)
        assert [d.measure for d in p.due_measures(elsewhere, other)] == ["phq-9"]


def test_without_a_protocol_nothing_is_due_and_nothing_missed(store_kind: str, tmp_path: Path) -> None:
    with _open(store_kind, tmp_path) as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY + timedelta(days=7)))
        assert p.due_measures(ME, ep, for_next_session=True) == ()
        assert _missed(p, ep) == ()


def test_an_episode_overrides_its_clinics_protocol_and_can_return_to_it(
    store_kind: str, tmp_path: Path
) -> None:
    with _open(store_kind, tmp_path, protocols={CLINIC: "fit"}) as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY + timedelta(days=1)))
        assert _missed(p, ep) == ("ors", "srs")
        p.set_protocol(ME, ep, WEEKLY_PHQ9, on=DAY + timedelta(days=2))
        # the earlier session was not under this protocol: nothing of it is missed
        assert _missed(p, ep) == ()
        assert [d.measure for d in p.due_measures(ME, ep)] == ["phq-9"]
        assert p.episode(ME, ep).protocol == WEEKLY_PHQ9
        [entry] = [e for e in p.timeline(ME, ep) if e.type == "protocol-set"]
        assert entry.event.protocol == WEEKLY_PHQ9  # type: ignore[attr-defined]
        p.set_protocol(ME, ep, None, on=DAY + timedelta(days=3))
        assert p.episode(ME, ep).protocol is None
        assert [d.measure for d in p.due_measures(ME, ep, for_next_session=True)] == ["ors", "srs"]
        assert p.verify(ADMIN).ok


def test_an_episode_protocol_by_name_is_stored_whole() -> None:
    with Practice(MemoryStore()) as p:
        ep = _episode(p)
        p.set_protocol(ME, ep, "fit", on=DAY)
        assert p.episode(ME, ep).protocol == p.plugins.protocols().get("fit")


def test_every_two_weeks_at_the_clinics_day_before_of_and_after(tmp_path: Path) -> None:
    clock = Clock()
    with open_practice(tmp_path / "p.sqlite", clock=clock, protocols={CLINIC: WEEKLY_PHQ9}) as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY, "phq-9"))
        for offset, due in ((-1, []), (0, ["phq-9"]), (1, ["phq-9"])):
            clock.now = datetime.combine(DAY + timedelta(weeks=2, days=offset), datetime.min.time(), UTC)
            clock.now += timedelta(hours=12)
            assert [d.measure for d in p.due_measures(ME, ep)] == due, offset


def test_due_follows_the_clinics_calendar_day(tmp_path: Path) -> None:
    # 11:30 UTC on the day before the due day is already the due day in Auckland (UTC+13 in January)
    clock = Clock()
    zones = {OTHER: "Pacific/Auckland"}
    with Practice(MemoryStore(), clock=clock, clinic_time_zones=zones, default_protocol=WEEKLY_PHQ9) as p:
        here, there = _episode(p), _episode(p, OTHER)
        far = Actor("clin-a", Role.CLINICIAN, OTHER)
        p.record_session(ME, here, _session(DAY, "phq-9"))
        p.record_session(far, there, _session(DAY, "phq-9", clinic_actor=far))
        clock.now = datetime.combine(DAY + timedelta(weeks=2, days=-1), datetime.min.time(), UTC)
        clock.now += timedelta(hours=11, minutes=30)
        assert [d.measure for d in p.due_measures(ME, here)] == []
        assert [d.measure for d in p.due_measures(far, there)] == ["phq-9"]


def test_a_missed_ending_measure_stays_in_the_closed_episodes_row(store_kind: str, tmp_path: Path) -> None:
    at_ending = MeasurementProtocol("at-ending", (ScheduleEntry("ors", When.ENDING),))
    with _open(store_kind, tmp_path, protocols={CLINIC: at_ending}) as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY + timedelta(days=7), "ors"))
        p.plan_ending(ME, ep, on=DAY + timedelta(days=8))
        assert [d.measure for d in p.due_measures(ME, ep)] == ["ors"]
        p.close_episode(ME, ep, Ending(ended_on=DAY + timedelta(days=9), planned=False, reason="dropout"))
        assert _missed(p, ep) == ("ors",)
        assert p.due_measures(ME, ep) == ()


# -- the read is guarded and audited -------------------------------------------------------------------


def test_due_measures_is_audited_as_its_own_read() -> None:
    with Practice(MemoryStore(), default_protocol="fit") as p:
        ep = _episode(p)
        before = set(p.store.audit_records())
        p.due_measures(ME, ep)
        [entry] = [r for r in p.store.audit_records() if r not in before]
        assert (entry.action, entry.outcome, entry.record_id) == ("read-due-measures", "allowed", ep)


# -- bad input: refused from the hierarchy, nothing written ----------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "field", "rule"),
    [
        ("no-such-protocol", "protocol", "unknown-protocol"),
        (
            MeasurementProtocol("odd", (ScheduleEntry("ors", "intake"), ScheduleEntry("no-such", "intake"))),
            "protocol.entries[1].measure",
            "unknown-measure",
        ),
        (42, "protocol", "type"),
        ({"name": "fit"}, "protocol", "type"),
        ("", "protocol", "required"),
    ],
)
def test_a_bad_episode_protocol_is_refused_and_writes_nothing(protocol: Any, field: str, rule: str) -> None:
    with Practice(MemoryStore()) as p:
        ep = _episode(p)
        version = p.episode(ME, ep).version
        with pytest.raises(ValidationError) as refused:
            p.set_protocol(ME, ep, protocol, on=DAY)
        assert (refused.value.field, refused.value.rule) == (field, rule)
        assert p.episode(ME, ep).version == version


def test_a_protocol_cannot_be_set_before_the_episode_opened_or_once_closed() -> None:
    with Practice(MemoryStore()) as p:
        ep = _episode(p)
        with pytest.raises(LifecycleError) as early:
            p.set_protocol(ME, ep, "fit", on=DAY - timedelta(days=1))
        assert early.value.rule == "date-order"
        p.close_episode(ME, ep, Ending(ended_on=DAY, planned=False, reason="dropout"))
        version = p.episode(ME, ep).version
        with pytest.raises(LifecycleError) as closed:
            p.set_protocol(ME, ep, "fit", on=DAY)
        assert closed.value.rule == "episode-closed"
        assert p.episode(ME, ep).version == version


@pytest.mark.parametrize(
    ("options", "field", "rule"),
    [
        ({"protocols": ["fit"]}, "protocols", "type"),
        ({"protocols": {CLINIC: "no-such-protocol"}}, f"protocols.{CLINIC}", "unknown-protocol"),
        ({"protocols": {CLINIC: 3}}, f"protocols.{CLINIC}", "type"),
        ({"protocols": {"": "fit"}}, "protocols", "required"),
        ({"default_protocol": "no-such-protocol"}, "default_protocol", "unknown-protocol"),
        (
            {"default_protocol": MeasurementProtocol("x", (ScheduleEntry("no-such", "intake"),))},
            "default_protocol.entries[0].measure",
            "unknown-measure",
        ),
    ],
)
def test_a_bad_protocol_option_is_refused(options: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Practice(MemoryStore(), **options)
    assert (refused.value.field, refused.value.rule) == (field, rule)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_for_next_session_must_be_true_or_false(value: Any) -> None:
    with Practice(MemoryStore(), default_protocol="fit") as p:
        ep = _episode(p)
        with pytest.raises(ValidationError) as refused:
            p.due_measures(ME, ep, for_next_session=value)
        assert (refused.value.field, refused.value.rule) == ("for_next_session", "type")


# -- older snapshots and databases ---------------------------------------------------------------------


def _as_shape_3(path: Path, ep: str) -> None:
    conn = sqlite3.connect(path)
    (text,) = conn.execute("SELECT state FROM episodes WHERE episode_id = ?", (ep,)).fetchone()
    state = json.loads(text)
    for key in ("administered_at", "ending_planned_on", "protocol", "protocol_from"):
        state.pop(key)
    state["_v"] = 3
    conn.execute("UPDATE episodes SET state = ? WHERE episode_id = ?", (json.dumps(state), ep))
    conn.commit()
    conn.close()


def test_a_shape_3_snapshot_is_folded_again_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, protocols={CLINIC: "fit"}) as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY + timedelta(days=7), "ors", "srs"))
        p.plan_ending(ME, ep, on=DAY + timedelta(days=8))
    _as_shape_3(path, ep)
    with open_practice(path, protocols={CLINIC: "fit"}) as p:
        state = p.episode(ME, ep)  # folded from the events: the shape-3 snapshot is not read as current
        assert state.administered_at == {"ors": 1, "srs": 1}
        assert state.ending_planned_on == DAY + timedelta(days=8)
        report = p.verify(ADMIN)
        assert report.ok, report.describe()


def test_a_read_only_open_of_a_database_before_the_column_reads_none_missed(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, protocols={CLINIC: "fit"}) as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY + timedelta(days=7)))
        assert _missed(p, ep) == ("ors", "srs")
    conn = sqlite3.connect(path, isolation_level=None)  # the database as it was before the column's migration
    conn.execute("ALTER TABLE episodes DROP COLUMN missed_measures")
    conn.execute("DROP TABLE measure_definitions")  # added by a later migration
    conn.execute("DROP INDEX outbox_waits")  # and migration 8's outbox column
    conn.execute("ALTER TABLE outbox DROP COLUMN wait_began_at")
    conn.execute("DROP INDEX outbox_leases")  # and migration 9's
    conn.execute("ALTER TABLE outbox DROP COLUMN lease_began_at")
    conn.execute(f"PRAGMA user_version = {MISSED_MEASURES_FROM - 1}")
    conn.close()
    store = SQLiteStore(path, read_only=True)  # a store read: a read-only practice cannot audit its reads
    try:
        assert [r.missed_measures for r in store.caseload()] == [()]
    finally:
        store.close()
    with open_practice(path, protocols={CLINIC: "fit"}) as p:  # migrates: the column is back, empty
        assert _missed(p, ep) == ()
        p.record_session(ME, ep, _session(DAY + timedelta(days=14)))
        assert _missed(p, ep) == ("ors", "srs")


# -- the hook ------------------------------------------------------------------------------------------

MONTHLY = MeasurementProtocol("myclinic.monthly", (ScheduleEntry("core-10", "every-weeks", 4),))


class _Plugin:
    @alliancekit.hookimpl
    def alliancekit_register_protocols(self, register: ProtocolRegistrar) -> None:
        register(MONTHLY)


def test_alliancekit_register_protocols_contributes_a_protocol_a_clinic_picks_by_name() -> None:
    host = make_plugin_host(load_entry_points=False, extra_plugins=[_Plugin()])
    assert list(host.protocols()) == ["fit", "myclinic.monthly"]
    assert host.protocols().supplier("fit") == "alliancekit.protocols.builtin"
    with Practice(MemoryStore(), plugins=host, protocols={CLINIC: "myclinic.monthly"}) as p:
        ep = _episode(p)
        assert [d.measure for d in p.due_measures(ME, ep)] == ["core-10"]


def test_alliancekit_register_protocols_a_name_twice_names_both_plugins() -> None:
    class Again:
        @alliancekit.hookimpl
        def alliancekit_register_protocols(self, register: ProtocolRegistrar) -> None:
            register(MeasurementProtocol("fit", (ScheduleEntry("ors", "intake"),)))

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Again()])
    with pytest.raises(PluginError) as clash:
        host.protocols()
    assert "alliancekit.protocols.builtin" in str(clash.value)
    assert "Again" in str(clash.value)


def test_alliancekit_register_protocols_refuses_what_is_not_a_protocol() -> None:
    class Wrong:
        @alliancekit.hookimpl
        def alliancekit_register_protocols(self, register: Any) -> None:
            register({"name": "x"})

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Wrong()])
    with pytest.raises(PluginError):
        host.protocols()


# -- the optional alert ----------------------------------------------------------------------------------


@pytest.mark.parametrize("enabled", [False, True])
def test_the_measure_missed_alert_is_raised_only_when_configured(enabled: bool) -> None:
    config = FeedbackConfig(missed_measure_alert=enabled)
    with Practice(MemoryStore(), feedback=config, default_protocol="fit") as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY + timedelta(days=7), "ors", "srs"))
        assert [a.rule_id for a in p.alerts(ME, ep).values()] == []
        p.record_session(ME, ep, _session(DAY + timedelta(days=14), "ors"))
        missed = [
            (a.rule_id, a.measure_id) for a in p.alerts(ME, ep).values() if a.rule_id == "measure-missed"
        ]
        assert missed == ([("measure-missed", "srs")] if enabled else [])
        # still missed at the next session: not raised again while open
        p.record_session(ME, ep, _session(DAY + timedelta(days=21), "ors"))
        again = [a for a in p.alerts(ME, ep).values() if a.rule_id == "measure-missed"]
        assert len(again) == (1 if enabled else 0)


def test_the_measure_missed_switch_must_be_true_or_false() -> None:
    with pytest.raises(ValidationError) as refused:
        FeedbackConfig(missed_measure_alert=1)  # type: ignore[arg-type]
    assert (refused.value.field, refused.value.rule) == ("feedback.missed_measure_alert", "type")


def test_a_practice_verifies_without_its_protocol_configuration(tmp_path: Path) -> None:
    """Verification (the CLI's has no protocols) leaves the configuration-dependent missed measures out."""
    path = tmp_path / "p.sqlite"
    with open_practice(path, protocols={CLINIC: "fit"}) as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY + timedelta(days=7), "ors"))
        assert _missed(p, ep) == ("srs",)
    with open_practice(path) as p:
        report = p.verify(ADMIN)
        assert report.ok, report.describe()


def test_what_was_missed_is_withheld_with_the_scores_under_a_lockbox() -> None:
    supervisor = Actor("sup-1", Role.SUPERVISOR, CLINIC)
    with Practice(MemoryStore(), default_protocol="fit") as p:
        ep = _episode(p)
        p.record_session(ME, ep, _session(DAY + timedelta(days=7), "ors"))
        p.set_lockbox(ME, ep, scope="class", classes=["sessions"], on=DAY + timedelta(days=7))
        assert _due(p, ep) == [("ors", False), ("srs", True)]  # the treating clinician sees it
        seen = [(d.measure, d.overdue) for d in p.due_measures(supervisor, ep, for_next_session=True)]
        assert seen == [("ors", False), ("srs", False)]
        [row] = p.caseload(supervisor)
        assert row.missed_measures == ()
