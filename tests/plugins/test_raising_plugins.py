"""A plugin that raises fails the call with a PluginError naming the hook and the plugin, never the
exception's message, and nothing is recorded or exported: checked for every hook in hookspecs."""

from __future__ import annotations

import logging
import pickle
import sqlite3
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    FitOutcome,
    GoalDraft,
    Modality,
    Role,
)
from alliancekit.domain.records import Session
from alliancekit.errors import PluginError, PluginMeasureDefinitionError, ValidationError
from alliancekit.feedback import AlertRule
from alliancekit.fhir import export_ndjson
from alliancekit.notify import Subscriptions
from alliancekit.plugins import hookspecs
from alliancekit.plugins.manager import PluginHost, make_plugin_host
from alliancekit.store.protocol import OutboxState

HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("alliancekit_"))
CANARY = "secret-canary"
CLINICIAN = Actor("clin-1", Role.CLINICIAN, "clinic-1")
DAY = date(2026, 1, 5)
ORS = Administration(
    "ors",
    "1.0",
    AdministrationTiming.START,
    {"individually": 5, "interpersonally": 5, "socially": 5, "overall": 5},
)


def later() -> datetime:
    """The clinic's clock, fixed after every date used here (no dependence on the day the tests run)."""
    return datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def canary_plugin(hook: str) -> ModuleType:
    """A plugin module implementing only ``hook``, which raises with words a client might have written."""

    @hookimpl(specname=hook)
    def implementation() -> None:
        raise RuntimeError(CANARY)

    plugin = ModuleType("canary_plugin")
    plugin.implementation = implementation  # type: ignore[attr-defined]
    return plugin


def session_on(day: date) -> Session:
    attended = Attendance.ATTENDED
    return Session(held_on=day, modality=Modality.IN_PERSON, attendance=attended, administrations=(ORS,))


def host_with(*plugins: object) -> PluginHost:
    return make_plugin_host(load_entry_points=False, extra_plugins=list(plugins))


@pytest.fixture
def practice_file(tmp_path: Path) -> tuple[Path, str]:
    """A practice on disk, made without the failing plugin: one episode in therapy, with one session."""
    path = tmp_path / "practice.sqlite"
    with open_practice(path, plugins=host_with(), clock=later) as practice:
        episode_id = practice.start_episode(
            CLINICIAN, client_ref="client-x", clinician_id=CLINICIAN.id, opened_on=DAY
        )
        consent = Consent(treatment=True, measures=True)
        practice.record_consultation(
            CLINICIAN, episode_id, Consultation(held_on=DAY, modality=Modality.IN_PERSON, consent=consent)
        )
        practice.decide_fit(CLINICIAN, episode_id, FitDecision(outcome=FitOutcome.PROCEED, decided_on=DAY))
        practice.agree_goals(CLINICIAN, episode_id, [GoalDraft("a synthetic goal")], agreed_on=DAY)
        practice.record_session(CLINICIAN, episode_id, session_on(date(2026, 1, 12)))
    return path, episode_id


# -- the library path that calls each hook -----------------------------------------------------------------


def open_new(path: Path, episode_id: str, host: PluginHost) -> None:
    open_practice(path.with_name("new.sqlite"), plugins=host, clock=later).close()


def open_existing(path: Path, episode_id: str, host: PluginHost) -> None:
    open_practice(path, plugins=host, clock=later).close()


def record_session(path: Path, episode_id: str, host: PluginHost) -> None:
    with open_practice(path, plugins=host, clock=later) as practice:
        practice.record_session(CLINICIAN, episode_id, session_on(date(2026, 1, 19)))


def set_protocol(path: Path, episode_id: str, host: PluginHost) -> None:
    with open_practice(path, plugins=host, clock=later) as practice:
        practice.set_protocol(CLINICIAN, episode_id, "fit", on=date(2026, 1, 12))


def export(path: Path, episode_id: str, host: PluginHost) -> None:
    with open_practice(path, plugins=host, clock=later) as practice:
        export_ndjson(practice, CLINICIAN, path.with_name("export"))


def register_notifiers(path: Path, episode_id: str, host: PluginHost) -> None:
    # The library path isolates notification plugins (see the test below): called here at the host.
    host.call_hook("alliancekit_register_notifiers", plugin="canary_plugin", register=lambda channel: None)


DRIVERS: dict[str, Callable[[Path, str, PluginHost], None]] = {
    "alliancekit_register_stores": open_new,
    "alliancekit_register_measures": record_session,
    "alliancekit_register_protocols": set_protocol,
    "alliancekit_access_policy": open_existing,
    "alliancekit_register_alert_rules": record_session,
    "alliancekit_expectation_model": record_session,
    "alliancekit_register_notifiers": register_notifiers,
    "alliancekit_fhir_identity": export,
    "alliancekit_fhir_mappers": export,
    "alliancekit_fhir_resource": export,
    "alliancekit_fhir_export_filter": export,
}


def written(root: Path, *, audit: bool = True) -> dict[str, Any]:
    """Every file under ``root`` and, for each SQLite file, the number of rows in each table (with
    ``audit=False``, but the audit trail's)."""
    out: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rows = None
        if path.suffix == ".sqlite":
            db = sqlite3.connect(path)
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            wanted = [t for t in tables if audit or not t.startswith("audit")]
            rows = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in wanted}  # noqa: S608
            db.close()
        out[str(path.relative_to(root))] = rows
    return out


@pytest.mark.parametrize("hook", HOOKS)
def test_a_raising_implementation_is_a_plugin_error_naming_hook_and_plugin(
    hook: str, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    if hook not in DRIVERS:
        pytest.fail(f"{hook} has no driver here: add the library call that reaches it to DRIVERS")
    path, episode_id = practice_file
    # An export audits its read of the episode before any hook sees the record, as every read is.
    audit = DRIVERS[hook] is not export
    before = written(tmp_path, audit=audit)
    with pytest.raises(PluginError) as caught:
        DRIVERS[hook](path, episode_id, host_with(canary_plugin(hook)))
    error = caught.value
    assert (error.hook, error.plugin) == (hook, "canary_plugin")
    assert str(error) == f"plugin 'canary_plugin' failed in {hook}: RuntimeError"
    shown = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    assert not [text for text in shown if CANARY in text]
    assert written(tmp_path, audit=audit) == before


def test_the_plugins_exception_is_kept_for_debugging_but_not_pickled() -> None:
    host = host_with(canary_plugin("alliancekit_access_policy"))
    with pytest.raises(PluginError) as caught:
        host.call_hook("alliancekit_access_policy")
    kept = caught.value.plugin_exception
    assert isinstance(kept, RuntimeError)
    assert kept.args == (CANARY,)
    assert caught.value.__cause__ is None  # raised from None: a logged traceback does not show it
    assert caught.value.__suppress_context__
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - the bytes were made just above
    assert (copy.hook, copy.plugin, copy.plugin_exception) == (caught.value.hook, "canary_plugin", None)
    assert CANARY.encode() not in pickle.dumps(caught.value)


def test_attributed_names_the_plugin_and_hook_on_the_error_itself() -> None:
    # every refusal of a plugin sets hook, plugin (and the plugin's exception, kept out of pickles) so
    plain = PluginError("refused")
    assert plain.attributed("load", "someplug") is plain
    assert (plain.hook, plain.plugin, plain.plugin_exception, str(plain)) == (
        "load",
        "someplug",
        None,
        "refused",
    )
    raised = RuntimeError(CANARY)
    error = PluginMeasureDefinitionError("$.codes", "unique").attributed("a_hook", None, raised)
    assert isinstance(error, PluginMeasureDefinitionError)
    assert (error.hook, error.plugin, error.plugin_exception) == ("a_hook", None, raised)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - the bytes were made just above
    assert (type(copy), copy.hook, copy.plugin, copy.plugin_exception) == (type(error), "a_hook", None, None)


def test_an_alliancekit_error_from_a_plugin_passes_through_unchanged() -> None:
    refusal = ValidationError("definition", "required")

    class Refusing:
        @hookimpl
        def alliancekit_register_measures(self, register: Any) -> None:
            raise refusal

    with pytest.raises(ValidationError) as caught:
        host_with(Refusing()).measures()
    assert caught.value is refusal


def test_the_plugin_named_is_the_instance_that_raised_not_another_of_its_class() -> None:
    class Filter:
        def __init__(self, fail: bool) -> None:
            self.fail = fail

        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any, context: Any) -> None:
            if self.fail:
                raise KeyError(CANARY)

    quiet, failing = Filter(False), Filter(True)
    host = host_with(quiet, failing)
    with pytest.raises(PluginError) as caught:
        host.call_hook("alliancekit_fhir_export_filter", record=None, context=None)
    assert caught.value.plugin == host.pm.get_name(failing) != host.pm.get_name(quiet)
    assert str(caught.value).endswith("failed in alliancekit_fhir_export_filter: KeyError")


def test_a_raising_notifier_plugin_is_reported_by_name_and_type_and_the_host_goes_on() -> None:
    host = host_with(canary_plugin("alliancekit_register_notifiers"))
    assert host.notifiers().problems == [("canary_plugin", "raised RuntimeError while registering")]


# -- objects a plugin supplies, called later by the library ---------------------------------------------


def raising(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(CANARY)


class Raising:
    """A supplied object whose every method raises with words a client might have written."""

    name = "canary"  # a notification channel's
    decide = expect = reference = deliver = staticmethod(raising)


@hookimpl(specname="alliancekit_register_stores")
def supplies_store_opener(register: Any) -> None:
    register("canary", raising)


@hookimpl(specname="alliancekit_access_policy")
def supplies_policy() -> Any:
    return Raising()


@hookimpl(specname="alliancekit_register_alert_rules")
def supplies_alert_rule(register: Any) -> None:
    register(AlertRule("canary.broken", "info", "Never shown.", raising))


@hookimpl(specname="alliancekit_expectation_model")
def supplies_expectation_model(measure: Any) -> Any:
    return Raising()


@hookimpl(specname="alliancekit_fhir_identity")
def supplies_identity(clinic_id: str, options: Any) -> Any:
    return Raising()


@hookimpl(specname="alliancekit_fhir_mappers")
def supplies_mapper(register: Any) -> None:
    register("episode", raising)


@hookimpl(specname="alliancekit_register_notifiers")
def supplies_channel(register: Any) -> None:
    register(Raising())


def supplying_plugin(implementation: Callable[..., Any]) -> ModuleType:
    plugin = ModuleType("canary_plugin")
    plugin.implementation = implementation  # type: ignore[attr-defined]
    return plugin


def open_canary_store(path: Path, episode_id: str, host: PluginHost) -> None:
    open_practice(f"canary:{path.with_name('new.sqlite')}", plugins=host, clock=later).close()


def read_episode(path: Path, episode_id: str, host: PluginHost) -> None:
    with open_practice(path, plugins=host, clock=later) as practice:
        practice.episode(CLINICIAN, episode_id)


#: Hook -> (the implementation supplying a raising object, the library path that calls the object, what
#: the error says was called).
SUPPLIED: dict[str, tuple[Callable[..., Any], Callable[[Path, str, PluginHost], None], str]] = {
    "alliancekit_register_stores": (supplies_store_opener, open_canary_store, "store opener for canary"),
    "alliancekit_access_policy": (supplies_policy, read_episode, "access policy decide"),
    "alliancekit_register_alert_rules": (
        supplies_alert_rule,
        record_session,
        "alert rule canary.broken check",
    ),
    "alliancekit_expectation_model": (
        supplies_expectation_model,
        record_session,
        "expectation model for ors",
    ),
    "alliancekit_fhir_identity": (supplies_identity, export, "fhir identity reference for practitioner"),
    "alliancekit_fhir_mappers": (supplies_mapper, export, "fhir mapper for episode"),
}
#: Hooks whose plugins supply objects the library calls, but that fail on their own terms (see below).
SUPPLIED_ELSEWHERE = {"alliancekit_register_notifiers"}
#: Hooks whose plugins supply data (measure definitions, protocols) or are the call themselves.
SUPPLIES_NO_CODE = {
    "alliancekit_register_measures",
    "alliancekit_register_protocols",
    "alliancekit_fhir_resource",
    "alliancekit_fhir_export_filter",
}


def test_every_hook_is_known_to_supply_code_or_not() -> None:
    kinds = [set(SUPPLIED), SUPPLIED_ELSEWHERE, SUPPLIES_NO_CODE]
    assert sorted(set().union(*kinds)) == HOOKS, "say whether a new hook's plugins supply code it calls"
    assert sum(len(k) for k in kinds) == len(HOOKS)


@pytest.mark.parametrize("hook", sorted(SUPPLIED))
def test_a_raising_supplied_object_is_a_plugin_error_naming_plugin_and_call(
    hook: str, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    implementation, drive, called = SUPPLIED[hook]
    path, episode_id = practice_file
    audit = drive is not export  # an export audits its read before any record is mapped
    before = written(tmp_path, audit=audit)
    with pytest.raises(PluginError) as caught:
        drive(path, episode_id, host_with(supplying_plugin(implementation)))
    error = caught.value
    assert (error.hook, error.plugin) == (called, "canary_plugin")
    assert str(error) == f"plugin 'canary_plugin' failed in {called}: RuntimeError"
    assert isinstance(error.plugin_exception, RuntimeError)
    shown = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    assert not [text for text in shown if CANARY in text]
    assert CANARY.encode() not in pickle.dumps(error)
    assert written(tmp_path, audit=audit) == before


def test_a_hosts_own_raising_policy_is_not_blamed_on_a_plugin(practice_file: tuple[Path, str]) -> None:
    path, episode_id = practice_file
    practice = open_practice(path, plugins=host_with(), clock=later, policy=Raising())
    with practice, pytest.raises(RuntimeError, match=CANARY):
        practice.episode(CLINICIAN, episode_id)


def test_a_raising_notification_channel_is_a_failed_attempt_recorded_by_type_only(
    practice_file: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    path, episode_id = practice_file
    host = host_with(supplying_plugin(supplies_channel))
    subscribed = Subscriptions.of({"canary": ("session-no-show",)})
    with open_practice(path, plugins=host, clock=later, subscriptions=subscribed) as practice:
        no_show = Session(held_on=date(2026, 1, 19), modality=Modality.PHONE, attendance=Attendance.NO_SHOW)
        practice.record_session(CLINICIAN, episode_id, no_show)
        with caplog.at_level(logging.DEBUG):
            summary = practice.dispatch_pending()
        assert (summary.delivered, summary.failed) == (0, 1)
        [record] = practice.store.outbox_records(OutboxState.PENDING)
        assert (record.channel, record.last_error) == ("canary", "RuntimeError")
    assert CANARY not in caplog.text
    assert not [f for f in path.parent.iterdir() if f.is_file() and CANARY.encode() in f.read_bytes()]
