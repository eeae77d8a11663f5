"""The quality reports through the facade on a real SQLite practice: what they read is audited, the
lockbox applies, the HTML section and the ``quality`` command (table and ``--json``) say what could not be
computed, and the demo practice shows every report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.demo import simulate_practice
from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Ending,
    EndingReason,
    Review,
    ReviewDecision,
    Role,
)
from alliancekit.errors import ValidationError
from alliancekit.feedback.reports import attention_list, render_report
from alliancekit.feedback.reports.quality import quality_reports
from alliancekit.feedback.reports.quality.cms159 import Cms159Status

from .conftest import CLINIC, Clinic, later, make_clinic, ors, phq9

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)


def gad7(total: int) -> Administration:
    answers: dict[str, float | None] = {}
    rest = total
    for i in range(1, 8):
        answers[f"q{i}"] = min(3, rest)
        rest -= answers[f"q{i}"] or 0
    return Administration("gad-7", "1.0", AdministrationTiming.START, answers)


def year_of_care(c: Clinic) -> str:
    """One client: PHQ-9 14 / GAD-7 10 at the first session, a review that adjusts the approach, a
    follow-up a year later with PHQ-9 3 / GAD-7 3, then a planned ending."""
    ep = c.episode()
    c.session(ep, phq9(14), gad7(10))  # 2026-01-12: the index event
    c.session(ep, phq9(8), gad7(5))
    c.p.record_review(c.actor, ep, Review(held_on=c.day, decision=ReviewDecision.ADJUST_APPROACH))
    c.session(ep, phq9(3), gad7(3), days=350)  # 2027-01-04: inside 2027-01-12 +/- 60 days
    c.p.plan_ending(c.actor, ep, on=c.day)
    ending = Ending(ended_on=c.day, planned=True, reason=EndingReason.GOALS_MET, no_plan_reason="a test")
    c.p.close_episode(c.actor, ep, ending)
    return ep


def test_reports_through_the_facade_match_the_hand_computation_and_are_audited(clinic: Clinic) -> None:
    ep = year_of_care(clinic)
    q = quality_reports(clinic.p, SUPERVISOR, today=date(2027, 6, 1), year=2027)
    # CMS159 2027: identification period 2025-11-01..2026-10-31 holds the index (14 on 2026-01-12)
    [cms] = q.cms159.clients
    assert (cms.index_on, cms.index_score, cms.status) == (date(2026, 1, 12), 14, Cms159Status.REMISSION)
    assert (cms.follow_up_on, cms.follow_up_score) == (date(2027, 1, 4), 3)
    # Talking Therapies: PHQ-9 14 -> 3 and GAD-7 10 -> 3 over 3 sessions: a case that reliably recovered
    tt = q.talking_therapies
    assert (tt.finished, tt.paired, tt.caseness) == (1, 1, 1)
    assert tt.reliable_recovery.numerator == 1
    # DRR-E's follow-up period (2026-05-12..2026-09-09) holds no PHQ-9
    assert (q.drr_e.follow_up.numerator, q.drr_e.follow_up.denominator) == (0, 1)
    [mbc] = q.mbc.episodes
    assert mbc.reviews == 1
    assert "review: adjust-approach" in mbc.plan_changes[0]
    auditor = Actor("admin-1", Role.ADMINISTRATOR, CLINIC)
    reads = [e for e in clinic.p.audit_entries(auditor, actor_id=SUPERVISOR.id) if e.record_id == ep]
    assert any(e.action == "read-timeline" for e in reads)


def test_lockboxed_records_are_left_out_and_said_to_be(clinic: Clinic) -> None:
    ep = year_of_care(clinic)
    clinic.p.set_lockbox(clinic.actor, ep, scope="record", on=clinic.day)
    q = quality_reports(clinic.p, SUPERVISOR, today=date(2027, 6, 1), year=2027)
    assert q.cms159.clients == ()  # the supervisor sees no score of this client
    assert any("withheld by the client's lockbox" in u.reason for u in q.talking_therapies.unavailable)
    assert any(u.subject == ep and "lockbox" in u.reason for u in q.mbc.unavailable)
    # the treating clinician still sees the record for treatment
    own = quality_reports(clinic.p, clinic.actor, today=date(2027, 6, 1), year=2027)
    assert [c.status for c in own.cms159.clients] == [Cms159Status.REMISSION]


def test_empty_practice_and_episodes_without_a_baseline_are_stated(tmp_path: Path) -> None:
    c = make_clinic(tmp_path)
    q = quality_reports(c.p, SUPERVISOR, today=date(2026, 6, 1))
    for result in (q.cms159, q.drr_e, q.dms, q.talking_therapies, q.mbc):
        assert result.unavailable, result
        assert "no episodes" in result.unavailable[0].reason
    page = render_report(c.p, SUPERVISOR, today=date(2026, 6, 1))
    assert "Quality measures" in page
    assert "no episodes: there is nothing to measure" in page
    ep = c.episode()
    c.session(ep, ors(20))  # sessions, but no PHQ-9 at all: no baseline
    q = quality_reports(c.p, SUPERVISOR, today=date(2026, 6, 1))
    assert "no PHQ-9 is recorded" in q.cms159.unavailable[0].reason
    assert "no PHQ-9 is recorded" in q.drr_e.unavailable[0].reason
    assert q.cms159.remission.value is None
    assert q.mbc.measured.numerator == 1  # the ORS was given: a standardized measure all the same
    c.p.close()


def test_quality_command_prints_a_table_or_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "p.sqlite"
    with open_practice(db, clock=later) as practice:
        year_of_care(Clinic(practice))
    assert main(["quality", "--db", str(db), "--today", "2027-06-01", "--year", "2027", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cms159"]["remission"] == {"numerator": 1, "denominator": 1, "value": 1.0}
    assert data["talking_therapies"]["reliable_recovery"]["numerator"] == 1
    assert set(data) >= {"cms159", "drr_e", "dms", "talking_therapies", "mbc"}
    exclusions = tmp_path / "exclusions.json"
    exclusions.write_text(json.dumps({"client-x": "hospice care"}), encoding="utf-8")
    args = [
        "quality",
        "--db",
        str(db),
        "--today",
        "2027-06-01",
        "--year",
        "2027",
        "--exclusions",
        str(exclusions),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "CMS159" in out
    assert "- (0 of 0)" in out.splitlines()[2]  # the one client excluded: nothing left to measure
    exclusions.write_text("[1, 2]", encoding="utf-8")
    assert main(args) == 2  # a usage error: the file named is not what the option takes
    err = capsys.readouterr().err
    assert "--exclusions" in err
    for text, rule in (
        ("[" * 100_000 + "]" * 100_000, "max-depth"),
        ('{"client-x": "\\u0000"}', "control-character"),
    ):
        exclusions.write_text(text, encoding="utf-8")  # hostile: refused by its rule, not a traceback
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"--exclusions {exclusions}: not JSON within bounds ({rule})" in err
        assert "client-x" not in err


def test_quality_command_on_an_empty_practice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_practice(tmp_path / "empty.sqlite").close()
    assert main(["quality", "--db", str(tmp_path / "empty.sqlite"), "--today", "2026-06-01"]) == 0
    assert "not computed (CMS159): practice: no episodes" in capsys.readouterr().out


def test_the_demo_practice_shows_every_quality_report(tmp_path: Path) -> None:
    summary = simulate_practice(tmp_path / "demo.sqlite", clients=13)
    today = date.fromisoformat(summary.today)
    with open_practice(tmp_path / "demo.sqlite") as practice:
        admin = Actor("demo-admin", Role.SUPERVISOR, "demo-clinic")
        q = quality_reports(practice, admin, today=today)
        page = render_report(practice, admin, today=today)
    closed = [c for c in q.cms159.clients if c.window_end < today]
    assert closed, "the year-long client's 12-month window closes before the demo's last day"
    assert all(c.follow_up_score is not None for c in closed)
    assert q.drr_e.follow_up.numerator >= 1
    assert q.talking_therapies.paired >= 1
    assert q.dms.total.denominator >= 1
    assert q.mbc.reviewed.numerator >= 1
    assert "CMS159: depression remission at twelve months" in page


def test_the_html_table_of_episodes_is_bounded_and_says_how_many_more(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alliancekit.feedback.reports.quality.html as quality_html

    for _ in range(2):
        clinic.session(clinic.episode(), phq9(12))
    monkeypatch.setattr(quality_html, "MAX_EPISODE_ROWS", 1)
    page = render_report(clinic.p, SUPERVISOR, today=date(2026, 6, 1))
    assert page.count("<td>client-x</td>") == 1
    assert "1 more episodes: see <code>alliancekit quality --json</code>." in page


@pytest.mark.parametrize(
    ("options", "field", "rule"),
    [
        ({"year": 0}, "year", "range"),
        ({"year": 99999}, "year", "range"),
        ({"year": "2026"}, "year", "type"),
        ({"today": date(9999, 12, 31)}, "today", "range"),
        ({"today": date(1, 1, 1)}, "today", "range"),
        ({"today": "2026-06-01"}, "today", "type"),
    ],
)
def test_a_report_date_or_year_out_of_range_is_refused_by_field_and_rule(
    clinic: Clinic, options: dict[str, object], field: str, rule: str
) -> None:
    clinic.session(clinic.episode(), phq9(12))
    with pytest.raises(ValidationError) as caught:
        quality_reports(clinic.p, SUPERVISOR, **options)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == (field, rule)
    if "today" in options:  # the attention list takes the same date
        with pytest.raises(ValidationError) as caught:
            attention_list(clinic.p, SUPERVISOR, **options)  # type: ignore[arg-type]
        assert (caught.value.field, caught.value.rule) == (field, rule)


@pytest.mark.parametrize("option", [["--year", "0"], ["--today", "9999-12-31"], ["--year", "-5"]])
def test_the_quality_command_refuses_an_impossible_year_without_a_traceback(
    clinic: Clinic, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    clinic.session(clinic.episode(), phq9(12))
    clinic.p.close()
    assert main(["quality", "--db", str(tmp_path / "practice.sqlite"), *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alliancekit: error: ")
    assert "Traceback" not in err
