"""Who may run each report under the default policy, as the embedding and feedback guides say: a clinician
gets the attention list and charts of their own caseload; the practice outcomes, and the HTML report that
holds them, read the whole clinic's closed episodes and are a supervisor's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.errors import AccessDenied
from alliancekit.feedback.reports import attention_list, practice_outcomes, progress_chart, write_report

CLINICIAN = Actor("clin-1", Role.CLINICIAN, "north")
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, "north")


def test_a_clinician_gets_their_own_lists_but_not_the_clinic_wide_reports(tmp_path: Path) -> None:
    with open_practice(tmp_path / "p.sqlite") as practice:
        ep = practice.start_episode(
            CLINICIAN, client_ref="host-1", clinician_id="clin-1", opened_on=date(2026, 1, 5)
        )
        assert [item.episode_id for item in attention_list(practice, CLINICIAN)] == []
        assert progress_chart(practice, CLINICIAN, ep).episode_id == ep
        with pytest.raises(AccessDenied) as refused:
            practice_outcomes(practice, CLINICIAN)
        assert refused.value.action == "read-caseload"
        with pytest.raises(AccessDenied) as refused:
            write_report(practice, CLINICIAN, tmp_path / "clinician")
        assert refused.value.action == "read-caseload"
        assert not (tmp_path / "clinician").exists()  # refused before any file is written
        assert write_report(practice, SUPERVISOR, tmp_path / "supervisor").is_file()
