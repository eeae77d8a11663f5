"""Another process applying one keyed command, for the key race tests (run with ``sys.executable``).

``keyed.py DB session EPISODE KEY DAY [EXPECTED]``: record an attended session on DAY (days after the
episode opened) with idempotency key KEY (and ``expected_version=EXPECTED``); print the result's version
and whether it was a repeat. ``keyed.py DB start KEY``: start an episode with KEY; print its id. DB is an
SQLite path or a ``postgresql://`` location (its plugin enabled by the environment).
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

from alliancekit import open_practice
from alliancekit.domain import Actor, Role, Session

ACTOR = Actor("clin-1", Role.CLINICIAN, "clinic-1")
START = date(2026, 1, 5)


def main(db: str, what: str, *args: str) -> None:
    with open_practice(db) as practice:
        if what == "start":
            (key,) = args
            print(
                practice.start_episode(
                    ACTOR, client_ref="client-1", clinician_id="clin-1", opened_on=START, idempotency_key=key
                )
            )
            return
        episode_id, key, day, *expected = args
        session = Session(START + timedelta(days=int(day)), "in-person", "attended")
        version = int(expected[0]) if expected else None
        done = practice.record_session(
            ACTOR, episode_id, session, idempotency_key=key, expected_version=version
        )
        print(done.version, done.duplicate)


if __name__ == "__main__":
    main(*sys.argv[1:])
