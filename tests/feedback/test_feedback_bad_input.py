"""Bad input to the feedback engine: alerts handled twice, without a note, by the wrong person; reviews when
none is due; wrong settings; a broken rule plugin (nothing written)."""

from __future__ import annotations

import traceback
from datetime import date
from pathlib import Path

import pytest

from alliancekit import hookimpl
from alliancekit.domain import Actor, Review, ReviewDecision, Role
from alliancekit.errors import AccessDenied, LifecycleError, NotFoundError, PluginError, ValidationError
from alliancekit.feedback import AlertRule, FeedbackConfig
from alliancekit.feedback.rules import AlertRuleRegistrar, RuleContext
from alliancekit.plugins.manager import make_plugin_host

from .conftest import CLINIC, Clinic, make_clinic, srs


def _alerted(clinic: Clinic) -> tuple[str, str]:
    ep = clinic.episode()
    clinic.session(ep, srs(30))
    (alert_id,) = clinic.p.alerts(clinic.actor, ep)
    return ep, alert_id


def test_acknowledged_twice_is_refused(clinic: Clinic) -> None:
    ep, alert_id = _alerted(clinic)
    clinic.p.acknowledge_alert(clinic.actor, ep, alert_id)
    with pytest.raises(LifecycleError) as caught:
        clinic.p.acknowledge_alert(clinic.actor, ep, alert_id)
    assert caught.value.rule == "alert-acknowledged"
    assert clinic.p.alerts(clinic.actor, ep)[alert_id].status.value == "acknowledged"


@pytest.mark.parametrize("note", ["", "   \n"])
def test_resolved_without_a_note_is_refused(clinic: Clinic, note: str) -> None:
    ep, alert_id = _alerted(clinic)
    with pytest.raises(LifecycleError) as caught:
        clinic.p.resolve_alert(clinic.actor, ep, alert_id, note=note)
    assert caught.value.rule == "resolution-note"
    assert alert_id in clinic.p.alerts(clinic.actor, ep)


def test_resolution_note_must_be_text(clinic: Clinic) -> None:
    ep, alert_id = _alerted(clinic)
    with pytest.raises(ValidationError) as caught:
        clinic.p.resolve_alert(clinic.actor, ep, alert_id, note=None)  # type: ignore[arg-type]
    assert caught.value.field == "note"


def test_resolved_twice_or_unknown_alert_is_refused(clinic: Clinic) -> None:
    ep, alert_id = _alerted(clinic)
    clinic.p.resolve_alert(clinic.actor, ep, alert_id, note="talked it through")
    for target in (alert_id, "no-such-alert"):
        with pytest.raises(LifecycleError) as caught:
            clinic.p.resolve_alert(clinic.actor, ep, target, note="again")
        assert caught.value.rule == "alert-not-open"
        with pytest.raises(LifecycleError):
            clinic.p.acknowledge_alert(clinic.actor, ep, target)


@pytest.mark.parametrize(
    "actor",
    [
        Actor("clin-2", Role.CLINICIAN, CLINIC),  # another clinician of the clinic
        Actor("sup-9", Role.SUPERVISOR, "other-clinic"),  # a supervisor elsewhere
        Actor("admin-1", Role.ADMINISTRATOR, CLINIC),
        Actor("client-x", Role.CLIENT, CLINIC),
    ],
)
def test_acknowledged_by_someone_not_the_clinician_or_a_supervisor_is_refused(
    clinic: Clinic, actor: Actor
) -> None:
    ep, alert_id = _alerted(clinic)
    # another clinic's episode is refused as an unknown id is (NotFoundError), this clinic's as forbidden
    refusal = AccessDenied if actor.clinic_id == CLINIC else NotFoundError
    with pytest.raises(refusal):
        clinic.p.acknowledge_alert(actor, ep, alert_id)
    with pytest.raises(refusal):
        clinic.p.resolve_alert(actor, ep, alert_id, note="not mine to resolve")
    assert clinic.p.alerts(clinic.actor, ep)[alert_id].status.value == "raised"


def test_a_supervisor_of_the_clinic_may_acknowledge_and_resolve(clinic: Clinic) -> None:
    ep, alert_id = _alerted(clinic)
    supervisor = Actor("sup-1", Role.SUPERVISOR, CLINIC)
    clinic.p.acknowledge_alert(supervisor, ep, alert_id, on=date(2026, 3, 1))
    clinic.p.resolve_alert(supervisor, ep, alert_id, note="discussed in supervision")
    assert clinic.p.alerts(clinic.actor, ep) == {}


def test_after_a_transfer_the_new_clinician_handles_the_alert(clinic: Clinic) -> None:
    ep, alert_id = _alerted(clinic)
    clinic.p.transfer(clinic.actor, ep, to_clinician_id="clin-2", on=clinic.day, reason="caseload")
    with pytest.raises(AccessDenied):
        clinic.p.acknowledge_alert(clinic.actor, ep, alert_id)
    clinic.p.acknowledge_alert(Actor("clin-2", Role.CLINICIAN, CLINIC), ep, alert_id)


def test_review_when_none_is_due_is_kept_as_unscheduled(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, srs(39))
    clinic.p.record_review(clinic.actor, ep, Review(held_on=clinic.day, decision=ReviewDecision.CONTINUE))
    (review,) = [e for e in clinic.p.timeline(clinic.actor, ep) if e.type == "review-recorded"]
    assert review.event.scheduled is False


@pytest.mark.parametrize(
    "changes",
    [
        {"review_every": 0},
        {"no_change_by_session": -1},
        {"alliance_drop": 0.0},
        {"gap_days": True},
        {"min_episodes_per_band": "30"},
    ],
)
def test_bad_feedback_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        FeedbackConfig(**changes)  # type: ignore[arg-type]
    assert caught.value.field == f"feedback.{next(iter(changes))}"


def test_bad_comparison_and_wrong_config_type_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at-or-above"):
        FeedbackConfig(alliance_comparison="at-or-above")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        make_clinic(tmp_path, feedback={"review_every": 3})


def test_bad_rule_definitions_are_refused() -> None:
    def check(ctx: object) -> list[None]:
        return []

    with pytest.raises(ValidationError):
        AlertRule("Not An Id", "amber", "text", check)
    with pytest.raises(ValidationError):
        AlertRule("ok-id", "amber", "", check)
    with pytest.raises(ValidationError) as caught:  # still a ValueError, as before; naming the field now
        AlertRule("ok-id", "purple", "text", check)
    assert isinstance(caught.value, ValueError)
    assert (caught.value.field, caught.value.rule) == ("rule.severity", "enum")


class BrokenRule:
    @hookimpl
    def alliancekit_register_alert_rules(self, register: AlertRuleRegistrar) -> None:
        def check(ctx: RuleContext) -> list[None]:
            if any(True for _ in ctx.sessions()):
                raise ZeroDivisionError("client data must not leak: LEAK-7c1d")
            return []

        register(AlertRule("test.broken", "info", "Never shown.", check))


def test_a_broken_rule_fails_the_command_and_writes_nothing(tmp_path: Path) -> None:
    host = make_plugin_host(load_entry_points=False, extra_plugins=[BrokenRule()])
    c = make_clinic(tmp_path, plugins=host)
    ep = c.episode()
    version = c.p.episode(c.actor, ep).version
    with pytest.raises(PluginError) as caught:
        c.session(ep, srs(39))
    assert "test.broken" in str(caught.value)
    assert "LEAK-7c1d" not in str(caught.value)
    assert "LEAK-7c1d" not in "".join(traceback.format_exception(caught.value))  # what a host's log shows
    assert isinstance(caught.value.plugin_exception, ZeroDivisionError)  # kept for deliberate debugging
    assert c.p.episode(c.actor, ep).version == version
    assert c.p.store.load_events(ep, after=version) == []
