"""Make a small practice with exports, with an OLDER alliancekit, as the SQL text of its SQLite database (the
``v9-exports-*`` fixture beside this file): audit entries of exports and shares written before entries named
their recipient. Run with that commit's tree first on the path, e.g.::

    mkdir /tmp/old-9c40a8b && git archive 9c40a8b src plugins | tar -x -C /tmp/old-9c40a8b
    PYTHONPATH=/tmp/old-9c40a8b/src:$(ls -d /tmp/old-9c40a8b/plugins/*/src | tr "\\n" :) \\
        python tests/integrity/old_stores/make_exports_store.py v9-exports-9c40a8b.sql.gz

Public facade only (synthetic data): one episode with a session and a lockbox directive for one recipient,
exported to that recipient, shared naming none, and refused to another clinician; a second episode read.
The script is for regenerating the fixture, not part of the suite.
"""

from __future__ import annotations

import contextlib
import gzip
import sqlite3
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Consent,
    Consultation,
    FitDecision,
    FitOutcome,
    GoalDraft,
    Modality,
    Role,
    Session,
)
from alliancekit.errors import AccessDenied

CLINIC = "demo-clinic"
DAY = date(2026, 1, 5)


def make(target: Path) -> None:
    ticks = iter(range(10**6))
    clock = lambda: datetime(2026, 2, 2, 9, 0, tzinfo=UTC) + timedelta(seconds=next(ticks))  # noqa: E731
    counter = iter(range(10**6))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old.sqlite"
        practice = open_practice(path, clock=clock, ids=lambda kind: f"{next(counter):032x}")
        with practice:
            episodes = []
            for n in (1, 2):
                me = Actor(f"clin-{n}", Role.CLINICIAN, CLINIC)
                ep = practice.start_episode(me, client_ref=f"client-{n}", clinician_id=me.id, opened_on=DAY)
                consent = Consent(treatment=True, measures=True)
                practice.record_consultation(
                    me, ep, Consultation(held_on=DAY, modality=Modality.VIDEO, consent=consent)
                )
                practice.decide_fit(me, ep, FitDecision(FitOutcome.PROCEED, DAY))
                practice.agree_goals(me, ep, [GoalDraft("a goal", ("a task",))], agreed_on=DAY)
                practice.record_session(
                    me, ep, Session(held_on=DAY + timedelta(days=7), modality="video", attendance="attended")
                )
                episodes.append((me, ep))
            (me, ep), (other, second) = episodes
            practice.set_lockbox(
                me, ep, scope="class", classes=["sessions"], recipients=["hospital-x"], on=DAY
            )
            practice.export_record(me, ep, recipient="hospital-x")
            practice.shared_record(me, ep)
            with contextlib.suppress(AccessDenied):  # audited as refused
                practice.export_record(other, ep, recipient="hospital-y")
            practice.timeline(other, second)
        conn = sqlite3.connect(path)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (application_id,) = conn.execute("PRAGMA application_id").fetchone()
        lines = [
            f"-- made by make_exports_store.py with the commit its file name ends with (schema {version})",
            *conn.iterdump(),
            f"PRAGMA application_id = {application_id};",
            f"PRAGMA user_version = {version};",
        ]
        conn.close()
    target.write_bytes(gzip.compress("\n".join(lines).encode(), mtime=0))


if __name__ == "__main__":
    make(Path(sys.argv[1]))
