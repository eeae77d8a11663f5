"""``alliancekit demo`` includes measures clients filled in themselves: by link, and one by kiosk."""

from __future__ import annotations

from pathlib import Path

from alliancekit import Actor, open_practice
from alliancekit.demo import simulate_practice
from alliancekit.demo.client_submissions import LINK_CLIENTS
from alliancekit.demo.simulate import CLINIC, MIN_CLIENTS


def test_the_demo_has_client_submissions_by_link_and_by_kiosk(tmp_path: Path) -> None:
    location = tmp_path / "demo.sqlite"
    summary = simulate_practice(location, clients=MIN_CLIENTS)
    assert summary.client_submissions == LINK_CLIENTS + 1
    reader = Actor("demo-supervisor", "supervisor", CLINIC)
    channels = []
    with open_practice(location) as practice:
        for row in practice.caseload(reader, include_closed=True):
            timeline = practice.timeline(reader, row.episode_id)
            answered = {e.event.request_id for e in timeline if e.type == "client-response-recorded"}  # type: ignore[attr-defined]
            channels += [
                e.event.channel  # type: ignore[attr-defined]
                for e in timeline
                if e.type == "administration-requested" and e.event.request_id in answered  # type: ignore[attr-defined]
            ]
            assert all(e.actor_role == "client" for e in timeline if e.type == "client-response-recorded")
    assert sorted(channels) == ["kiosk", *["link"] * LINK_CLIENTS]
