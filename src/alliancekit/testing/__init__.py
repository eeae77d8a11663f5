"""Contract suites that plugin authors subclass in their own tests (measures, stores, notifiers, rules, FHIR).

Each is importable from here (``from alliancekit.testing import MeasureContract``) or from its module:
``StoreContract``, ``OutboxStoreContract`` and ``RequestStoreContract`` for a storage backend,
``MeasureContract`` (``alliancekit.testing.measures``) for a measure, ``NotifierContract``
(``alliancekit.testing.notifier``) for a notification channel, ``AlertRuleContract``
(``alliancekit.testing.rules``) for the rules a plugin gives the feedback engine and ``FhirHookContract``
(``alliancekit.testing.fhir``) for what a plugin adds to a FHIR export.

The store contract proves that a backend keeps alliancekit's promises.

``alliancekit.testing.store.StoreContract`` is the store contract every storage backend passes, the builtin
memory and SQLite stores included. Every suite needs pytest (and nothing else of ``alliancekit[test]``).
Subclass it in your plugin's tests::

    from alliancekit.testing import StoreContract

    class TestMyStore(StoreContract):
        def create_store(self):
            return MyStore(...)          # a store on a fresh, empty database

        @contextlib.contextmanager
        def fail_writes(self, store, point):
            ...                          # make the backend itself fail mid-commit (see the docstring)

``alliancekit.testing.concurrency`` has the multi-process writers used to prove "no lost updates" across
processes against a store that several processes can open by location.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlertRuleContract",
    "FhirHookContract",
    "MeasureContract",
    "NotifierContract",
    "OutboxStoreContract",
    "RequestStoreContract",
    "StoreContract",
]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that alliancekit.testing.concurrency works without pytest installed.
    if name == "AlertRuleContract":
        from alliancekit.testing.rules import AlertRuleContract

        return AlertRuleContract
    if name == "FhirHookContract":
        from alliancekit.testing.fhir import FhirHookContract

        return FhirHookContract
    if name == "StoreContract":
        from alliancekit.testing.store import StoreContract

        return StoreContract
    if name == "OutboxStoreContract":
        from alliancekit.testing.outbox import OutboxStoreContract

        return OutboxStoreContract
    if name == "RequestStoreContract":
        from alliancekit.testing.requests import RequestStoreContract

        return RequestStoreContract
    if name == "MeasureContract":
        from alliancekit.testing.measures import MeasureContract

        return MeasureContract
    if name == "NotifierContract":
        from alliancekit.testing.notifier import NotifierContract

        return NotifierContract
    raise AttributeError(name)
