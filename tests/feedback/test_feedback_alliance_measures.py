"""The alliance-drop rule reads a client's response (a link, ``record_client_response``) as it reads a
session's rating, and the fall and split rules read only the measures their thresholds were set for: the
SRS's one-point fall (OpenFIT alert table, measures.md), never the WAI-SR, which has no validated threshold
(measures.md: "report scores and change only"). Real SQLite files."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from alliancekit.domain import Administration, AdministrationTiming, Attendance, Modality
from alliancekit.domain.records import Session
from alliancekit.errors import ValidationError
from alliancekit.feedback import FeedbackConfig

from .conftest import Clinic, config, make_clinic, ors, srs


def wai_sr(total: int) -> Administration:
    """WAI-SR answers (12 items, 1-5) summing to ``total``: a point off each item from q1 on."""
    answers = {f"q{i}": 5 for i in range(1, 13)}
    for i in range(1, 13):
        short = sum(answers.values()) - total
        answers[f"q{i}"] -= min(4, short)
    assert sum(answers.values()) == total
    return Administration("wai-sr", "1.0", AdministrationTiming.END, answers)


def respond(clinic: Clinic, ep: str, admin: Administration, session_id: str | None = None) -> None:
    """``admin`` as the client answered it elsewhere, recorded for them on the clinic's current day."""
    at = datetime.combine(clinic.day, time(10), UTC) + timedelta(hours=1)
    clinic.p.record_client_response(clinic.actor, ep, admin, responded_at=at, session_id=session_id)


# ------------------------------------------------------------------------- a response the client gave


@pytest.mark.parametrize(("second", "dropped"), [(31.8, True), (31.9, False), (32.8, False)])
def test_a_recorded_client_response_srs_drop_at_the_boundary(
    clinic: Clinic, second: float, dropped: bool
) -> None:
    """32.8 -> 31.8 (exactly one point) raises it, as in a session; 31.9 and no change do not."""
    ep = clinic.episode()
    clinic.session(ep, ors(20), srs(32.8))
    in_session = clinic.session(ep, ors(21))
    respond(clinic, ep, srs(second), session_id=in_session)
    assert ("alliance-dropped" in clinic.rules_raised(ep)) is dropped


def test_a_response_between_sessions_is_compared_with_the_session_before(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(20), srs(39))
    clinic.day += timedelta(days=3)
    respond(clinic, ep, srs(37))
    assert "alliance-dropped" in clinic.rules_raised(ep)
    # and the next session's rating is compared with that response (one order for both)
    clinic.session(ep, ors(21), srs(37))
    assert clinic.rules_raised(ep).count("alliance-dropped") == 1


def test_a_corrected_session_raises_no_fall(clinic: Clinic) -> None:
    """A correction fixes what an earlier rating was: no new rating, so no fall since the one before."""
    ep = clinic.episode()
    clinic.session(ep, ors(20), srs(39))
    second = clinic.session(ep, ors(21), srs(39))
    corrected = Session(
        clinic.day, Modality.IN_PERSON, Attendance.ATTENDED, administrations=(ors(21), srs(37))
    )
    clinic.p.correct_session(clinic.actor, ep, second, corrected, reason="typed wrongly")
    assert clinic.p.episode(clinic.actor, ep).latest_scores["srs"].total == 37  # the correction took
    assert "alliance-dropped" not in clinic.rules_raised(ep)


# ---------------------------------------------------------------- only the measures with a threshold


@pytest.mark.parametrize("second", [47, 36])
def test_a_wai_sr_drop_raises_nothing(clinic: Clinic, second: int) -> None:
    """A fall of one point, or twelve, on the WAI-SR (12-60; no norms, so no cutoff alert either)."""
    ep = clinic.episode()
    clinic.session(ep, ors(20), wai_sr(48))
    clinic.session(ep, ors(20), wai_sr(second))
    respond(clinic, ep, wai_sr(second - 1))
    assert [r for r in clinic.rules_raised(ep) if r.startswith(("alliance", "split"))] == []


def test_a_practice_may_add_a_measure_it_has_checked(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, feedback=config(alliance_drop_measures={"srs", "wai-sr"}, alliance_drop=3))
    ep = c.episode()
    c.session(ep, ors(20), wai_sr(48))
    c.session(ep, ors(20), wai_sr(46))
    assert "alliance-dropped" not in c.rules_raised(ep)
    c.session(ep, ors(20), wai_sr(43))
    assert "alliance-dropped" in c.rules_raised(ep)


def test_the_default_measures_are_the_srs_and_for_a_split_the_srs_and_gsrs() -> None:
    assert FeedbackConfig().alliance_drop_measures == frozenset({"srs"})
    assert FeedbackConfig().split_alliance_measures == frozenset({"srs", "gsrs"})


@pytest.mark.parametrize("field", ["alliance_drop_measures", "split_alliance_measures"])
@pytest.mark.parametrize("value", ["srs", {"srs", ""}, {"srs", 3}, None])
def test_a_bad_set_of_measures_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        FeedbackConfig(**{field: value})  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == (f"feedback.{field}", "type")
