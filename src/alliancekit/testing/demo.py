"""The demo practice the rule and FHIR contracts run a plugin against, made once per test session.

A contract needs realistic episodes (sessions with falling and rising scores, no-shows, ruptures, risk items,
couples and groups, free text): the demo simulation (:func:`alliancekit.demo.simulate_practice`) makes them
through the public facade, with fixed ids and dates, in about two seconds. It is made once per process in
pytest's temporary directory and reopened by each contract with the plugin under test.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import ClassVar

import pytest

from alliancekit.demo.simulate import CLINIC, MIN_CLIENTS, simulate_practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.plugins.manager import PluginHost, make_plugin_host
from alliancekit.testing.suite import ContractSuite

__all__ = ["DEMO_ACTOR", "DEMO_FREE_TEXT_MARK", "demo_practice_path"]

#: Who reads the demo in a contract: a supervisor of the demo's clinic, for treatment.
DEMO_ACTOR = Actor("contract-supervisor", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)
#: Every piece of free text the demo writes (goal wording, notes, plans) holds this word.
DEMO_FREE_TEXT_MARK = "synthetic"
#: The demo's today: fixed, so that every run sees the same records.
DEMO_TODAY = date(2026, 6, 1)

_made: dict[str, Path] = {}
_lock = threading.Lock()


def demo_practice_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite file of the demo practice (the smallest demo with every course), made on first use."""
    with _lock:
        key = str(tmp_path_factory.getbasetemp())
        found = _made.get(key)
        if found is None:
            found = tmp_path_factory.mktemp("contract-demo") / "demo.sqlite"
            simulate_practice(found, clients=MIN_CLIENTS, seed=7, today=DEMO_TODAY)
            _made[key] = found
        return found


class PluginContract(ContractSuite):
    """The base of a contract run against the demo with one plugin: the subclass sets ``plugin``."""

    __test__ = False

    #: the plugin (module or object) under test; ``None`` means the builtin plugins alone
    plugin: ClassVar[object | None] = None

    @classmethod
    def plugin_host(cls) -> PluginHost:
        """A new host with the builtin plugins and ``plugin`` (no entry points: only what is under test)."""
        extra = () if cls.plugin is None else (cls.plugin,)
        return make_plugin_host(load_entry_points=False, extra_plugins=extra)

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls) -> PluginHost:
        return cls.plugin_host()
