"""Text PostgreSQL cannot hold (NUL, lone surrogates) is refused the same way as on SQLite.

Through the facade both stores must raise the same error of the hierarchy (the core refuses such text before
any store sees it) and write nothing; the store itself, handed such text directly, raises a
:class:`~alliancekit.errors.ValidationError` too (see ``test_postgres_chain``), never a driver error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from alliancekit_postgres import PostgresStore

from alliancekit import Practice, open_practice
from alliancekit.domain import Actor, Attendance, Modality, Role, Session
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.protocol import Store
from alliancekit.testing.concurrency import active_episode

CLINIC = "clinic-a"
ACTOR = Actor("clin-1", Role.CLINICIAN, CLINIC)


def _refusal(store: Store, text: str) -> tuple[type[BaseException], str, str]:
    """Record a session whose free text is ``text``; what was raised, and check that nothing was written."""
    practice = Practice(store, plugins=make_plugin_host(load_entry_points=False))
    ep = active_episode(practice, ACTOR)
    events = len(store.load_events(ep))
    audit = [r for r in store.audit_records() if r.outcome == "allowed"]
    with pytest.raises(AlliancekitError) as caught:
        # The core may refuse the text when the record is built or when the command runs: either way before
        # the store, alike on both.
        practice.record_session(
            ACTOR,
            ep,
            Session(
                held_on=date(2026, 1, 9),
                modality=Modality.VIDEO,
                attendance=Attendance.ATTENDED,
                helpful=text,
            ),
        )
    assert len(store.load_events(ep)) == events
    assert [r for r in store.audit_records() if r.outcome == "allowed"] == audit
    assert text not in str(caught.value)
    error = caught.value
    assert isinstance(error, ValidationError)
    return type(error), error.field, error.rule


@pytest.mark.parametrize("text", ["before\x00after", "lone \udc80 surrogate", "\ud800"])
def test_unstorable_text_is_refused_alike_on_sqlite_and_postgres(pg, tmp_path, text: str) -> None:  # type: ignore[no-untyped-def]
    opened: list[Callable[[], None]] = []
    sqlite = open_practice(str(tmp_path / "record.db"), plugins=make_plugin_host(load_entry_points=False))
    opened.append(sqlite.close)
    postgres = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=2)
    opened.append(postgres.close)
    try:
        assert _refusal(sqlite.store, text) == _refusal(postgres, text)
    finally:
        for close in opened:
            close()
