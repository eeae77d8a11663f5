"""The demo's measures filled in by clients: a few PHQ-9s answered through links between sessions and one
GAD-7 on the waiting-room tablet through a kiosk code, all through the facade as a host would make them.

Run once the simulated clients are in, on the simulation's last day; the answers are fixed, so the records
stay the same for the same seed (tokens and codes are random, as they must be, but only their hashes are
kept and nothing in the record names them).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import attrs

from alliancekit.domain import Actor, Role, Stage
from alliancekit.practice import Practice

#: Clients of the demo who answer a PHQ-9 through a link (the kiosk client comes after them).
LINK_CLIENTS = 3
#: Where the kiosk submission comes from, for its rate limit.
TABLET = "demo-waiting-room-tablet"
#: Fixed answers: mild to moderate, no risk item endorsed (the safety net is shown in the guide's example).
_PHQ9 = {"q1": 1, "q2": 2, "q3": 1, "q4": 2, "q5": 1, "q6": 1, "q7": 1, "q8": 0, "q9": 0}
_GAD7 = {"q1": 1, "q2": 1, "q3": 2, "q4": 1, "q5": 0, "q6": 1, "q7": 1}


@attrs.frozen
class ClientSubmissions:
    """What the clients filled in themselves."""

    by_link: int
    by_kiosk: int


def add_client_submissions(practice: Practice, clinic: str, clock: Any, today: date) -> ClientSubmissions:
    """Clients of open episodes in active therapy fill measures in themselves (see the module)."""
    clock.today = today
    reader = Actor("demo-admin", Role.SUPERVISOR, clinic)
    rows = [r for r in practice.caseload(reader) if r.stage == Stage.ACTIVE.value]
    rows.sort(key=lambda r: r.episode_id)
    by_link = 0
    for row in rows[:LINK_CLIENTS]:
        clinician = Actor(row.clinician_id, Role.CLINICIAN, clinic)
        made = practice.request_administration(clinician, row.episode_id, measure="phq-9", point="between")
        assert made.token is not None  # noqa: S101 - a fresh request carries its token
        practice.submit_response(made.token, answers=_PHQ9)
        by_link += 1
    by_kiosk = 0
    for row in rows[LINK_CLIENTS : LINK_CLIENTS + 1]:
        clinician = Actor(row.clinician_id, Role.CLINICIAN, clinic)
        code = practice.kiosk_code(clinician, row.episode_id, measure="gad-7", point="start")
        form = practice.redeem_kiosk_code(clinic, code.code, source=TABLET)
        assert form.token is not None  # noqa: S101 - a redeemed code carries its one-use token
        practice.submit_response(form.token, answers=_GAD7)
        by_kiosk += 1
    return ClientSubmissions(by_link, by_kiosk)
