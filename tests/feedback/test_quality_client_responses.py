"""The quality reports count what the specifications count: a PHQ-9 the client filled in by a link, a kiosk or
on paper (``record_client_response``) on the clinic's own day it was answered, and only the identified
client's own ratings (a PHQ-9 about a partner in a couple's episode is the partner's, not the client's)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import attrs
import pytest

from alliancekit.domain import Actor, Consent, Participant, Role
from alliancekit.feedback.reports.quality import episode_records, quality_reports
from alliancekit.feedback.reports.quality.cms159 import Cms159Status

from .conftest import CLINIC, CLINICIAN, make_clinic, phq9

# Pacific/Auckland is UTC+13 in March 2027 (daylight time until 4 April): 23:30 local on 13 March is 10:30 UTC
# the same day, 00:30 local on 14 March is 11:30 UTC on the 13th.
LAST_EVENING = datetime(2027, 3, 13, 10, 30, tzinfo=UTC)
NEXT_MORNING = datetime(2027, 3, 13, 11, 30, tzinfo=UTC)


def test_a_phq9_the_client_filled_in_counts_on_the_clinics_day(tmp_path: Path) -> None:
    """Index PHQ-9 14 at the session of 2026-01-12 (in CMS159 2027's identification period, 2025-11-01 to
    2026-10-31); the window is 2027-01-12 +/- 60 days, 2026-11-13 to 2027-03-13. The client answers a PHQ-9
    of 3 at 23:30 local on the window's last day (inside), and one of 15 at 00:30 local the next day (outside,
    though still 13 March in UTC): the most recent in the window is 3, a remission."""
    c = make_clinic(tmp_path, time_zone="Pacific/Auckland")
    ep = c.episode()
    c.session(ep, phq9(14))
    c.p.record_client_response(CLINICIAN, ep, phq9(3), responded_at=LAST_EVENING)
    c.p.record_client_response(CLINICIAN, ep, phq9(15), responded_at=NEXT_MORNING)

    q = quality_reports(c.p, CLINICIAN, today=date(2027, 6, 1), year=2027)

    (client,) = q.cms159.clients
    assert (client.index_on, client.window_end) == (date(2026, 1, 12), date(2027, 3, 13))
    assert (client.status, client.follow_up_score) == (Cms159Status.REMISSION, 3)
    assert client.follow_up_on == date(2027, 3, 13)
    assert (q.cms159.remission.numerator, q.cms159.remission.denominator) == (1, 1)
    (episode,) = q.mbc.episodes
    assert [(u.measure_id, u.times, u.last_on) for u in episode.measures] == [("phq-9", 3, date(2027, 3, 14))]
    c.p.close()


def test_a_partners_phq9_is_not_the_clients(tmp_path: Path) -> None:
    """A couple's episode: the partner's PHQ-9 of 20 (about the partner) and the client's own of 3 at the
    same sessions. The client never had a PHQ-9 above 9, so CMS159 and DRR-E have nobody to count."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    partner = "client-partner-1"
    consent = Consent(treatment=True, measures=True)
    c.p.add_participant(CLINICIAN, ep, Participant(partner, "partner", consent), added_on=c.day)
    c.session(ep, phq9(3), attrs.evolve(phq9(20), about=partner))  # 2026-01-12
    c.session(ep, phq9(4), attrs.evolve(phq9(19), about=partner))

    q = quality_reports(c.p, CLINICIAN, today=date(2027, 6, 1), year=2027)

    assert q.cms159.clients == ()
    assert (q.cms159.remission.numerator, q.cms159.remission.denominator) == (0, 0)
    late = quality_reports(c.p, CLINICIAN, today=date(2026, 9, 30))  # DRR-E intake 2025-02-03..2026-02-02
    assert late.drr_e.clients == ()
    c.p.close()


def test_a_response_in_a_withheld_session_stays_withheld(tmp_path: Path) -> None:
    """The response counts through the reader's timeline: one given in a session a directive withholds from
    a supervisor is not in that supervisor's figures; one between sessions is, and the treating clinician
    sees both."""
    c = make_clinic(tmp_path)
    supervisor = Actor("sup-1", Role.SUPERVISOR, CLINIC)
    ep = c.episode()
    c.session(ep, phq9(14))
    kept = c.session(ep, phq9(12))
    c.p.record_client_response(
        CLINICIAN, ep, phq9(3), responded_at=datetime(2026, 1, 19, 20, tzinfo=UTC), session_id=kept
    )
    c.p.record_client_response(CLINICIAN, ep, phq9(4), responded_at=datetime(2026, 1, 20, 20, tzinfo=UTC))
    last = [e for e in c.p.timeline(CLINICIAN, ep) if e.type == "session-recorded"][-1].event_id
    c.p.set_lockbox(CLINICIAN, ep, scope="item", event_ids=[last], recipients=[supervisor.id], on=c.day)

    def phq9_given(actor: Actor) -> list[tuple[int, date]]:
        (record,) = episode_records(c.p, actor)[0]
        return [(s.total, s.on) for s in record.scores_of("phq-9")]

    assert phq9_given(supervisor) == [(14, date(2026, 1, 12)), (4, date(2026, 1, 20))]
    assert phq9_given(CLINICIAN) == [
        (14, date(2026, 1, 12)),
        (12, date(2026, 1, 19)),
        (3, date(2026, 1, 19)),
        (4, date(2026, 1, 20)),
    ]
    c.p.close()


@pytest.mark.parametrize(("days_to_session", "indexed"), [(7, True), (8, False)])
def test_a_phq9_filled_in_before_a_session_is_the_cms159_index_up_to_7_days_before_it(
    tmp_path: Path, days_to_session: int, indexed: bool
) -> None:
    """CMS159 links the index PHQ-9 to an encounter on its day or up to 7 days after it. The client answers a
    PHQ-9 of 15 by a link on 2026-01-14 (sessions give only a 3): with the next session 7 days later it is the
    index (on its own day), with the next session 8 days later nobody is indexed for 2027."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.session(ep, phq9(3))  # 2026-01-12
    answered = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
    c.p.record_client_response(CLINICIAN, ep, phq9(15), responded_at=answered)
    c.session(ep, phq9(3), days=2 + days_to_session)

    q = quality_reports(c.p, CLINICIAN, today=date(2027, 6, 1), year=2027)

    if indexed:
        (client,) = q.cms159.clients
        assert (client.index_on, client.index_score) == (date(2026, 1, 14), 15)
    else:
        assert q.cms159.clients == ()
        assert "no client had a PHQ-9 above 9" in q.cms159.unavailable[-1].reason
    c.p.close()
