"""The one exception hierarchy of alliancekit.

Every refusal the library makes is an :class:`AlliancekitError`. Messages name the field and the rule that was
broken and never contain a client's data: no free text, no answers, no scores. Backends translate their native
errors (``sqlite3.Error``, ``psycopg.Error``) into this hierarchy so that hosts catch one family.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self


# Documented and imported as alliancekit.i18n.N_; defined here, at the bottom of the layering, so that this
# module's own messages are marked without importing alliancekit.i18n (which raises ValidationError).
def N_(message: str) -> str:  # the conventional name extraction tools look for
    """Mark ``message`` for the catalogue where it is defined; translate it where it is shown."""
    return message


__all__ = [
    "AlliancekitError",
    "ValidationError",
    "LifecycleError",
    "ConflictError",
    "NotFoundError",
    "StoreError",
    "NotAnAlliancekitStore",
    "StoreTooNew",
    "StoreNeedsMigration",
    "StoreBusy",
    "StoreCorrupt",
    "UnreadableRecord",
    "UnreadableRow",
    "PluginError",
    "MeasureError",
    "UnknownMeasure",
    "MeasureDefinitionError",
    "PluginMeasureDefinitionError",
    "MeasureDefinitionChanged",
    "ResponseError",
    "AccessDenied",
    "MissingActor",
    "DuplicateCommand",
    "IdempotencyKeyReused",
    "PracticeClosed",
    "InvalidToken",
    "TooManyAttempts",
    "BatchClosed",
    "DecryptionError",
]


class AlliancekitError(Exception):
    """Base class of every error alliancekit raises on purpose.

    Errors pickle with their attributes (``field``, ``rule``, ...), so they cross process boundaries
    (``multiprocessing``, task queues) as themselves.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds an exception by calling its class with ``args``, which our constructors
        # (with their own parameters) do not take.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[AlliancekitError], args: tuple[Any, ...], state: dict[str, Any]) -> AlliancekitError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ValidationError(AlliancekitError, ValueError):
    """Input broke a rule.

    ``field`` is a dotted or JSON-pointer path to the offending field and ``rule`` a short name of the rule
    (``"required"``, ``"enum"``, ``"maximum"``, ...). The message is built from these two and a fixed
    description only, so it is safe to log.
    """

    def __init__(self, field: str, rule: str, detail: str = "") -> None:
        self.field = field
        self.rule = rule
        self.detail = detail
        message = f"{field}: {rule}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)


class LifecycleError(AlliancekitError):
    """A command is not allowed in the episode's current state.

    The message says, in a clinician's words, what is missing (for example "cannot record a session before
    a fit decision to proceed"). ``rule`` is a stable identifier a host can switch on.
    """

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(message)


class ConflictError(AlliancekitError):
    """Another writer changed the episode since it was read: the expected stream version is stale.

    Nothing was written. Re-read the episode and decide again (the facade retries a bounded number of times
    for commands that allow it).
    """

    def __init__(self, episode_id: str, expected: int, actual: int) -> None:
        self.episode_id = episode_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"episode {episode_id}: expected version {expected}, found {actual}")


class NotFoundError(AlliancekitError, LookupError):
    """A record (episode, goal, session, event, lockbox directive, measure, ...) does not exist.

    An alert, rupture or client request that is not open is refused the same way whether its id was never
    issued or the record has since been closed: that is a :class:`LifecycleError` (``alert-not-open``,
    ``rupture-not-open``, ``request-not-open``), not this error.

    The message names the kind of record, never the id asked for: an id from outside may be anything (a
    client's reference typed where an episode id goes, a message key built from client data). The id is
    :attr:`ident`, for the caller that gave it. ``named`` (kept as :attr:`named`) is for the published
    names of definitions (a measure's id, an event schema's type), which the message may show: not records,
    so not a failed lookup the audit log enters.
    """

    def __init__(self, kind: str, ident: str, *, named: bool = False) -> None:
        self.kind = kind
        self.ident = ident
        self.named = named
        super().__init__(f"no {kind} with id {ident}" if named else f"no {kind} with that id")


class StoreError(AlliancekitError):
    """The storage backend failed; the native error is chained as ``__cause__``.

    ``location`` is the store the error is about, set by the backend for an error raised while the store
    opens: an SQLite file's path, a URL without its password
    (:func:`alliancekit.practice.shown_location`); never client data. ``None`` where the error is not tied to
    a store's opening. A caller names the store by it (the CLI's ``--db``) instead of reading it back out of
    the message.
    """

    location: str | None = None


class NotAnAlliancekitStore(StoreError):
    """The database exists but was not created by alliancekit."""


class UnreadableRecord(StoreError):
    """A stored event or snapshot cannot be read: its row was changed outside alliancekit (or written by a
    newer one).

    ``episode_id`` and ``seq`` say which event (``seq`` is ``None`` for the episode's snapshot); ``rule``
    says what is wrong with it: ``json`` (the payload is not JSON), ``shape`` (not the event type's fields),
    ``event-type`` (no such type), ``newer-version`` (a schema version this alliancekit does not know) or
    ``upcaster`` (an old version no upcaster reads). ``alliancekit verify`` reports every damaged part of
    the record.
    """

    def __init__(self, episode_id: str, seq: int | None, rule: str) -> None:
        part = "snapshot" if seq is None else f"event {seq}"
        super().__init__(
            f"episode {episode_id}: stored {part} cannot be read ({rule}): it was changed outside "
            "alliancekit or written by a newer one; `alliancekit verify` reports every damaged part"
        )
        self.episode_id, self.seq, self.rule = episode_id, seq, rule


class UnreadableRow(StoreError):
    """A stored row other than an event or snapshot (a caseload row, an audit entry, a checkpoint, a request,
    an idempotency record, a measure definition) cannot be read: a value in it was changed outside
    alliancekit.

    ``table`` and ``key`` say which row (its key columns, never its content; ``(key not readable)`` when a
    key column was changed too); ``rule`` says what is wrong: ``value`` (a time, date, number or JSON that
    is not one) or ``type`` (a value of another type than its column's, or NULL where one is needed).
    ``clinic``: the clinic the row's clinic column names, when that is readable, else ``None``.
    ``alliancekit verify`` reports it as a finding.
    """

    def __init__(self, table: str, key: str, rule: str, *, clinic: str | None = None) -> None:
        super().__init__(
            f"{table} row {key}: cannot be read ({rule}): it was changed outside alliancekit; "
            "`alliancekit verify` reports every damaged part"
        )
        self.table, self.key, self.rule, self.clinic = table, key, rule, clinic


class StoreTooNew(StoreError):
    """The database was written by a newer alliancekit than this one; refusing to touch it."""


class StoreNeedsMigration(StoreError):
    """The database's schema is older than this alliancekit's, and it was opened read-only.

    Opening it for writing once (which migrates it) makes it readable again.
    """


class StoreBusy(StoreError):
    """The backend kept aborting the transaction (serialization failures, deadlocks) and gave up.

    The store retried a bounded number of times; nothing was written. Retrying later is safe.
    """


class StoreCorrupt(StoreError):
    """The database file is damaged: its backend finds it malformed (a copy torn mid-write, a truncated
    file, a disk fault, bytes changed outside alliancekit). Nothing more is read from it or written to it;
    restore it from a backup. ``alliancekit verify`` reports it as a failed check (exit 1).
    """


class PluginError(AlliancekitError):
    """A plugin is misconfigured, two plugins claim the same thing, or a plugin failed.

    A plugin that raised (see :meth:`~alliancekit.plugins.manager.PluginHost.call_hook` and
    :class:`PluginCall`) is named in ``plugin``, with what was called in ``hook``: the hook, or an object the
    plugin supplied (``fhir mapper for session``); its own exception, which may carry client data, is kept
    on ``plugin_exception`` for deliberate debugging, out of the message, the repr and pickles.
    """

    hook: str | None = None
    plugin: str | None = None
    plugin_exception: Exception | None = None

    def attributed(self, hook: str, plugin: str | None, exc: Exception | None = None) -> Self:
        """This error, naming ``plugin`` and what it was called in (``hook``), with the plugin's own
        exception ``exc`` when it raised one: ``raise PluginError(message).attributed(hook, plugin)``.
        The one place these are set, so that every refusal of a plugin carries them alike."""
        self.hook, self.plugin = hook, plugin
        if exc is not None:
            self.plugin_exception = exc
        return self

    @classmethod
    def raised_in(cls, hook: str, plugin: str | None, exc: Exception) -> PluginError:
        who = "an unidentified plugin" if plugin is None else f"plugin {plugin!r}"
        return cls(f"{who} failed in {hook}: {type(exc).__name__}").attributed(hook, plugin, exc)

    @classmethod
    def wrong_answer(cls, hook: str, plugin: str | None, wanted: str) -> PluginError:
        """A plugin (or an object it supplied) answered ``hook`` with something other than ``wanted``."""
        who = "an unidentified plugin" if plugin is None else f"plugin {plugin!r}"
        return cls(f"{who} returned from {hook} something other than {wanted}").attributed(hook, plugin)

    @classmethod
    def clash(cls, what: str, first: str, second: str) -> PluginError:
        """``what`` (``measure ors version 1.0``) registered by plugin ``first`` and again by ``second``."""
        by = f"twice by {first!r}" if first == second else f"by both {first!r} and {second!r}"
        return cls(f"{what} registered {by}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The plugin's exception stays in this process: it may hold client data, and may not pickle.
        state = {k: v for k, v in self.__dict__.items() if k != "plugin_exception"}
        return (_restore, (type(self), self.args, state))


class PluginCall:
    """Runs a plugin's code: ``with PluginCall("access policy decide", plugin): policy.decide(request)``.

    An :class:`AlliancekitError` passes unchanged; any other exception becomes
    :meth:`PluginError.raised_in` ``(what, plugin, exc)``, raised ``from None`` so that a logged traceback
    does not show the plugin's message. ``culprit(exc)``, when given, names the plugin after the fact
    (a hook with several implementations). Every call of a hook and of an object a plugin supplied goes
    through here, except alert rule checks: about ten run per command, so the engine spells the same rule
    out as a ``try`` (free when nothing raises) instead of a ``with`` block.
    """

    __slots__ = ("culprit", "plugin", "what")

    def __init__(
        self, what: str, plugin: str | None, culprit: Callable[[Exception], str | None] | None = None
    ) -> None:
        self.what, self.plugin, self.culprit = what, plugin, culprit

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, AlliancekitError) or not isinstance(exc, Exception):
            return  # KeyboardInterrupt and the like are not the plugin's to report
        plugin = self.culprit(exc) if self.culprit is not None else self.plugin
        raise PluginError.raised_in(self.what, plugin, exc) from None


class MeasureError(AlliancekitError):
    """Base class of measure errors."""


class UnknownMeasure(MeasureError, NotFoundError):
    """No registered measure has that id (and version). ``stored``: the store holds a definition of the
    measure (administrations used it), so its plugin is no longer installed; the message says so."""

    def __init__(self, measure_id: str, version: str | None = None, *, stored: bool = False) -> None:
        ident = measure_id if version is None else f"{measure_id} version {version}"
        NotFoundError.__init__(self, "measure", ident, named=True)  # a published definition's name
        self.stored = stored
        if stored:
            plugin = "the plugin that supplies it is not installed"
            self.args = (f"{self.args[0]} (the store holds a definition of {measure_id}: {plugin})",)


class MeasureDefinitionError(MeasureError, ValidationError):
    """A measure definition fails the meta-schema or a consistency rule; ``field`` is its JSON path.

    Not every one comes from a plugin (a file given to ``alliancekit measures check``, a stored definition
    altered outside alliancekit), so this class is not a :class:`PluginError`. Raised while a plugin
    registers the definition, it is a :class:`PluginMeasureDefinitionError`, which is both.
    """

    plugin: str | None = None

    def registered_by(self, plugin: str) -> PluginMeasureDefinitionError:
        """This refusal as met registering ``plugin``'s definition: the same field and rule, the message
        naming the plugin and saying how to find every mistake in the definition."""
        error = PluginMeasureDefinitionError(self.field, self.rule, self.detail)
        error.attributed("alliancekit_register_measures", plugin)
        error.args = (
            (
                f"plugin {plugin!r} registered an invalid measure definition: {self}; fix the definition "
                "(`alliancekit measures check FILE` checks one) or leave the plugin out (ALLIANCEKIT_PLUGINS)"
            ),
        )
        return error


class PluginMeasureDefinitionError(MeasureDefinitionError, PluginError):
    """A plugin registered a measure definition that fails the meta-schema or a consistency rule.

    Both a :class:`MeasureDefinitionError` (``field`` is the JSON path, ``rule`` the rule) and a
    :class:`PluginError` (``plugin`` names the plugin, ``hook`` is ``alliancekit_register_measures``), so a
    host that catches either family of a broken plugin catches it.
    """


class MeasureDefinitionChanged(MeasureDefinitionError):
    """A measure's definition differs from the one stored under the same id and version: a plugin changed a
    published definition without a new version. Nothing was written."""

    def __init__(self, measure_id: str, version: str) -> None:
        self.measure_id = measure_id
        self.version = version
        MeasureDefinitionError.__init__(
            self,
            "$.version",
            "changed",
            f"measure {measure_id} version {version} is stored with other content: give the changed "
            "definition a new version",
        )


class ResponseError(MeasureError, ValidationError):
    """A measure response fails its schema; ``field`` is the JSON path, the value is never echoed."""


class AccessDenied(AlliancekitError, PermissionError):
    """The access policy refused the actor this action."""

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"{action}: {reason}")


class MissingActor(AccessDenied, ValidationError):
    """A call was made without an :class:`~alliancekit.domain.Actor`: refused, and audited, before anything
    is read. Both a refusal (``action``, ``reason``) and invalid input (``field`` ``"actor"``, ``rule``
    ``"required"``)."""

    def __init__(self, action: str) -> None:
        ValidationError.__init__(self, "actor", "required", "every call is made by an Actor")
        self.action = action
        self.reason = "every call is made by an Actor"


class DuplicateCommand(AlliancekitError):
    """A command with this idempotency key was already applied; nothing was written this time."""

    def __init__(self, idempotency_key: str) -> None:
        self.idempotency_key = idempotency_key
        super().__init__("a command with this idempotency key was already applied")


class IdempotencyKeyReused(ValidationError):
    """An idempotency key was used again with a different request (another episode, other values).

    Keys are scoped to the clinic and the command, and bound to a hash of the request they first came with:
    a repeat of the same request returns the first result, anything else is refused and writes nothing.
    """

    def __init__(self, command: str) -> None:
        super().__init__("idempotency_key", "reused", f"the key was first used for a different {command}")
        self.command = command


class PracticeClosed(AlliancekitError):
    """The Practice was closed; open a new one."""

    def __init__(self) -> None:
        super().__init__("this Practice is closed")


class InvalidToken(AlliancekitError):
    """An administration link or token that cannot be used: forged, expired, revoked or already used.

    One error and one message for all four, so that whoever holds a token learns nothing about which.
    """

    MESSAGE = N_("This link cannot be used. Ask your clinic for a new one.")

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class TooManyAttempts(AlliancekitError):
    """Too many wrong kiosk codes from one source: wait before trying again."""

    MESSAGE = N_("Too many attempts. Please wait a few minutes and try again, or ask at the desk.")

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class BatchClosed(AlliancekitError):
    """A command was given to a batch whose block has ended; open a new one with ``Practice.batch()``."""

    def __init__(self) -> None:
        super().__init__("this batch is closed")


class DecryptionError(AlliancekitError):
    """A ciphertext did not decrypt: it was altered, moved to another record or field, or the key is wrong.

    The message names the event (or audit entry) and field path, never the text. Also importable from
    :mod:`alliancekit.security.encryption`, where it was defined before.
    """
