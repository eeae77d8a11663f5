"""Close a Practice while another thread is inside an SQLite statement of one of its calls (a script: a
close that frees the connection under the statement crashes the interpreter, which a test process could not
report).

Usage: ``close_under_reader.py DB``. Prints the reader's timeline length and ``closed`` and exits 0 when the
close waited for the statement.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from datetime import date
from pathlib import Path
from types import FrameType

from alliancekit import Actor, Consent, Consultation, Role, open_practice
from alliancekit.store.sqlite import SQLiteStore

ME = Actor("clin-1", Role.CLINICIAN, clinic_id="north")


def _closing(thread: threading.Thread) -> bool:
    """Whether ``thread`` is inside ``SQLiteStore.close`` now (closing, or waiting to)."""
    frame: FrameType | None = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code is SQLiteStore.close.__code__:
            return True
        frame = frame.f_back
    return False


def main(db: Path) -> None:
    practice = open_practice(db)
    ep = practice.start_episode(ME, client_ref="host-1", clinician_id="clin-1", opened_on=date(2026, 1, 5))
    practice.record_consultation(ME, ep, Consultation(date(2026, 1, 5), "phone", Consent(True, True)))
    in_statement, go_on = threading.Event(), threading.Event()
    seen: list[object] = []

    def reader() -> None:
        connection: sqlite3.Connection = practice.store._connect()  # type: ignore[attr-defined]
        steps = 0

        def pause_in_first_statement() -> int:  # SQLite calls it from inside a running statement
            nonlocal steps
            steps += 1
            if steps == 1:
                in_statement.set()
                go_on.wait()
            return 0

        connection.set_progress_handler(pause_in_first_statement, 1)
        try:
            seen.append(len(practice.timeline(ME, ep)))
        except BaseException as exc:  # noqa: BLE001 - printed for the test
            seen.append(repr(exc))

    reading = threading.Thread(target=reader)
    reading.start()
    in_statement.wait()
    closing = threading.Thread(target=practice.close)
    closing.start()
    while not _closing(closing) and closing.is_alive():  # the close has begun while the statement runs
        time.sleep(0.001)
    go_on.set()
    reading.join()
    closing.join()
    print(*seen, "closed" if practice.closed else "open")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
