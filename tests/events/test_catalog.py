"""The event catalog: every event type declared once, and the lockbox, the FHIR export and the outbox all
deriving what they do from it."""

from __future__ import annotations

from alliancekit.events import catalog
from alliancekit.events.types import EVENT_TYPES
from alliancekit.fhir.records import ASSEMBLERS
from alliancekit.notify.outbox import ALL_KINDS
from alliancekit.security import lockbox


def test_every_event_type_is_declared() -> None:
    assert catalog.undeclared() == set()
    assert set(catalog.CATALOG) == set(EVENT_TYPES)


def test_the_export_maps_exactly_the_declared_exported_types() -> None:
    assert set(ASSEMBLERS) == set(catalog.EXPORTED)


def test_never_shared_types_are_in_no_lockbox_class_and_never_exported() -> None:
    for name in catalog.NEVER_SHARED:
        assert catalog.kind(name).lockbox_class is None
        assert name not in catalog.EXPORTED
    assert {"process-note-recorded", "lockbox-set", "lockbox-lifted"} <= catalog.NEVER_SHARED


def test_the_lockbox_classes_are_the_catalogs() -> None:
    assert lockbox.CLASSES is catalog.LOCKBOX_CLASSES
    shared = {k.type for k in catalog.CATALOG.values() if k.sharing is catalog.Sharing.CLASSED}
    assert set().union(*lockbox.CLASSES.values()) == shared


def test_alerts_are_withheld_with_the_sessions_they_come_from() -> None:
    for name in ("alert-raised", "alert-acknowledged", "alert-resolved"):
        assert catalog.kind(name).lockbox_class == "sessions"


def test_every_notifying_type_makes_a_known_kind() -> None:
    class Anything:
        class session:
            attendance = None

    kinds = {notifies(Anything()) for notifies in catalog.NOTIFYING.values()} - {None}
    assert kinds <= set(ALL_KINDS)
