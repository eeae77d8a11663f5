"""Encryption of free text at rest: AES-256-GCM, with keys the host holds.

Only free text is encrypted: the fields of records and events that hold a client's or clinician's words (the
fields declared free text with :data:`~alliancekit.domain.checks.FREE_TEXT`: notes, reflections,
maintenance-plan text, rupture descriptions, reasons, process notes). Ids, dates, enums and scores stay
readable, so the snapshot, the caseload and every query that needs no free text keep working without the
key.

Each field becomes one string, ``ak:enc:v1:<key id>:<base64url(nonce + ciphertext)>``, in place of its
text inside the stored payload JSON. The associated data is the event id, the field's path in the payload
and the key id: a ciphertext copied to another row or another field does not decrypt.

Several keys can be held at once (:class:`Keyring`); new text is encrypted under the primary key, and
:func:`rotate` re-encrypts the events' text under it, batch by batch, so that it can be interrupted and run
again. Audit entries' stated reasons stay under the key they were written with (the log is append-only):
:func:`reasons_kept` counts them by key, for the :class:`RotationReport`. ``cryptography`` is an optional
dependency: ``pip install alliancekit[encryption]``.
"""

from __future__ import annotations

import base64
import json
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any, NamedTuple

import attrs

from alliancekit.domain.checks import is_free_text
from alliancekit.errors import DecryptionError, ValidationError
from alliancekit.events import converter
from alliancekit.events.types import Event, event_class
from alliancekit.store.protocol import StoredEvent

PREFIX = "ak:enc:v1:"
#: What a free-text field reads as when its key is not held.
REDACTED = "[encrypted]"
_NONCE = 12


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:  # pragma: no cover - depends on the installation
        raise ValidationError(
            "cipher", "dependency", "install alliancekit[encryption] for encryption at rest"
        ) from None
    return AESGCM(key)


@attrs.frozen
class Keyring:
    """The host's keys by id (32 bytes each, AES-256) and which one encrypts new text."""

    keys: Mapping[str, bytes] = attrs.field(repr=lambda keys: f"<{len(keys)} keys>")
    primary: str

    def __attrs_post_init__(self) -> None:
        if self.primary not in self.keys:
            raise ValidationError("primary", "unknown-key", "the primary key id must be one of the keys")
        for key_id, key in self.keys.items():
            given: object = key  # a host's configuration is not type-checked with us
            if not key_id or ":" in key_id or not key_id.isprintable() or len(key_id) > 64:
                raise ValidationError("keys", "key-id", "printable ids without ':' of at most 64 characters")
            if not isinstance(given, bytes) or len(given) != 32:
                raise ValidationError("keys", "key-length", "each key is 32 bytes")


def key_id_of(value: str) -> str | None:
    """The id of the key ``value`` is encrypted under (a host's label, never key material); ``None`` for plain
    text."""
    if not value.startswith(PREFIX):
        return None
    return value[len(PREFIX) :].partition(":")[0]


# -------------------------------------------------------------------------------- which fields are text


def _is_text(tp: Any) -> bool:
    """``str``, ``str | None``, ``tuple[str, ...]`` or ``tuple[str, ...] | None``."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return len(args) == 1 and _is_text(args[0])
    if tp is str:
        return True
    return typing.get_origin(tp) is tuple and args[:1] == [str]


@cache
def _text_fields(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """For an attrs class: (field name, "text" or "record", the nested class) for fields to walk."""
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, str, Any]] = []
    for field in attrs.fields(cls):
        tp = hints[field.name]
        if is_free_text(field) and _is_text(tp):  # the marker, not repr: printing must not decide this
            out.append((field.name, "text", None))
            continue
        nested = _attrs_in(tp)
        if nested is not None:
            out.append((field.name, "record", nested))
    return tuple(out)


def _attrs_in(tp: Any) -> type | None:
    """The attrs class in ``C``, ``C | None`` or ``tuple[C, ...]``, if any."""
    if isinstance(tp, type) and attrs.has(tp):
        return tp
    for arg in typing.get_args(tp):
        if isinstance(arg, type) and attrs.has(arg):
            return arg
    return None


def _walk(cls: type, data: Any, path: str, visit: Callable[[str, str], str]) -> Any:
    """``data`` (unstructured ``cls``) with ``visit(path, text)`` applied to every free-text string."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, kind, nested in _text_fields(cls):
        value = out.get(name)
        where = f"{path}.{name}" if path else name
        if value is None:
            continue
        if kind == "text":
            if isinstance(value, str):
                out[name] = visit(where, value)
            elif isinstance(value, list):
                out[name] = [
                    visit(f"{where}[{i}]", v) if isinstance(v, str) else v for i, v in enumerate(value)
                ]
        elif isinstance(value, list):
            out[name] = [_walk(nested, v, f"{where}[{i}]", visit) for i, v in enumerate(value)]
        else:
            out[name] = _walk(nested, value, where, visit)
    return out


# -------------------------------------------------------------------------------------------- the cipher


class FieldCipher:
    """Encrypts and decrypts the free text of event payloads with a :class:`Keyring`.

    ``FieldCipher(None)`` holds no key: payloads decode with every encrypted field read as
    :data:`REDACTED`, which is what a process that needs no free text (a report of stages and scores) uses.
    """

    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring
        self._ciphers = {} if keyring is None else {k: _aesgcm(v) for k, v in keyring.keys.items()}

    def __repr__(self) -> str:
        primary = None if self.keyring is None else self.keyring.primary
        return f"FieldCipher(primary={primary!r}, keys={len(self._ciphers)})"

    @staticmethod
    def _aad(event_id: str, path: str, key_id: str) -> bytes:
        return f"alliancekit\x1f{event_id}\x1f{path}\x1f{key_id}".encode()

    def encrypt(self, event_id: str, path: str, text: str) -> str:
        """``text`` sealed under the keyring's primary key, bound to its event and field ``path``."""
        if self.keyring is None:
            raise ValidationError("cipher", "no-key", "a cipher without keys cannot write free text")
        key_id = self.keyring.primary
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[key_id].encrypt(nonce, text.encode("utf-8"), self._aad(event_id, path, key_id))
        return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, event_id: str, path: str, value: str) -> str:
        """The plain text of ``value`` (as it is when written before encryption was turned on), or
        :data:`REDACTED` when this cipher does not hold its key; ``DecryptionError`` when it does not
        decrypt."""
        if not value.startswith(PREFIX):
            return value  # written before encryption was turned on
        key_id, _, body = value[len(PREFIX) :].partition(":")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            return REDACTED
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            plain: bytes = cipher.decrypt(raw[:_NONCE], raw[_NONCE:], self._aad(event_id, path, key_id))
        except Exception:  # noqa: BLE001 - InvalidTag, binascii.Error, ...: all mean the same here
            raise DecryptionError(f"event {event_id}: field {path} does not decrypt") from None
        return plain.decode("utf-8")

    def encode(self, event: Event, event_id: str) -> str:
        """The payload JSON of ``event`` with its free text encrypted."""
        data = _walk(type(event), converter.unstructure(event), "", lambda p, t: self.encrypt(event_id, p, t))
        return converter.encode_payload(data)

    def decode(self, stored: StoredEvent) -> Event:
        """The event of a stored row, its free text decrypted (or :data:`REDACTED` without the key)."""
        cls = event_class(stored.type)
        data = json.loads(stored.payload_json)
        if PREFIX in stored.payload_json:
            data = _walk(cls, data, "", lambda p, t: self.decrypt(stored.event_id, p, t))
        return converter.structure(data, cls)

    def needs_rotation(self, value: str) -> bool:
        """Whether ``value`` is not yet encrypted under the keyring's primary key."""
        if self.keyring is None:
            return False
        return not value.startswith(f"{PREFIX}{self.keyring.primary}:")

    def holds_key_of(self, value: str) -> bool:
        """Whether ``value`` is plaintext or encrypted under a key this cipher holds."""
        key_id = key_id_of(value)
        return key_id is None or key_id in self._ciphers


# ------------------------------------------------------------------------------- audit entries' reasons

#: The "field path" of an audit entry's stated reason in the associated data: no event field's path has a
#: colon, so a ciphertext of an event cannot be passed off as an entry's reason, nor one the other way.
AUDIT_REASON = "audit:detail"


def seal_reason(cipher: FieldCipher | None, entry_id: str, reason: str) -> str:
    """The ``detail`` an audit entry stores for a stated reason: encrypted, bound to the entry's id, when the
    practice has a cipher; as it is without one. A cipher without keys cannot write it (``no-key``), as it
    cannot write an event's free text: it is refused rather than stored in clear.

    The entry's hash covers what is stored (the ciphertext): audit entries are never rewritten, so
    :func:`rotate` leaves them under the key they were written with, and the :class:`RotationReport` counts
    them by key (:func:`reasons_kept`).
    """
    if cipher is None or not reason:
        return reason
    return cipher.encrypt(entry_id, AUDIT_REASON, reason)


def open_reason(cipher: FieldCipher | None, entry_id: str, detail: str) -> str:
    """An audit entry's ``detail`` as its reader sees it: decrypted with the practice's cipher, or
    :data:`REDACTED` without it (or without its key); plain detail as it is.

    :raises DecryptionError: the stored ciphertext was altered or moved from another entry.
    """
    if not detail.startswith(PREFIX):
        return detail
    if cipher is None:
        return REDACTED
    try:
        return cipher.decrypt(entry_id, AUDIT_REASON, detail)
    except DecryptionError:
        raise DecryptionError(f"audit entry {entry_id}: its reason does not decrypt") from None


def redact(stored: StoredEvent) -> Event:
    """Decode a stored event without any key: every encrypted field reads as :data:`REDACTED`."""
    cls = event_class(stored.type)
    data = _walk(
        cls,
        json.loads(stored.payload_json),
        "",
        lambda p, t: REDACTED if t.startswith(PREFIX) else t,
    )
    return converter.structure(data, cls)


class Rotated(NamedTuple):
    """What :func:`rotate` rewrote: free-text fields, and how many of them were in clear before."""

    rewritten: int
    from_clear: int


def rotate(
    events: Iterable[StoredEvent],
    replace: Callable[[list[tuple[StoredEvent, str]]], None],
    cipher: FieldCipher,
    *,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> Rotated:
    """Re-encrypt every free-text field of ``events`` not under the primary key (plaintext included).

    ``replace`` writes one batch of ``(stored event, new payload JSON)`` in one transaction (the store's
    ``replace_payloads``, with the audit entries attesting the events whose hash the rewrite changes), then
    ``progress(fields so far)`` is called. If the run stops (a crash, an exception from ``progress``),
    running it again carries on: fields already under the primary key are left alone. Returns how many
    fields this run rewrote, and how many of those were in clear. A ciphertext re-encrypted leaves its
    event's hash as it was (hashes mask ciphertexts,
    :func:`alliancekit.integrity.chain.canonical_payload`); text encrypted from clear does not, which is
    what the attestations are for (:func:`alliancekit.integrity.chain.rehashed`).
    """
    if cipher.keyring is None:
        raise ValidationError("cipher", "no-key", "rotation needs the keys")
    rewritten = from_clear = 0
    batch: list[tuple[StoredEvent, str]] = []

    def flush() -> None:
        if batch:
            replace(list(batch))
            batch.clear()
            if progress is not None:
                progress(rewritten)

    for stored in events:
        changed = clear = 0

        def renew(path: str, value: str, stored: StoredEvent = stored) -> str:
            nonlocal changed, clear
            if not cipher.needs_rotation(value):
                return value
            if not cipher.holds_key_of(value):
                # the key's id (a host's label, never key material) says which key to put back in the keyring
                raise DecryptionError(
                    f"event {stored.event_id}: field {path} is under key {key_id_of(value)!r}, which the "
                    "keyring does not hold: add it to the Keyring and run the rotation again (what it "
                    "already rewrote stays)"
                )
            plain = cipher.decrypt(stored.event_id, path, value)
            changed += 1
            clear += not value.startswith(PREFIX)
            return cipher.encrypt(stored.event_id, path, plain)

        data = _walk(event_class(stored.type), json.loads(stored.payload_json), "", renew)
        if changed:
            rewritten += changed
            from_clear += clear
            batch.append((stored, converter.encode_payload(data)))
            if len(batch) >= batch_size:
                flush()
    flush()
    return Rotated(rewritten, from_clear)


# ------------------------------------------------------------------------------------ what a rotation left


def reasons_kept(details: Iterable[str], cipher: FieldCipher) -> dict[str, int]:
    """How many of ``details`` (audit entries' stored ``detail``) are encrypted under each key other than the
    keyring's primary, by key id: the reasons :func:`rotate` cannot re-encrypt."""
    primary = None if cipher.keyring is None else cipher.keyring.primary
    kept: dict[str, int] = {}
    for detail in details:
        key_id = key_id_of(detail)
        if key_id is not None and key_id != primary:
            kept[key_id] = kept.get(key_id, 0) + 1
    return kept


def _frozen_counts(counts: Mapping[str, int]) -> Mapping[str, int]:
    return types.MappingProxyType(dict(sorted(counts.items())))


@attrs.frozen
class RotationReport:
    """What a key rotation (:meth:`~alliancekit.Practice.rotate_encryption`) rewrote, and which old keys the
    record still needs.

    ``rewritten`` is how many free-text fields of events this run re-encrypted under the primary key (0 when
    none was left). ``reasons_kept`` counts, by key id, the audit entries' stated reasons (break-glass reads,
    lockbox overrides) encrypted under a key other than the primary: an entry's hash covers its ciphertext
    and the log is append-only, so a rotation never rewrites them. A key it names must stay in the keyring
    for as long as those reasons must be read (without it they read as :data:`REDACTED`, and still verify);
    a key it does not name protects nothing in the store any more. Key ids are the host's labels, never key
    material. ``from_clear`` is how many of the ``rewritten`` fields were in clear (written before
    encryption was turned on): each event holding one has its new hash attested in its clinic's audit log,
    so that the record still verifies (:func:`alliancekit.integrity.chain.rehashed`).
    """

    rewritten: int
    reasons_kept: Mapping[str, int] = attrs.field(
        converter=_frozen_counts, repr=lambda kept: repr(dict(kept))
    )
    from_clear: int = 0
