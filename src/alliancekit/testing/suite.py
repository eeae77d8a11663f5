"""What the contract suites of :mod:`alliancekit.testing` share, written once.

:class:`ContractSuite` makes pytest collect a contract's subclasses and not the contract itself;
:func:`builtin_plugins` is the one plugin host the suites' practices share, so its registries are built once.
"""

from __future__ import annotations

import threading
from typing import Any

from alliancekit.plugins.manager import PluginHost, make_plugin_host

__all__ = ["ContractSuite", "builtin_plugins"]


class ContractSuite:
    """The base of a contract suite. A contract sets ``__test__ = False`` in its own body, so it is not
    collected on its own; every subclass of it is, unless the subclass sets ``__test__`` itself (an
    intermediate abstract one sets it to ``False``)."""

    __test__ = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = True


_host: PluginHost | None = None
_host_lock = threading.Lock()


def builtin_plugins() -> PluginHost:
    """One host with the builtin plugins for every practice the suites make (registries built once)."""
    global _host
    with _host_lock:
        if _host is None:
            _host = make_plugin_host(load_entry_points=False)
        return _host
