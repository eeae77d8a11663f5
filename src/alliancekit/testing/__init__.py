"""Contract suites that plugin authors subclass in their own tests (measures, stores, notifiers).

The store contract proves that a backend keeps alliancekit's promises.

``alliancekit.testing.store.StoreContract`` is the store contract every storage backend passes, the builtin
memory and SQLite stores included. It needs pytest (``pip install alliancekit[test]``). Subclass it in your
plugin's tests::

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

__all__ = ["StoreContract"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that alliancekit.testing.concurrency works without pytest installed.
    if name == "StoreContract":
        from alliancekit.testing.store import StoreContract

        return StoreContract
    raise AttributeError(name)
