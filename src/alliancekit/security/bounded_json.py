"""JSON from outside, read within bounds: size, nesting depth, string length, number size.

Every place JSON enters the library from outside (an import, a measure response, a stored payload of
unknown origin) reads it with :func:`loads`, so that a hostile document cannot exhaust memory or the stack.
Nothing is ever fetched: there is no ``$ref`` resolution here, and the schema registries resolve only the
schemas shipped in the package.
"""

from __future__ import annotations

import json
import re
from typing import Any

from alliancekit.errors import ValidationError

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_STRING = 20_000
MAX_NUMBER_CHARS = 40
"""Longest number literal, counting digits, sign, point and exponent. Big enough for any score, too small
to hurt."""

#: NUL and lone surrogates (``"\\u0000"``, ``"\\ud800"`` in the JSON): no store keeps them the same way, and
#: a lone surrogate cannot even be encoded to write a log line. Refused in every string and key.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def loads(
    text: str | bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_string: int = MAX_STRING,
) -> Any:
    """Parse ``text`` as JSON, refusing anything out of bounds with a :class:`ValidationError`.

    Numbers must be finite; ``NaN`` and ``Infinity`` are refused; strings and keys may hold neither NUL nor
    a lone surrogate; an object may not name a key twice (rule ``duplicate-key``). The error names the rule
    broken, never the content.
    """
    if isinstance(text, bytes):
        if len(text) > max_bytes:
            raise ValidationError("json", "max-size", f"at most {max_bytes} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("json", "encoding", "UTF-8 expected") from None
    if not isinstance(text, str):
        raise ValidationError("json", "type", "text expected")
    # The bound is in UTF-8 bytes for text too (a character may take four); the length is checked first
    # so that only text of at most max_bytes characters is ever encoded.
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ValidationError("json", "max-size", f"at most {max_bytes} bytes")
    try:
        data = json.loads(
            text,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_no_constant,
            object_pairs_hook=unique_keys,
        )
    except RecursionError:
        raise ValidationError("json", "max-depth", f"at most {max_depth} levels") from None
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError("json", "syntax", "not valid JSON") from None
    _check(data, max_depth, max_string)
    return data


def _number(kind: type) -> Any:
    def parse(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_CHARS:
            raise ValidationError("json", "max-number", f"number literals of at most {MAX_NUMBER_CHARS}")
        value = kind(literal)
        if kind is float and value in (float("inf"), float("-inf")):
            raise ValidationError("json", "max-number", "finite numbers only")
        return value

    return parse


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict, refusing a key named twice (``json``'s ``object_pairs_hook``).

    JSON leaves a repeated key's meaning open and ``json`` silently keeps the last value, while a proxy,
    another parser or a reviewer may read the first: ``{"q9": 2, "q9": 0}`` would pass a risk item endorsed
    as not endorsed. Refused instead, naming no key (a key may be a client's words).
    """
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValidationError("json", "duplicate-key", "an object names each key once")
    return data


def _no_constant(name: str) -> Any:
    raise ValidationError("json", "number", "NaN and Infinity are not JSON")


def _check(data: Any, max_depth: int, max_string: int) -> None:
    """Walk without recursion: depth of containers, length and characters of strings (keys included)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_string(value, max_string)
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise ValidationError("json", "max-depth", f"at most {max_depth} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_string(key, max_string)
                stack.append((item, depth + 1))


def _check_string(value: str, max_string: int) -> None:
    if len(value) > max_string:
        raise ValidationError("json", "max-length", f"strings of at most {max_string} characters")
    unstorable = unstorable_rule(value)
    if unstorable is not None:
        raise ValidationError("json", *unstorable)


def unstorable_rule(value: str) -> tuple[str, str] | None:
    """The rule ``value`` breaks, and its description, when it holds what no store keeps the same way (a
    NUL: PostgreSQL's text refuses it; a lone surrogate: it cannot even be encoded); ``None`` when none."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "control-character", "no NUL in strings"
    return "unicode", "no lone surrogates in strings"
