"""Tokens and kiosk codes: how they are made, checked for shape, and hashed for storage.

A token is 32 random bytes (``secrets.token_urlsafe``: 256 bits, 43 characters), so guessing one is not a
threat and a plain SHA-256 of it is a safe thing to store and look up by. A kiosk code is short (8 characters
from a 31-letter alphabet without look-alikes, about 40 bits), lives until the clinic's midnight, is bound to
its clinic (hashed with the clinic id) and is rate-limited per clinic and source.
"""

from __future__ import annotations

import hashlib
import re
import secrets

#: Digits and capitals without 0/O, 1/I/L: easy to read off a card and type on a tablet.
KIOSK_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_CODE_SEPARATORS = str.maketrans("", "", " -")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_shaped(token: object) -> bool:
    """Whether ``token`` could be a token at all (anything else is refused without a lookup)."""
    return isinstance(token, str) and _TOKEN_SHAPE.fullmatch(token) is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_kiosk_code(length: int) -> str:
    return "".join(secrets.choice(KIOSK_ALPHABET) for _ in range(length))


def normalise_code(code: object) -> str | None:
    """The code as typed, upper-cased without spaces or dashes; ``None`` if it cannot be a code."""
    if not isinstance(code, str) or len(code) > 40:
        return None
    text = code.translate(_CODE_SEPARATORS).upper()
    if not 6 <= len(text) <= 12 or any(ch not in KIOSK_ALPHABET for ch in text):
        return None
    return text


def code_hash(clinic_id: str, code: str) -> str:
    return hashlib.sha256(f"{clinic_id}\x1f{code}".encode()).hexdigest()


def source_key(source: str) -> str:
    """The rate-limit key of a source (an address, a tablet id): hashed, so no address is stored."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:32]
