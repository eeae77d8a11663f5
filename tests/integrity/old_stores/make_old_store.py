"""Make a small practice with an OLDER alliancekit, as the SQL text of its SQLite database (the fixtures
beside this file). Run with that commit's tree first on the path, e.g.::

    git worktree add --detach /tmp/old-11b3d3e 11b3d3e
    PYTHONPATH=/tmp/old-11b3d3e/src:$(ls -d /tmp/old-11b3d3e/plugins/*/src | tr "\n" :) \
        python tests/integrity/old_stores/make_old_store.py v2-shape2-11b3d3e.sql.gz

It drives the demo's own client courses of that commit (synthetic clients only): one open episode with a
corrected session and open alerts, and lockbox directives (one lifted, one kept); one episode closed at
consultation (referred on). Only the demo's internals of commits from f218494 to b8a705e are known
to work here; the script is for regenerating these fixtures, not part of the suite.
"""

from __future__ import annotations

import gzip
import random
import sqlite3
import sys
import tempfile
from pathlib import Path

from alliancekit import open_practice
from alliancekit.demo import simulate as demo

COURSES = ("corrected", "referred")


def make(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old.sqlite"
        rng = random.Random(7)  # synthetic data, reproducible by design
        clock = demo._Clock()
        practice = open_practice(path, clock=clock, ids=lambda kind: f"{rng.getrandbits(128):032x}")
        sim = demo._Simulation(practice, rng, clock)
        with practice:
            clients = [demo._Client(sim, index, course) for index, course in enumerate(COURSES)]
            for client in clients:
                client.run()
            corrected = clients[0]
            corrected.risk = True  # the PHQ-9 risk item endorsed: alerts raised and left open
            corrected.session(symptoms=True)
            on = sim.last_day
            lifted = practice.set_lockbox(corrected.actor, corrected.ep, scope="record", on=on)
            practice.lift_lockbox(corrected.actor, corrected.ep, lifted.record_id, on=on)
            practice.set_lockbox(corrected.actor, corrected.ep, scope="class", classes=["sessions"], on=on)
        conn = sqlite3.connect(path)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (application_id,) = conn.execute("PRAGMA application_id").fetchone()
        lines = [
            f"-- made by make_old_store.py with the commit its file name ends with (schema {version})",
            *conn.iterdump(),
            f"PRAGMA application_id = {application_id};",
            f"PRAGMA user_version = {version};",
        ]
        conn.close()
    target.write_bytes(gzip.compress("\n".join(lines).encode(), mtime=0))


if __name__ == "__main__":
    make(Path(sys.argv[1]))
