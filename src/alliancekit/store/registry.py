"""Which storage backends exist, and opening one from a location string.

A location is ``scheme:rest``: ``memory:``, ``sqlite:/path/to/clinic.db``, ``postgresql://...``. A bare
path (no scheme, or a ``pathlib.Path``) means SQLite: the embedded default. An SQLite location may also be
written as a file URL, ``sqlite:///abs/path/clinic.db`` (percent-encoded, no host).
"""

from __future__ import annotations

import contextlib
import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from alliancekit._callables import refuses
from alliancekit.errors import PluginCall, PluginError, StoreNeedsMigration, ValidationError
from alliancekit.store.protocol import Store

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.plugins.manager import PluginHost


class StoreOpener(Protocol):
    """Opens a store at ``location`` (the whole location string, scheme included).

    With ``read_only=True`` the opener must not create, migrate or change anything: a missing, empty or
    foreign database, or one whose schema is older or newer than the code, is an error from
    :mod:`alliancekit.errors`, and every write method of the store it returns raises
    :class:`~alliancekit.errors.StoreError`.

    An opener may also take ``create``: with ``create=False`` it opens an existing store for writing but
    never creates one (a missing, empty or foreign database is
    :class:`~alliancekit.errors.NotAnAlliancekitStore`, as read-only), in one opening. An opener without it
    is opened read-only first, then again for writing (which migrates a store the read-only open found too
    old to read as it stands: :class:`~alliancekit.errors.StoreNeedsMigration` means it exists and is ours).
    """

    def __call__(self, location: str, *, read_only: bool = False) -> Store: ...


class StoreRegistrar(Protocol):
    def __call__(self, scheme: str, opener: StoreOpener, /) -> None: ...


class StoreRegistry:
    """Store openers by scheme, each remembering the plugin that registered it."""

    def __init__(self) -> None:
        self._openers: dict[str, tuple[StoreOpener, str]] = {}

    def add(self, scheme: str, opener: StoreOpener, supplier: str) -> None:
        given: object = scheme  # a plugin's argument: checked
        if not isinstance(given, str) or split_location(f"{given}:x") != (given, "x"):
            # else every location naming it is read as a bare SQLite path: the practice is opened (and
            # created) as a local file named after the location, without a word
            named = repr(given) if isinstance(given, str) and len(given) <= 64 else "of another shape"
            raise PluginError(
                f"plugin {supplier!r} registered a store scheme no location can name ({named}): a scheme is "
                "an identifier of two or more characters (letters, digits and underscores, not beginning "
                "with a digit); a location naming any other is read as an SQLite file path"
            )
        if scheme in self._openers:
            raise PluginError.clash(f"store scheme {scheme!r}", self._openers[scheme][1], supplier)
        wrong = _opener_problem(opener)
        if wrong is not None:  # else every open fails as a bare TypeError from inside the opener's call
            raise PluginError(f"plugin {supplier!r} registered a store opener for {scheme} {wrong}")
        self._openers[scheme] = (opener, supplier)

    def schemes(self) -> dict[str, str]:
        """Scheme -> the plugin that supplies it."""
        return {scheme: supplier for scheme, (_, supplier) in sorted(self._openers.items())}

    def open(
        self, location: str | os.PathLike[str], *, read_only: bool = False, create: bool = True
    ) -> Store:
        """The store at ``location``; ``read_only`` opens it for reading only, ``create=False`` for writing
        but never creating it (see :class:`StoreOpener`)."""
        scheme, _ = split_location(location)
        try:
            opener, supplier = self._openers[scheme]
        except KeyError:
            raise ValidationError("location", "unknown-store-scheme", scheme) from None
        text = os.fspath(location)
        with PluginCall(f"store opener for {scheme}", supplier):
            if create or read_only:
                store = opener(text, read_only=bool(read_only))
            elif _takes_create(opener):
                store = opener(text, read_only=False, create=False)  # type: ignore[call-arg]
            else:  # judged read-only (which never creates), then opened again to write
                # a store too old to read as it stands is still ours: opening it to write migrates it
                with contextlib.suppress(StoreNeedsMigration):
                    _checked(opener(text, read_only=True), scheme, supplier).close()
                store = opener(text, read_only=False)
        return _checked(store, scheme, supplier)


def _checked(store: object, scheme: str, supplier: str) -> Store:
    if not isinstance(store, Store):  # else the first call on it fails, blamed on nobody
        raise PluginError.wrong_answer(f"store opener for {scheme}", supplier, "a Store")
    return store


def _opener_problem(opener: object) -> str | None:
    """What keeps ``opener`` from being called as ``opener(location, read_only=...)``, or ``None``."""
    if not callable(opener):
        return "that is not callable: opener(location, *, read_only=False) returns the Store"
    if refuses(opener, "location", read_only=False):
        return "that cannot be called as opener(location, *, read_only=False)"
    return None


def _takes_create(opener: StoreOpener) -> bool:
    """Whether ``opener`` takes the ``create`` keyword (a PostgreSQL store opens one pool, not two)."""
    try:
        parameters = inspect.signature(opener).parameters
    except (TypeError, ValueError):  # a callable whose signature Python cannot tell
        return False
    return "create" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def split_location(location: str | os.PathLike[str]) -> tuple[str, str]:
    """``(scheme, rest)``; a bare path is ``("sqlite", path)``. Windows drive letters are paths."""
    text = os.fspath(location)
    if not isinstance(location, str):
        return "sqlite", text
    scheme, sep, rest = text.partition(":")
    if not sep or len(scheme) <= 1 or not scheme.isidentifier():
        return "sqlite", text
    return scheme, rest


#: Query parameters of a store URL that may hold a secret: never shown.
SECRET_PARAMETERS = ("password=", "sslpassword=", "sslkey=")


def shown_location(location: str | os.PathLike[str]) -> str:
    """A location as a message may show it: a URL without its password (in the user part or the query); a
    path as it is."""
    text = os.fspath(location)
    if "://" not in text:
        return text
    # By hand, not urlsplit/urlunsplit: they drop an empty authority (postgresql:///db?host=/socket would be
    # shown as postgresql:/db, a location libpq refuses) and raise on a malformed [IPv6] host.
    scheme, _, rest = text.partition("://")
    before_query, mark, query = rest.partition("?")
    authority, slash, path = before_query.partition("/")
    user, at, host = authority.rpartition("@")
    query = "&".join(p for p in query.split("&") if not p.lower().startswith(SECRET_PARAMETERS))
    return f"{scheme}://{user.partition(':')[0]}{at}{host}{slash}{path}" + (mark + query if query else "")


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
