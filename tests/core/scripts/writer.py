"""A writer process for the crash-safety and two-writer tests (run with ``sys.executable``).

``writer.py crash DB SEED``: open episodes and record sessions in a loop, forever; after each command
returns, print ``episode_id version`` and flush, so the parent knows which calls returned before it killed
this process.

``writer.py race DB EPISODE N RETRIES GO_FILE``: wait for GO_FILE to appear, then record N sessions in
EPISODE as fast as possible with ``conflict_retries=RETRIES``; print ``ready`` once, then ``ok version
session_id`` or ``conflict`` for each. DB is an SQLite path or a ``postgresql://`` location (its plugin
enabled by the environment).
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from pathlib import Path

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    MaintenancePlan,
    Role,
    Session,
)
from alliancekit.errors import ConflictError
from alliancekit.plugins.manager import get_plugin_host
from alliancekit.practice import Practice, Recorded
from alliancekit.store.protocol import Store

ACTOR = Actor("clin-1", Role.CLINICIAN, "clinic-1")
START = date(2026, 1, 5)


def administrations(practice: Practice, n: int) -> tuple[Administration, ...]:
    registry = practice.plugins.measures()
    given = []
    for measure_id, timing in (("ors", "start"), ("srs", "end")):
        version = str(registry.latest_version(measure_id))
        found = registry.get(measure_id, version)
        definition = getattr(found, "definition", found)
        answers = {item["key"]: float(item.get("min", 0) + (n % 7)) for item in definition["items"]}
        given.append(Administration(measure_id, version, timing, answers))
    return tuple(given)


def said(done: Recorded) -> None:
    say(done.episode_id, done.version)


def say(*words: object) -> None:
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def crash(db: str, seed: int) -> None:
    practice = open_practice(Path(db))
    run = 0
    while True:
        run += 1
        ep = practice.start_episode(
            ACTOR, client_ref=f"client-{seed}-{run}", clinician_id=ACTOR.id, opened_on=START
        )
        say(ep, 1)
        consent = Consent(treatment=True, measures=True)
        said(practice.record_consultation(ACTOR, ep, Consultation(START, "video", consent)))
        said(practice.decide_fit(ACTOR, ep, FitDecision("proceed", START)))
        practice.agree_goals(ACTOR, ep, [GoalDraft("synthetic goal")], agreed_on=START)
        say(ep, practice.episode(ACTOR, ep).version)
        for n in range(1, 13):
            session = Session(
                START + timedelta(days=7 * n), "video", "attended", administrations(practice, n)
            )
            said(practice.record_session(ACTOR, ep, session))
        ending = Ending(
            START + timedelta(days=100), planned=False, reason="dropout", maintenance_plan=MaintenancePlan()
        )
        said(practice.close_episode(ACTOR, ep, ending))


def race(db: str, episode_id: str, n: int, retries: int, go_file: str) -> None:
    # PostgreSQL: one pool for the process, as a host has, and a clinic view of it per command (closing a
    # view leaves the pool open). Opening a pool per command would space the commands out.
    pool = get_plugin_host().stores().open(db) if "://" in db else None

    def store() -> Store | str:
        return db if pool is None else pool.for_clinic(ACTOR.clinic_id)

    with open_practice(store()) as warm:  # warm up: plugins loaded, schema checked
        warm.episode(ACTOR, episode_id)
    say("ready")
    while not Path(go_file).exists():
        time.sleep(0.001)
    for i in range(n):
        session = Session(START + timedelta(days=i + 1), "phone", "attended")
        # A Practice per command: each one reads the episode and then writes, as independent requests
        # of a host do. (A long-lived Practice first tries its last-seen state, and a conflict on that
        # guess is re-read silently, so it would hide the race this test is about.)
        practice = open_practice(store(), conflict_retries=retries)
        try:
            done = practice.record_session(ACTOR, episode_id, session)
        except ConflictError:
            say("conflict")
        else:
            say("ok", done.version, done.record_id)
        finally:
            practice.close()
    if pool is not None:
        pool.close()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "crash":
        crash(args[0], int(args[1]))
    else:
        race(args[0], args[1], int(args[2]), int(args[3]), args[4])
