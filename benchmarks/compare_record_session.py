"""``record_session``'s CPU time per call through the public API, for comparing two installed versions.

The database is on ``/dev/shm`` (the disk taken out); the sessions are built before the clock starts, so
only ``record_session`` is timed. Run it with each version's interpreter, interleaved, for example
``/path/to/old/venv/bin/python benchmarks/compare_record_session.py 3000`` then the same with the new one;
only the public API that both versions share is used. Not part of ``tox -e bench`` (one version per
process).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Role,
    Session,
)

EPISODES = 20


def main(count: int) -> float:
    actor = Actor("bench-clinician", Role.CLINICIAN, "bench-clinic")
    start = date(2026, 1, 5)
    ors = {"individually": 5.1, "interpersonally": 6.0, "socially": 4.2, "overall": 5.5}
    srs = {"relationship": 9.1, "goals_topics": 8.7, "approach": 9.0, "overall": 9.2}
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - a RAM disk, for the benchmark
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        practice = open_practice(Path(tmp) / "p.sqlite")
        episodes = []
        for k in range(EPISODES):
            ep = practice.start_episode(actor, client_ref=f"c{k}", clinician_id=actor.id, opened_on=start)
            consent = Consultation(
                held_on=start, modality="video", consent=Consent(treatment=True, measures=True)
            )
            practice.record_consultation(actor, ep, consent)
            practice.decide_fit(actor, ep, FitDecision(outcome="proceed", decided_on=start))
            practice.agree_goals(actor, ep, [GoalDraft("a goal", ("a task",))], agreed_on=start)
            episodes.append(ep)
        sessions = [
            Session(
                held_on=start + timedelta(days=1 + i // EPISODES),
                modality="in-person",
                attendance="attended",
                administrations=(
                    Administration("ors", "1.0", "start", ors),
                    Administration("srs", "1.0", "end", srs),
                ),
            )
            for i in range(count)
        ]
        t0 = time.process_time()
        for i, session in enumerate(sessions):
            practice.record_session(actor, episodes[i % EPISODES], session)
        cpu = time.process_time() - t0
        practice.close()
    return cpu / count * 1e6


if __name__ == "__main__":
    print(f"record_session CPU per call: {main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000):.0f} µs")
