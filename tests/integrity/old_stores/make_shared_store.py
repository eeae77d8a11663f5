"""Make a practice of two clinics in one SQLite file with an alliancekit whose audit chains and checkpoints
were shared by every clinic in the file (schema 10, before chains per clinic), as the SQL text of its
database (the fixture beside this file). Run with that commit's tree first on the path, e.g.::

    git worktree add --detach /tmp/old-2ab21ee 2ab21ee
    PYTHONPATH=/tmp/old-2ab21ee/src:$(ls -d /tmp/old-2ab21ee/plugins/*/src | tr "\\n" :) \\
        python tests/integrity/old_stores/make_shared_store.py v10-shared-chains-2ab21ee.sql.gz

Two clinics (north, south), two synthetic clients each, a consultation and an audited read per episode,
sealed with :data:`KEY` every 5 entries and not on closing, so that the shared chains end in a tail no
checkpoint seals (what a file in use looks like when it is upgraded). The script is for regenerating the
fixture, not part of the suite.
"""

from __future__ import annotations

import gzip
import sqlite3
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alliancekit import Practice
from alliancekit.domain import Actor, Consent, Consultation, Modality, Role
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.sqlite import SQLiteStore

#: The seal key of the fixture (a test key, nothing else uses it).
KEY = b"shared-chains-fixture-key-" + b"s" * 6
DAY = date(2026, 2, 2)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old.sqlite"
        ticks = iter(range(10**6))
        counter = iter(range(10**6))
        store = SQLiteStore(path)
        practice = Practice(
            store,
            plugins=make_plugin_host(load_entry_points=False),
            audit_key=KEY,
            checkpoint_every=5,
            clock=lambda: T0 + timedelta(seconds=next(ticks)),
            ids=lambda kind: f"{next(counter):032x}",
        )
        consent = Consent(treatment=True, measures=True)
        for n in range(2):
            for clinic in ("north", "south"):
                me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic)
                ep = practice.start_episode(
                    me, client_ref=f"{clinic}-client-{n}", clinician_id=me.id, opened_on=DAY
                )
                practice.record_consultation(
                    me, ep, Consultation(held_on=DAY, modality=Modality.VIDEO, consent=consent)
                )
                practice.episode(me, ep)
        store.close()  # not the practice's close: it would seal the tail
        conn = sqlite3.connect(path)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (application_id,) = conn.execute("PRAGMA application_id").fetchone()
        lines = [
            f"-- made by make_shared_store.py with the commit its file name ends with (schema {version})",
            *conn.iterdump(),
            f"PRAGMA application_id = {application_id};",
            f"PRAGMA user_version = {version};",
        ]
        conn.close()
    target.write_bytes(gzip.compress("\n".join(lines).encode(), mtime=0))


if __name__ == "__main__":
    make(Path(sys.argv[1]))
