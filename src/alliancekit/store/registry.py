"""Which storage backends exist, and opening one from a location string.

A location is ``scheme:rest``: ``memory:``, ``sqlite:/path/to/clinic.db``, ``postgresql://...``. A bare
path (no scheme, or a ``pathlib.Path``) means SQLite: the embedded default. An SQLite location may also be
written as a file URL, ``sqlite:///abs/path/clinic.db`` (percent-encoded, no host).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from alliancekit.errors import PluginCall, PluginError, ValidationError
from alliancekit.store.protocol import Store

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.plugins.manager import PluginHost


class StoreOpener(Protocol):
    """Opens a store at ``location`` (the whole location string, scheme included).

    With ``read_only=True`` the opener must not create, migrate or change anything: a missing, empty or
    foreign database, or one whose schema is older or newer than the code, is an error from
    :mod:`alliancekit.errors`, and every write method of the store it returns raises
    :class:`~alliancekit.errors.StoreError`.
    """

    def __call__(self, location: str, *, read_only: bool = False) -> Store: ...


class StoreRegistrar(Protocol):
    def __call__(self, scheme: str, opener: StoreOpener, /) -> None: ...


class StoreRegistry:
    """Store openers by scheme, each remembering the plugin that registered it."""

    def __init__(self) -> None:
        self._openers: dict[str, tuple[StoreOpener, str]] = {}

    def add(self, scheme: str, opener: StoreOpener, supplier: str) -> None:
        if scheme in self._openers:
            raise PluginError(
                f"store scheme {scheme!r} registered by both {self._openers[scheme][1]!r} and {supplier!r}"
            )
        self._openers[scheme] = (opener, supplier)

    def schemes(self) -> dict[str, str]:
        """Scheme -> the plugin that supplies it."""
        return {scheme: supplier for scheme, (_, supplier) in sorted(self._openers.items())}

    def open(self, location: str | os.PathLike[str], *, read_only: bool = False) -> Store:
        """The store at ``location``; ``read_only`` opens it for reading only (see :class:`StoreOpener`)."""
        scheme, _ = split_location(location)
        try:
            opener, supplier = self._openers[scheme]
        except KeyError:
            raise ValidationError("location", "unknown-store-scheme", scheme) from None
        with PluginCall(f"store opener for {scheme}", supplier):
            store = opener(os.fspath(location), read_only=bool(read_only))
        if not isinstance(store, Store):  # else the first call on it fails, blamed on nobody
            raise PluginError.wrong_answer(f"store opener for {scheme}", supplier, "a Store")
        return store


def split_location(location: str | os.PathLike[str]) -> tuple[str, str]:
    """``(scheme, rest)``; a bare path is ``("sqlite", path)``. Windows drive letters are paths."""
    text = os.fspath(location)
    if not isinstance(location, str):
        return "sqlite", text
    scheme, sep, rest = text.partition(":")
    if not sep or len(scheme) <= 1 or not scheme.isidentifier():
        return "sqlite", text
    return scheme, rest


def build_store_registry(host: PluginHost) -> StoreRegistry:
    registry = StoreRegistry()
    host.call_registration(
        "alliancekit_register_stores",
        lambda plugin: lambda scheme, opener: registry.add(scheme, opener, plugin),
    )
    return registry


def sqlite_file(location: str | os.PathLike[str]) -> Path | None:
    """The file an SQLite location names (a bare path, ``sqlite:path`` or ``sqlite:///abs/path``); ``None``
    for a location of another scheme."""
    scheme, rest = split_location(location)
    if scheme != "sqlite":
        return None
    text = os.fspath(location)
    if not text.startswith("sqlite:"):
        return Path(text)
    if rest.startswith("//"):  # a file URL: an empty (or localhost) authority, then the percent-encoded path
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise ValidationError("location", "sqlite-url", "sqlite:///absolute/path, with no host or query")
        return Path(unquote(parts.path))
    return Path(rest)
