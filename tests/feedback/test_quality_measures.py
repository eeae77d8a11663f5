"""The quality measures against small practices computed by hand from each cited specification, every
threshold and window edge on both sides, and the statements made when something cannot be computed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import attrs
import pytest

from alliancekit.feedback.reports.quality import (
    cms159,
    dms,
    drr_e,
    mbc_summary,
    talking_therapies,
    whole_points,
)
from alliancekit.feedback.reports.quality.cms159 import Cms159Status, assessment_window, identification_period
from alliancekit.feedback.reports.quality.hedis import assessment_periods, rolling_intake
from alliancekit.feedback.reports.quality.mbc import episode_mbc
from alliancekit.feedback.reports.quality.records import (
    AlertRecord,
    EpisodeRecord,
    PlanChange,
    ReviewRecord,
    ScoreRecord,
    add_months,
)
from alliancekit.feedback.reports.quality.talking_therapies import CourseOutcome, at_caseness


def client(
    ref: str, *scores: tuple[str, int, date], closed: date | None = None, ending: str | None = None
) -> EpisodeRecord:
    """One episode of ``ref`` whose attended sessions are the days its scores were given."""
    records = tuple(ScoreRecord(m, total, on, i + 1) for i, (m, total, on) in enumerate(scores))
    days = tuple(sorted({on for _, _, on in scores}))
    opened = days[0] if days else date(2025, 1, 1)
    return EpisodeRecord(
        episode_id=f"ep-{ref}",
        client_ref=ref,
        clinician_id="clin-1",
        opened_on=opened,
        closed_on=closed,
        ending_reason=ending,
        attended=days,
        scores=records,
        given=tuple((m, on) for m, _, on in scores),
    )


def phq(total: int, on: date) -> tuple[str, int, date]:
    return ("phq-9", total, on)


def gad(total: int, on: date) -> tuple[str, int, date]:
    return ("gad-7", total, on)


# -- the shared helpers ------------------------------------------------------------------------------


def test_whole_points_accepts_integral_totals_of_any_numeric_type_and_refuses_the_rest() -> None:
    assert whole_points(12) == 12
    assert whole_points(12.0) == 12
    assert whole_points(Decimal("7")) == 7
    assert whole_points(Decimal("7.0")) == 7
    assert whole_points(0.1 + 0.2 + 9.7) == 10  # float noise, not a fraction
    for bad in (12.5, Decimal("9.5"), True, "10", None):
        with pytest.raises(ValueError, match="must be"):
            whole_points(bad)


def test_calendar_months_and_the_identification_period() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 1, 1), -14) == date(2024, 11, 1)
    # Interval[start of 2026 - 14 months, start - 2 months): 1 Nov 2024 to 31 Oct 2025 inclusive
    assert identification_period(2026) == (date(2024, 11, 1), date(2025, 10, 31))
    assert assessment_window(date(2025, 6, 1)) == (date(2026, 4, 2), date(2026, 7, 31))


# -- CMS159 ------------------------------------------------------------------------------------------


def test_cms159_on_a_practice_computed_by_hand() -> None:
    episodes = [
        # A: index 14 (> 9); 12 months later 4 (< 5): remission
        client("A", phq(14, date(2025, 1, 15)), phq(4, date(2026, 1, 15))),
        # B: index exactly 10 qualifies; the most recent score in the window (6) decides, not the lowest (3)
        client("B", phq(10, date(2025, 3, 1)), phq(3, date(2026, 2, 1)), phq(6, date(2026, 3, 1))),
        # C: 9 is not above 9: not in the denominator
        client("C", phq(9, date(2025, 2, 1)), phq(2, date(2026, 2, 1))),
        # D: window 2026-04-02..2026-07-31; a score one day after it does not count
        client("D", phq(20, date(2025, 6, 1)), phq(4, date(2026, 8, 1))),
        # E: on the window's first day, 4: remission
        client("E", phq(15, date(2025, 6, 1)), phq(4, date(2026, 4, 2))),
        # F: on the window's last day, exactly 5: not below 5
        client("F", phq(11, date(2025, 6, 1)), phq(5, date(2026, 7, 31))),
        # G: index one day before the identification period: not in the denominator
        client("G", phq(12, date(2024, 10, 31)), phq(1, date(2025, 10, 31))),
        # H: index on the period's first day; window 2025-09-02..2025-12-31, 2 on its last day: remission
        client("H", phq(12, date(2024, 11, 1)), phq(2, date(2025, 12, 31))),
        # I: index on the period's last day; window closes 2026-12-30, after today: still open
        client("I", phq(16, date(2025, 10, 31))),
        # J: the host's record shows an exclusion
        client("J", phq(18, date(2025, 2, 1)), phq(1, date(2026, 2, 1))),
    ]
    result = cms159(episodes, year=2026, today=date(2026, 8, 15), exclusions={"J": "bipolar disorder"})
    status = {c.client_ref: c.status for c in result.clients}
    assert status == {
        "A": Cms159Status.REMISSION,
        "B": Cms159Status.NO_REMISSION,
        "D": Cms159Status.NO_FOLLOW_UP,
        "E": Cms159Status.REMISSION,
        "F": Cms159Status.NO_REMISSION,
        "H": Cms159Status.REMISSION,
        "I": Cms159Status.WINDOW_OPEN,
        "J": Cms159Status.EXCLUDED,
    }
    # denominator A B D E F H I (J excluded, C and G never indexed); numerator A E H
    assert (result.remission.numerator, result.remission.denominator) == (3, 7)
    assert result.pending == 1
    assert result.excluded == 1
    assert result.to_json()["provisional"] is True
    assert not result.unavailable


def seen(ref: str, scores: tuple[tuple[str, int, date], ...], attended: tuple[date, ...]) -> EpisodeRecord:
    """An episode of ``ref`` whose attended sessions are ``attended``, whatever the days of its scores (a
    PHQ-9 the client filled in by a link need not fall on a session's day)."""
    return attrs.evolve(client(ref, *scores), attended=tuple(sorted(attended)))


def test_cms159_index_needs_a_session_in_the_period_on_its_day_or_up_to_7_days_after() -> None:
    """CMS159's CQL: the index PHQ-9 is assessed during [encounter - 7 days, encounter], and the encounter
    ends in the identification period (2024-11-01..2025-10-31 for 2026); the index date is the PHQ-9's day."""
    march = date(2025, 3, 1)
    episodes = [
        # a PHQ-9 7 days before a session: the index, on the PHQ-9's day
        seen("A", (phq(15, march),), (march + timedelta(days=7),)),
        # 8 days before the only session: no index
        seen("B", (phq(15, march),), (march + timedelta(days=8),)),
        # a PHQ-9 the day after the session: not linked to it (no index)
        seen("C", (phq(15, march + timedelta(days=1)),), (march,)),
        # 7 days before the period's first day, linked to a session on that day: the index
        seen("D", (phq(15, date(2024, 10, 25)),), (date(2024, 11, 1),)),
        # on the period's last day, but its session is the day after the period: no index
        seen("E", (phq(15, date(2025, 10, 31)),), (date(2025, 11, 1),)),
        # a session on the period's last day, the PHQ-9 that day: the index
        seen("F", (phq(15, date(2025, 10, 31)),), (date(2025, 10, 31),)),
        # a PHQ-9 of 20 without a session is passed over; the later one at a session (12) is the index
        seen("G", (phq(20, date(2025, 1, 2)), phq(12, date(2025, 2, 1))), (date(2025, 2, 1),)),
    ]
    result = cms159(episodes, year=2026, today=date(2026, 6, 1))
    index = {c.client_ref: (c.index_on, c.index_score) for c in result.clients}
    assert index == {
        "A": (march, 15),
        "D": (date(2024, 10, 25), 15),
        "F": (date(2025, 10, 31), 15),
        "G": (date(2025, 2, 1), 12),
    }
    d = next(c for c in result.clients if c.client_ref == "D")
    assert (d.window_start, d.window_end) == (date(2025, 8, 26), date(2025, 12, 24))
    assert result.remission.denominator == 4


def test_cms159_window_edges_and_the_period_edges_one_day_outside() -> None:
    """The window of an index on 2025-06-01 is 2026-04-02..2026-07-31: a 4 one day before it is not counted;
    a PHQ-9 above 9 at a session the day after the identification period (2025-11-01) is no index."""
    episodes = [
        client("A", phq(20, date(2025, 6, 1)), phq(4, date(2026, 4, 1))),
        client("B", phq(20, date(2025, 6, 1)), phq(4, date(2026, 4, 1)), phq(4, date(2026, 4, 2))),
        client("C", phq(20, date(2025, 11, 1)), phq(1, date(2026, 11, 1))),
    ]
    result = cms159(episodes, year=2026, today=date(2027, 1, 1))
    status = {c.client_ref: (c.status, c.follow_up_on) for c in result.clients}
    assert status == {
        "A": (Cms159Status.NO_FOLLOW_UP, None),
        "B": (Cms159Status.REMISSION, date(2026, 4, 2)),
    }


def test_cms159_window_open_until_its_last_day_passes() -> None:
    episodes = [client("A", phq(14, date(2025, 1, 15)), phq(4, date(2026, 1, 15)))]
    _, end = assessment_window(date(2025, 1, 15))
    assert cms159(episodes, year=2026, today=end).clients[0].status == Cms159Status.WINDOW_OPEN
    after = cms159(episodes, year=2026, today=end + timedelta(days=1))
    assert after.clients[0].status == Cms159Status.REMISSION


def test_cms159_uses_every_episode_of_a_client() -> None:
    first = client("A", phq(14, date(2025, 1, 15)))
    second = attrs.evolve(client("A", phq(3, date(2026, 1, 20))), episode_id="ep-A2")
    result = cms159([first, second], year=2026, today=date(2027, 1, 1))
    assert [c.status for c in result.clients] == [Cms159Status.REMISSION]


def test_cms159_says_what_it_could_not_compute() -> None:
    empty = cms159([], year=2026, today=date(2026, 6, 1))
    assert empty.remission.value is None
    assert [u.reason for u in empty.unavailable] == ["no episodes: there is nothing to measure"]
    no_phq = cms159([client("A", gad(12, date(2025, 1, 1)))], year=2026, today=date(2026, 6, 1))
    assert "no PHQ-9 is recorded" in no_phq.unavailable[0].reason
    no_index = cms159([client("A", phq(9, date(2025, 1, 1)))], year=2026, today=date(2026, 6, 1))
    assert no_index.unavailable[0].reason == (
        "no client had a PHQ-9 above 9 on the day of an attended session between 2024-11-01 and 2025-10-31 "
        "(the denominator identification period of 2026) or up to 7 days before it"
    )
    assert no_index.to_json()["remission"] == {"numerator": 0, "denominator": 0, "value": None}


# -- HEDIS DRR-E and DMS -----------------------------------------------------------------------------


def test_drr_e_on_a_practice_computed_by_hand() -> None:
    day0 = date(2025, 1, 1)

    def at(days: int) -> date:
        return day0 + timedelta(days=days)

    episodes = [
        # P: 10 on day 120 (first day of follow-up): exactly 50 % of 20 is a response; 10 is no remission
        client("P", phq(20, day0), phq(10, at(120))),
        # Q: 6 on day 240 (last day): 12 > 11, no response; no remission
        client("Q", phq(11, day0), phq(6, at(240))),
        # R: scores on day 119 and day 241 are outside the follow-up period
        client("R", phq(15, day0), phq(4, at(119)), phq(3, at(241))),
        # S: the most recent score (7) decides: 14 > 12, no response
        client("S", phq(12, day0), phq(2, at(130)), phq(7, at(200))),
        # T: 4: remission and response
        client("T", phq(13, day0), phq(4, at(200))),
        # U: 9 is not elevated: no index
        client("U", phq(9, day0), phq(1, at(150))),
    ]
    result = drr_e(episodes, intake=(day0, date(2025, 1, 31)), today=date(2026, 1, 1))
    assert [c.client_ref for c in result.clients] == ["P", "Q", "R", "S", "T"]
    assert (result.follow_up.numerator, result.follow_up.denominator) == (4, 5)
    assert (result.remission.numerator, result.remission.denominator) == (1, 5)
    assert (result.response.numerator, result.response.denominator) == (2, 5)
    assert result.pending == 0


def test_drr_e_response_is_exactly_half_or_lower() -> None:
    day0 = date(2025, 1, 1)
    later = day0 + timedelta(days=150)
    half = drr_e([client("A", phq(15, day0), phq(7, later))], intake=(day0, day0), today=date(2026, 1, 1))
    above = drr_e([client("A", phq(15, day0), phq(8, later))], intake=(day0, day0), today=date(2026, 1, 1))
    assert half.response.numerator == 1  # 7 is 53 % lower than 15
    assert above.response.numerator == 0  # 8 is 47 % lower
    remission = drr_e(
        [client("A", phq(15, day0), phq(4, later))], intake=(day0, day0), today=date(2026, 1, 1)
    )
    no_remission = drr_e(
        [client("A", phq(15, day0), phq(5, later))], intake=(day0, day0), today=date(2026, 1, 1)
    )
    assert (remission.remission.numerator, no_remission.remission.numerator) == (1, 0)


def test_drr_e_intake_period_edges_on_both_sides() -> None:
    """An elevated PHQ-9 on the intake period's first and last day is an index; one day outside is not. The
    default rolling period ends 240 days before the report date and spans 12 calendar months."""
    intake = (date(2025, 1, 1), date(2025, 1, 31))
    episodes = [
        client("A", phq(12, date(2024, 12, 31))),
        client("B", phq(12, date(2025, 1, 1))),
        client("C", phq(12, date(2025, 1, 31))),
        client("D", phq(12, date(2025, 2, 1))),
    ]
    result = drr_e(episodes, intake=intake, today=date(2026, 1, 1))
    assert [c.client_ref for c in result.clients] == ["B", "C"]
    assert rolling_intake(date(2026, 1, 1)) == (date(2024, 5, 7), date(2025, 5, 6))


def test_drr_e_says_what_it_could_not_compute() -> None:
    result = drr_e([], intake=(date(2025, 1, 1), date(2025, 12, 31)), today=date(2026, 9, 1))
    assert result.remission.value is None
    assert result.unavailable
    none_elevated = drr_e(
        [client("A", phq(5, date(2025, 3, 1)))],
        intake=(date(2025, 1, 1), date(2025, 12, 31)),
        today=date(2026, 9, 1),
    )
    assert "no client had an elevated PHQ-9" in none_elevated.unavailable[0].reason


def test_dms_per_four_month_period_computed_by_hand() -> None:
    assert assessment_periods(2026) == (
        (date(2026, 1, 1), date(2026, 4, 30)),
        (date(2026, 5, 1), date(2026, 8, 31)),
        (date(2026, 9, 1), date(2026, 12, 31)),
    )
    x = client("X", phq(12, date(2026, 1, 10)), ("ors", 20, date(2026, 5, 5)))
    y = client("Y", ("ors", 25, date(2026, 4, 30)), phq(8, date(2026, 5, 1)))
    result = dms([x, y], year=2026)
    rates = [(p.utilisation.numerator, p.utilisation.denominator) for p in result.periods]
    # period 1: X measured, Y seen on 30 April without one; period 2: X seen without, Y measured 1 May
    assert rates == [(1, 2), (1, 2), (0, 0)]
    assert (result.total.numerator, result.total.denominator) == (2, 4)
    assert "no client attended a session in 2027" in dms([x, y], year=2027).unavailable[0].reason


# -- NHS Talking Therapies -------------------------------------------------------------------------


def test_caseness_cutoffs_on_both_sides() -> None:
    assert at_caseness(10, 0)
    assert not at_caseness(9, 0)
    assert at_caseness(0, 8)
    assert not at_caseness(0, 7)
    assert not at_caseness(9, 7)


@pytest.mark.parametrize(
    ("phq9", "gad7", "improved", "deteriorated"),
    [
        ((15, 9), (5, 5), True, False),  # PHQ-9 down 6: reliable
        ((15, 10), (5, 5), False, False),  # down 5: not
        ((5, 5), (10, 6), True, False),  # GAD-7 down 4: reliable
        ((5, 5), (10, 7), False, False),  # down 3: not
        ((9, 15), (5, 5), False, True),  # PHQ-9 up 6: reliable
        ((9, 14), (5, 5), False, False),  # up 5: not
        ((5, 5), (4, 8), False, True),  # GAD-7 up 4: reliable
        ((5, 5), (4, 7), False, False),  # up 3: not
        ((12, 6), (4, 8), False, False),  # one better, one worse: neither
    ],
)
def test_reliable_change_thresholds_on_both_sides_in_both_directions(
    phq9: tuple[int, int], gad7: tuple[int, int], improved: bool, deteriorated: bool
) -> None:
    course = CourseOutcome("ep", phq9, gad7)
    assert course.reliable_improvement is improved
    assert course.reliable_deterioration is deteriorated


def test_talking_therapies_on_a_practice_computed_by_hand() -> None:
    d = [date(2025, 3, 1) + timedelta(days=7 * i) for i in range(4)]
    end = d[-1]

    def course(ref: str, p: tuple[int, int], g: tuple[int, int]) -> EpisodeRecord:
        return client(
            ref,
            phq(p[0], d[0]),
            gad(g[0], d[0]),
            phq(p[1], d[2]),
            gad(g[1], d[2]),
            closed=end,
            ending="goals-met",
        )

    episodes = [
        course("1", (15, 9), (7, 7)),  # case -> not case, PHQ-9 down 6: recovery, reliable improvement
        course("2", (15, 10), (10, 6)),  # GAD-7 down 4 but PHQ-9 still 10: improvement, no recovery
        course("3", (9, 15), (5, 5)),  # not a case at the start; PHQ-9 up 6: deterioration
        course("4", (12, 6), (4, 8)),  # case; ends at caseness on GAD-7; mixed change: nothing
        course("5", (8, 13), (3, 6)),  # no reliable change either way
        # not finished courses:
        client("open", phq(20, d[0]), gad(15, d[0]), phq(3, d[2]), gad(2, d[2])),
        client("one-session", phq(20, d[0]), gad(15, d[0]), closed=end, ending="dropout"),
        client("referred-at-consultation", closed=end),
        # finished, but only one GAD-7: no paired scores
        client("unpaired", phq(20, d[0]), gad(15, d[0]), phq(3, d[2]), closed=end, ending="goals-met"),
    ]
    result = talking_therapies(episodes)
    assert result.finished == 6
    assert result.paired == 5
    assert result.caseness == 3  # courses 1, 2, 4
    assert (result.recovery.numerator, result.recovery.denominator) == (1, 3)
    assert (result.reliable_recovery.numerator, result.reliable_recovery.denominator) == (1, 3)
    assert (result.reliable_improvement.numerator, result.reliable_improvement.denominator) == (2, 5)
    assert (result.reliable_deterioration.numerator, result.reliable_deterioration.denominator) == (1, 5)
    assert [(u.subject, u.reason) for u in result.unavailable] == [
        ("ep-unpaired", "no paired GAD-7 scores (fewer than two recorded)")
    ]


def test_talking_therapies_says_what_it_could_not_compute() -> None:
    assert talking_therapies([]).unavailable[0].reason == "no episodes: there is nothing to measure"
    only_open = talking_therapies([client("A", phq(12, date(2025, 1, 1)), phq(5, date(2025, 2, 1)))])
    assert "no finished course of treatment" in only_open.unavailable[0].reason
    assert only_open.recovery.value is None
    withheld = attrs.evolve(client("B", closed=date(2025, 2, 1), ending="goals-met"), withheld=True)
    notes = talking_therapies([withheld]).unavailable
    assert [u.subject for u in notes] == ["ep-B", "practice"]
    assert "withheld by the client's lockbox" in notes[0].reason
    assert "no finished course of treatment" in notes[1].reason


# -- the measurement-based-care summary -------------------------------------------------------------


def test_mbc_summary_of_an_episode_and_the_practice() -> None:
    d1, d2, d3 = date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)
    episode = EpisodeRecord(
        episode_id="ep-1",
        client_ref="c-1",
        clinician_id="clin-1",
        opened_on=d1,
        attended=(d1, d2, d3),
        given=(("phq-9", d1), ("ors", d1), ("ors", d2), ("phq-9", d3)),
        reviews=(ReviewRecord(d3, "adjust-approach", True, ("phq-9",)), ReviewRecord(d2, "continue", False)),
        alerts=(
            AlertRecord("r", "red", d2, acknowledged_on=d2),
            AlertRecord("r", "amber", d2, resolved_on=d3),
            AlertRecord("r", "info", d3),
        ),
        plan_changes=(PlanChange(d3, "review: adjust-approach"),),
    )
    row = episode_mbc(episode)
    assert [(m.measure_id, m.times, m.first_on, m.last_on) for m in row.measures] == [
        ("ors", 2, d1, d2),
        ("phq-9", 2, d1, d3),
    ]
    assert (row.reviews, row.reviews_with_scores, row.last_review_on) == (2, 1, d3)
    assert (row.alerts_raised, row.alerts_acknowledged, row.alerts_unacknowledged) == (3, 2, 1)
    assert row.plan_changes == ("2026-01-19 review: adjust-approach",)
    unmeasured = EpisodeRecord("ep-2", "c-2", "clin-1", d1, attended=(d1,))
    not_started = EpisodeRecord("ep-3", "c-3", "clin-1", d1)
    summary = mbc_summary([episode, unmeasured, not_started])
    assert [e.episode_id for e in summary.episodes] == ["ep-1", "ep-2"]  # episodes with a session
    assert (summary.measured.numerator, summary.measured.denominator) == (1, 2)
    assert (summary.monitored.numerator, summary.reviewed.numerator) == (1, 1)
    assert (summary.alerts_acknowledged.numerator, summary.alerts_acknowledged.denominator) == (2, 3)


def test_mbc_summary_says_what_it_could_not_compute() -> None:
    assert mbc_summary([]).unavailable[0].reason == "no episodes: there is nothing to summarise"
    idle = mbc_summary([EpisodeRecord("ep", "c", "clin", date(2026, 1, 1))])
    assert idle.unavailable[0].reason == "no episode has an attended session yet"
    assert idle.measured.value is None
