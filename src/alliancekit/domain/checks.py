"""The one set of input checks: every domain record at construction and every facade argument.

Each check refuses with a :class:`~alliancekit.errors.ValidationError` whose message names the field and the
rule broken, and never the value (which may be a client's words). The rules, shared by every check:

``type``
    The wrong kind of value (``bool`` is not a whole number; a ``datetime`` is not a date; a ``set`` is not
    a list: its order changes from one process to the next; a ``str`` subclass is text, and is returned as a
    plain ``str``).
``unicode``
    Text holding a lone surrogate (``"\\ud800"``): it cannot be encoded as UTF-8, so no store can keep it.
``control-character``
    NUL anywhere (SQLite keeps it, PostgreSQL refuses it: refused here so every store behaves the same), any
    control or format character (Unicode Cc, Cf: tab, newline, zero-width space, bidi overrides) in an id,
    and in free text any C0 control but tab, line feed and carriage return (which FHIR strings and XML
    cannot carry).
``whitespace``, ``unicode-nfc``
    An id with whitespace at its start or end, or not in Unicode NFC: ``"c1 "`` and an NFD spelling would
    name a second client. ``required`` is an empty or whitespace-only id. Free text is exempt from these.
``reference``
    An id longer than :data:`MAX_ID` or holding other non-printable characters (a no-break space inside).
``timezone-aware``
    A ``datetime`` without a time zone (naive): which instant it names depends on the machine it runs on.
``utc-offset``
    A ``datetime`` whose UTC offset is not whole minutes or is beyond 14 hours (a local mean time such as
    ``+11:39:04``): ISO 8601 and FHIR cannot write it, and an export would carry an invalid ``dateTime``.
``time-zone``
    A time zone that is not an IANA name known to :mod:`zoneinfo` (``"Pacific/Auckland"``).
``encrypted-prefix``
    Text or an id beginning with ``ak:enc:v1:``, the mark of a field encrypted at rest: the event hash reads
    every string so marked as a ciphertext (so that key rotation keeps the hash), so a plain value so marked
    could be changed in the database without breaking the chain, and it would read back as encrypted.
``required``, ``max-length``, ``max-items``, ``range``, ``enum``
    Blank where text is required; too long; too many items; a number or date outside its bounds; a value
    outside a closed vocabulary.

``@record`` is ``attrs.frozen`` plus a field transformer that gives every field of a domain record the check
of its annotation (and, for enums, a converter accepting the enum's string value), so an invalid record
cannot exist. Records must use real (not string) annotations for this to work. String fields are free text
unless declared with :func:`ref` (an id).

What a field accepts (``"video"`` as well as ``Modality.VIDEO``, a list where a tuple is kept) is declared by
the typed converter it names (:mod:`alliancekit.domain.inputs`): mypy's attrs plugin types the ``__init__``
parameter by it, and the transformer gives the generated ``__init__`` the same annotation (so ``help()``
shows it), while the check that runs is still the one derived from the annotation, naming the field.
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
import types
import typing
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from alliancekit.domain.frozen_map import FrozenMap
from alliancekit.errors import ValidationError

__all__ = [
    "MAX_ANSWER",
    "MAX_ID",
    "MAX_INT",
    "MAX_ITEMS",
    "MAX_TEXT",
    "MIN_DATE",
    "FREE_TEXT",
    "MAX_DATE",
    "MAX_UTC_OFFSET",
    "MIN_INT",
    "NO_CLINIC",
    "check_bool",
    "check_bytes",
    "check_choice",
    "check_clinic",
    "check_aware_datetime",
    "check_date",
    "check_instance",
    "check_int",
    "check_number",
    "check_optional_bytes",
    "check_optional_choice",
    "check_optional_date",
    "check_optional_instance",
    "check_optional_int",
    "check_optional_ref",
    "check_optional_text",
    "check_ref",
    "check_refs",
    "check_sequence_of",
    "check_text",
    "check_time_zone",
    "clinic_ref",
    "is_free_text",
    "record",
    "ref",
    "text",
    "texts",
]

#: Bounds on free text and lists in a record: generous for clinical writing, small enough to stop abuse.
MAX_TEXT = 20_000
MAX_ITEMS = 200
MAX_ID = 200
#: Whole numbers fit a signed 32-bit column on every store.
MIN_INT = -(2**31)
MAX_INT = 2**31 - 1
#: A measure answer's magnitude (far beyond any scale; keeps float conversion and arithmetic safe).
MAX_ANSWER = 1e9
#: Dates a clinical record can hold: wide, but away from ``date.min``/``date.max``, where date arithmetic
#: (due dates, day counts) would overflow.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)
#: The widest UTC offset a time may carry: the bound of ISO 8601 as FHIR writes it (``+14:00``).
MAX_UTC_OFFSET = timedelta(hours=14)

T = TypeVar("T")
E = TypeVar("E", bound=Enum)

#: What free text may not hold: NUL, the C0 controls but tab, line feed and carriage return, lone surrogates.
_TEXT_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: The mark of a ciphertext (``alliancekit.security.encryption.PREFIX``, which this module must not import):
#: no plain value may begin with it (rule ``encrypted-prefix``, see the module docstring).
ENCRYPTED_PREFIX = "ak:enc:v1:"
#: Why a set is refused where a list is taken: the order a set's items come in changes with the process's
#: string hash seed, so what is stored, and a keyed command's request hash, would differ between processes.
_UNORDERED = "a list expected (a set's order changes from one process to the next)"


# ------------------------------------------------------------------------------------------------ values


def _plain(field: str, value: object) -> str:
    """``value`` as a plain ``str``; anything but text is refused by its type.

    ``str.__str__`` copies a subclass's characters into a plain str, so an overridden ``__len__``,
    ``encode`` or ``__eq__`` of a subclass can neither get past the checks nor reach a store.
    """
    if type(value) is str:  # already plain (the common case: every record's ids and texts)
        return value
    if not isinstance(value, str):
        raise ValidationError(field, "type", "text expected")
    return str.__str__(value)


def _refuse_characters(field: str, found: str) -> typing.NoReturn:
    if "\ud800" <= found <= "\udfff":
        raise ValidationError(field, "unicode", "text with a lone surrogate cannot be stored")
    raise ValidationError(field, "control-character", "no NUL or control characters but tab and newline")


def check_text(field: str, value: object, *, required: bool = False, max_len: int = MAX_TEXT) -> str:
    """Free text of at most ``max_len`` characters (never echoed in the error); returns it as a plain str.

    Line breaks and tabs are allowed; NUL, other C0 controls and lone surrogates are not. ``required``
    refuses blank text.
    """
    plain = _plain(field, value)
    if len(plain) > max_len:
        raise ValidationError(field, "max-length", f"at most {max_len} characters")
    if (bad := _TEXT_REFUSED.search(plain)) is not None:
        _refuse_characters(field, bad.group())
    if plain.startswith(ENCRYPTED_PREFIX):
        raise _encrypted_prefix(field)
    if required and not plain.strip():
        raise ValidationError(field, "required")
    return plain


def check_ref(field: str, value: object) -> str:
    """An id or reference: printable NFC text of 1 to :data:`MAX_ID` characters, no space at either end.

    Two spellings of one name (NFD ``"e\\u0301"`` and NFC ``"\\u00e9"``, ``"c1"`` and ``"c1 "``) would be
    two clients, and an invisible character (a bidi override) makes an id look like another: all refused,
    on writes and on lookups alike, rather than silently normalised or missed. Returns the id.
    """
    plain = value if type(value) is str else _plain(field, value)  # a call saved: records hold many ids
    if (
        0 < len(plain) <= MAX_ID
        and plain.isprintable()  # Cc, Cf, Zs but the space, Zl, Zp, unassigned: refused
        and plain[0] != " "
        and plain[-1] != " "
        and (plain.isascii() or unicodedata.is_normalized("NFC", plain))
        and not plain.startswith(ENCRYPTED_PREFIX)
    ):
        return plain
    raise _id_error(field, plain)


def _encrypted_prefix(field: str) -> ValidationError:
    return ValidationError(field, "encrypted-prefix", f"no text or id beginning with {ENCRYPTED_PREFIX}")


#: The clinic an audit entry of a call made without an actor is filed under, and whose audit chains hold such
#: entries (``Guard.require_actor``): every clinic's auditor sees them. Reserved, so that no clinic's id can
#: be it: that clinic's entries and chains would be taken for those calls' (and shown to every clinic).
NO_CLINIC = "(none)"


def check_clinic(field: str, value: object) -> str:
    """A clinic's id: an id as :func:`check_ref` takes one, other than the reserved :data:`NO_CLINIC`."""
    plain = check_ref(field, value)
    if plain == NO_CLINIC:
        raise ValidationError(field, "reserved", "a clinic id other than the reserved (none)")
    return plain


def _id_error(field: str, plain: str) -> ValidationError:
    """Why ``plain`` is not an id: the first rule it breaks, in the order the docstring lists them."""
    if _SURROGATE.search(plain):
        return ValidationError(field, "unicode", "text with a lone surrogate cannot be stored")
    if len(plain) > MAX_ID:
        return ValidationError(field, "reference", f"a non-empty printable id of at most {MAX_ID} characters")
    if not plain.strip():
        return ValidationError(field, "required", "a non-blank id")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in plain):
        return ValidationError(field, "control-character", "no control or format characters in an id")
    if plain != plain.strip():
        return ValidationError(field, "whitespace", "no space at the start or end of an id")
    if not unicodedata.is_normalized("NFC", plain):
        return ValidationError(field, "unicode-nfc", "an id in Unicode normalization form NFC")
    if plain.startswith(ENCRYPTED_PREFIX):
        return _encrypted_prefix(field)
    return ValidationError(field, "reference", f"a non-empty printable id of at most {MAX_ID} characters")


def check_bool(field: str, value: object) -> bool:
    """``True`` or ``False`` (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise ValidationError(field, "type", "true or false expected")
    return value


def check_int(field: str, value: object, *, lo: int = MIN_INT, hi: int = MAX_INT) -> int:
    """A whole number from ``lo`` to ``hi`` inclusive (``bool`` refused); returns it as a plain int.

    Use ``lo=0`` for counts. Never an ``OverflowError``: a huge number is refused by its range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "type", "whole number expected")
    plain = int.__index__(value)
    if not lo <= plain <= hi:
        raise ValidationError(field, "range", f"from {lo} to {hi}")
    return plain


def check_number(
    field: str, value: object, *, lo: float = -MAX_ANSWER, hi: float = MAX_ANSWER
) -> float | int:
    """A finite number (int or float, not ``bool``) from ``lo`` to ``hi`` inclusive; returns it."""
    if (type(value) is float or type(value) is int) and lo <= value <= hi:
        return value  # plain and in range (NaN and the infinities fail the finite bounds: checked below)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, "type", "number expected")
    if isinstance(value, float):
        plain: float | int = float.__float__(value)
        if not math.isfinite(plain):
            raise ValidationError(field, "range", "a finite number")
    else:
        plain = int.__index__(value)
    if not lo <= plain <= hi:  # int against float compares exactly, without converting (no overflow)
        raise ValidationError(field, "range", f"from {lo:g} to {hi:g}")
    return plain


def check_bytes(field: str, value: object, *, min_len: int = 0, max_len: int = 1_000_000) -> bytes:
    """``bytes``, ``bytearray`` or ``memoryview`` of ``min_len`` to ``max_len`` bytes; returns bytes."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValidationError(field, "type", "bytes expected")
    plain = bytes(value)
    if len(plain) < min_len:
        raise ValidationError(field, "min-length", f"at least {min_len} bytes")
    if len(plain) > max_len:
        raise ValidationError(field, "max-length", f"at most {max_len} bytes")
    return plain


def check_date(field: str, value: object) -> date:
    """A calendar date from :data:`MIN_DATE` to :data:`MAX_DATE`. A string or a datetime would fail deep
    inside, or be written into the stream."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationError(field, "type", "date expected")
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValidationError(field, "range", f"from {MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}")
    return date(value.year, value.month, value.day)


def check_aware_datetime(field: str, value: object) -> datetime:
    """A timezone-aware ``datetime`` on a date from :data:`MIN_DATE` to :data:`MAX_DATE`, its UTC offset
    whole minutes of at most 14 hours: a naive one names a different instant on every machine."""
    if not isinstance(value, datetime):
        raise ValidationError(field, "type", "datetime expected")
    offset = None if value.tzinfo is None else value.utcoffset()
    if offset is None:
        raise ValidationError(field, "timezone-aware", "a datetime with a time zone (tzinfo) expected")
    if offset % timedelta(minutes=1) or abs(offset) > MAX_UTC_OFFSET:
        raise ValidationError(field, "utc-offset", "a UTC offset of whole minutes, at most 14 hours")
    # Its dates in the bounds of a clinical date, in its own zone and so (offsets being at most 14 hours)
    # in any other: converting it to UTC or a clinic's zone cannot overflow near year 1 or 9999.
    if not MIN_DATE <= value.date() <= MAX_DATE:
        raise ValidationError(field, "range", f"from {MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}")
    return value


def check_time_zone(field: str, value: object) -> ZoneInfo:
    """An IANA time zone, given by name (``"America/Los_Angeles"``) or as a :class:`zoneinfo.ZoneInfo`."""
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, "type", "an IANA time zone name expected")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(field, "time-zone", "an IANA time zone name known to zoneinfo") from None


def check_choice(field: str, value: object, enum: type[E]) -> E:
    """A member of ``enum``, given as the member or its value (``"video"`` for ``Modality.VIDEO``)."""
    if isinstance(value, enum):
        return value
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(field, "type", f"one of {_choices(enum)}")
    found: E | None = enum._value2member_map_.get(value)  # type: ignore[assignment]  # as enum(value) does
    if found is not None:
        return found
    try:
        return enum(value)
    except (ValueError, TypeError):
        raise ValidationError(field, "enum", f"one of {_choices(enum)}") from None


def _choices(enum: type[Enum]) -> str:
    return ", ".join(str(m.value) for m in enum)


def check_instance(field: str, value: object, cls: type[T]) -> T:
    """An instance of ``cls`` (a record, a checkpoint, ...): anything else is refused by its type."""
    if not isinstance(value, cls):
        raise ValidationError(field, "type", f"{cls.__name__} expected")
    return value


def check_sequence_of(
    field: str,
    values: object,
    cls: type[T],
    max_len: int = MAX_ITEMS,
    *,
    each: Callable[[str, object], T] | None = None,
) -> tuple[T, ...]:
    """A list (any iterable but text, bytes and mappings) of at most ``max_len`` items of type ``cls``.

    ``each`` checks every item instead of ``isinstance`` (``check_sequence_of(f, v, str, each=check_ref)``);
    text items are checked with :func:`check_text` when ``each`` is not given. Items are named ``field[i]``.
    Returns the items as a tuple. At most ``max_len + 1`` items are ever read, so an endless iterator is
    refused, not followed.
    """
    if isinstance(values, str | bytes | bytearray | memoryview | Mapping) or not isinstance(values, Iterable):
        raise ValidationError(field, "type", "a list expected")
    if isinstance(values, set | frozenset):
        raise ValidationError(field, "type", _UNORDERED)
    items = tuple(itertools.islice(values, max_len + 1))
    if len(items) > max_len:
        raise ValidationError(field, "max-items", f"at most {max_len}")
    if each is None and cls is str:  # text is stored: an isinstance check would let NUL and surrogates in
        each = check_text  # type: ignore[assignment]
    if each is not None:
        return tuple(each(f"{field}[{i}]", item) for i, item in enumerate(items))
    for i, item in enumerate(items):
        check_instance(f"{field}[{i}]", item, cls)
    return items


def check_refs(field: str, values: object, max_len: int = MAX_ITEMS) -> tuple[str, ...]:
    """A list of at most ``max_len`` ids (see :func:`check_ref`)."""
    return check_sequence_of(field, values, str, max_len, each=check_ref)


# -- optional variants: None passes, anything else is checked --


def check_optional_text(
    field: str, value: object, *, required: bool = False, max_len: int = MAX_TEXT
) -> str | None:
    return None if value is None else check_text(field, value, required=required, max_len=max_len)


def check_optional_ref(field: str, value: object) -> str | None:
    return None if value is None else check_ref(field, value)


def check_optional_recipient(field: str, value: object) -> str | None:
    """The recipient an export or a share names, or ``None`` (none named): an id (:func:`check_ref`) that
    is not in parentheses, rule ``reserved``. The audit entry of the export records it, and writes a name
    in parentheses for one that names none (``(unnamed)``): a recipient spelled so would read as that."""
    if value is None:
        return None
    ref = check_ref(field, value)
    if ref[0] == "(" and ref[-1] == ")":
        raise ValidationError(
            field, "reserved", "a name in parentheses is the audit log's, not a recipient's"
        )
    return ref


def check_optional_date(field: str, value: object) -> date | None:
    return None if value is None else check_date(field, value)


def check_optional_int(field: str, value: object, *, lo: int = MIN_INT, hi: int = MAX_INT) -> int | None:
    return None if value is None else check_int(field, value, lo=lo, hi=hi)


def check_optional_bytes(
    field: str, value: object, *, min_len: int = 0, max_len: int = 1_000_000
) -> bytes | None:
    return None if value is None else check_bytes(field, value, min_len=min_len, max_len=max_len)


def check_optional_choice(field: str, value: object, enum: type[E]) -> E | None:
    return None if value is None else check_choice(field, value, enum)


def check_optional_instance(field: str, value: object, cls: type[T]) -> T | None:
    return None if value is None else check_instance(field, value, cls)


# ------------------------------------------------------------------------------------------------ records

_KIND = "alliancekit.kind"
_REF = "ref"
_CLINIC = "clinic"

_Check = Callable[[str, Any], Any]


def _check_for(tp: Any, kind: str | None) -> tuple[_Check, bool]:
    """The check of a field of type ``tp`` (``kind`` from its metadata), and whether it converts.

    A converting check returns the value to keep (an enum member for its string value, a tuple for a list,
    a plain ``str`` for a ``str`` subclass); the others only refuse.
    """
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        inner, converts = _check_for(options[0], kind)

        def check_optional(where: str, value: Any) -> Any:
            return None if value is None else inner(where, value)

        return check_optional, converts
    if isinstance(tp, type) and issubclass(tp, Enum):
        enum_type = tp
        members = tp._value2member_map_  # what ``enum_type(value)`` looks up first

        def check_enum(where: str, value: Any) -> Any:
            if isinstance(value, enum_type):
                return value
            try:
                found = members.get(value)  # a member's value: found without the enum's call machinery
            except TypeError:  # unhashable: the enum's own call decides
                found = None
            if found is not None:
                return found
            try:
                return enum_type(value)
            except (ValueError, TypeError):
                raise ValidationError(where, "enum", f"one of {_choices(enum_type)}") from None

        return check_enum, True
    if tp is str:
        return {_REF: check_ref, _CLINIC: check_clinic}.get(kind or "", check_text), True
    if tp is bool:
        return check_bool, False
    if tp is int:
        return check_int, True
    if tp is float:
        return check_number, True
    if tp is date:
        return check_date, False
    if origin is tuple:
        item_check, _ = _check_for(typing.get_args(tp)[0], kind)

        def check_tuple(where: str, value: Any) -> Any:
            # a tuple or list is a list: the ABC checks (for anything else) cost more than the rest
            plain = type(value) is tuple or type(value) is list
            if not plain and (isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable)):
                raise ValidationError(where, "type", "list expected")
            if not plain and isinstance(value, set | frozenset):
                raise ValidationError(where, "type", _UNORDERED)
            items = tuple(itertools.islice(value, MAX_ITEMS + 1))
            if len(items) > MAX_ITEMS:
                raise ValidationError(where, "max-items", f"at most {MAX_ITEMS}")
            return tuple(item_check(where, item) for item in items)

        return check_tuple, True
    if origin in (Mapping, dict, typing.Mapping):
        return _check_answers, True
    if attrs.has(tp):
        record_type = tp

        def check_record(where: str, value: Any) -> Any:
            if not isinstance(value, record_type):
                raise ValidationError(where, "type", f"{record_type.__name__} expected")
            return value

        return check_record, False
    raise TypeError(f"no check for {tp!r}")  # pragma: no cover - programming error


def _check_answers(where: str, value: Any) -> FrozenMap[str, float | int | None]:
    """Measure answers by item key: ids to finite numbers or None. Kept as a read-only copy (the alert
    rules see the command's records before they are stored)."""
    if not isinstance(value, (dict, Mapping)):  # a dict (a FrozenMap too) is found before the ABC check
        raise ValidationError(where, "type", "mapping expected")
    if len(value) > MAX_ITEMS:
        raise ValidationError(where, "max-items", f"at most {MAX_ITEMS}")
    out: dict[str, float | int | None] = {}
    for key, answer in value.items():
        # The item keys come from a measure definition, but the error names neither key nor answer.
        key = check_ref(where, key)
        out[key] = None if answer is None else check_number(where, answer)
    return FrozenMap(out)


def _transform(cls: type, fields: list[attrs.Attribute]) -> list[attrs.Attribute]:  # type: ignore[type-arg]
    hints = typing.get_type_hints(cls)
    out = []
    for field in fields:
        where = f"{cls.__name__}.{field.name}"
        hint = hints[field.name]
        check, converts = _check_for(hint, field.metadata.get(_KIND))
        changes: dict[str, Any] = {}
        if converts or field.converter is not None:
            changes["converter"] = _converter(where, check, _accepted(field.converter, hint), hint)
        else:
            changes["validator"] = _validator(where, check)
        out.append(field.evolve(**changes))
    return out


def _accepted(declared: Any, hint: Any) -> Any:
    """What a field accepts: the first parameter's type of its declared converter, else its own type."""
    if declared is None:
        return hint
    function: Callable[..., Any] = getattr(declared, "converter", declared)  # attrs.Converter wraps one
    first = next(iter(inspect.signature(function).parameters))
    return typing.get_type_hints(function)[first]


def _converter(where: str, check: _Check, accepts: Any, returns: Any) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return check(where, value)

    # attrs annotates the generated __init__ with the converter's parameter type: help() shows it.
    convert.__annotations__ = {"value": accepts, "return": returns}
    return convert


def _validator(where: str, check: _Check) -> Callable[[Any, Any, Any], None]:
    def validate(_instance: Any, _attribute: Any, value: Any) -> None:
        check(where, value)

    return validate


# Free text is kept out of reprs: ``text()`` and ``texts()`` are the fields for any client or clinician
# words; a list of texts that a caller may pass as a list names a converter instead (see the module
# docstring). ``ref()`` marks an id: printable, at most MAX_ID characters, no control characters.


#: Field metadata marking free text: the one thing that selects a field for encryption at rest (not ``repr``).
FREE_TEXT: Mapping[str, bool] = types.MappingProxyType({"alliancekit.free_text": True})


def is_free_text(field: attrs.Attribute[Any]) -> bool:
    """Whether ``field`` was declared free text (:data:`FREE_TEXT`): encrypted at rest, kept out of reprs."""
    return bool(field.metadata.get("alliancekit.free_text"))


def text(*, default: str = "", repr: bool = False) -> str:
    return attrs.field(default=default, repr=repr, metadata=FREE_TEXT)


def texts(*, default: tuple[str, ...] = (), repr: bool = False) -> tuple[str, ...]:
    return attrs.field(default=default, repr=repr, metadata=FREE_TEXT)


@overload
def _ref(*, repr: Callable[[Any], str] | bool = ...) -> str: ...
@overload
def _ref(*, default: None, repr: Callable[[Any], str] | bool = ...) -> str | None: ...
def _ref(*, default: Any = attrs.NOTHING, repr: Callable[[Any], str] | bool = True) -> Any:
    # repr=hidden (alliancekit.domain.reprs): a client's reference is client data, not printed
    return attrs.field(default=default, repr=repr, metadata={_KIND: _REF})


def clinic_ref() -> str:
    """A field holding a clinic's id (:func:`check_clinic`)."""
    field: str = attrs.field(metadata={_KIND: _CLINIC})
    return field


#: The metadata of a field holding a tuple of ids: each item is checked as :func:`ref` checks an id (the
#: field names a converter too, for what it accepts: ``attrs.field(converter=inputs.refs, metadata=...)``).
ID_ITEMS: Mapping[str, str] = types.MappingProxyType({_KIND: _REF})


#: The metadata of a date field that names a day to come (a booster session), not one that happened: the
#: clinical-date rule (no date after the clinic's today) leaves it alone.
PLANNED: Mapping[str, bool] = types.MappingProxyType({"alliancekit.planned": True})


def is_planned(field: attrs.Attribute) -> bool:  # type: ignore[type-arg]
    return bool(field.metadata.get("alliancekit.planned"))


def is_record(value: object) -> typing.TypeGuard[attrs.AttrsInstance]:
    """Whether ``value`` is a domain record (made by ``@record``)."""
    return getattr(type(value), "__alliancekit_record__", False) is True


def _record(cls: type[T]) -> type[T]:
    """``attrs.frozen`` with checks derived from the annotations (see the module docstring)."""
    made = attrs.frozen(cls, field_transformer=_transform)
    made.__alliancekit_record__ = True  # type: ignore[attr-defined]
    return made


if TYPE_CHECKING:
    # Type checkers see attrs' own decorator and field, so mypy's attrs plugin types each __init__
    # parameter by the field's converter (dataclass_transform cannot: PEP 712 was withdrawn). At run time
    # they are the same calls plus the checks and the id marker.
    from attrs import field as ref
    from attrs import frozen as record
else:
    ref, record = _ref, _record
