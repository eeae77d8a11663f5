"""Messages people read (alert messages, refusals shown to a client) go through a gettext catalogue.

The message ids are the English text, so English needs no catalogue; a host or plugin that ships a
translation puts ``<language>/LC_MESSAGES/alliancekit.mo`` under :data:`LOCALE_DIR` or passes its own
directory. Language tags are BCP 47 (``es``, ``fr-CA``); gettext's folder names use ``_``.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import re
from collections.abc import Iterable
from pathlib import Path

# N_ is documented here and defined with the error hierarchy, below this module, whose messages it marks.
from alliancekit.errors import N_ as N_
from alliancekit.errors import ValidationError

DOMAIN = "alliancekit"
LOCALE_DIR = Path(__file__).parent / "locale"
#: What a language tag may look like (BCP 47's shape, or gettext's ``_``). The tag usually comes from the
#: client's request and names a catalogue folder, so anything else (a path, a header's list) is no language.
_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8}){0,7}")


def _tag(language: object) -> str | None:
    """``language`` stripped, when it is a well-formed tag; ``None`` for none or anything else."""
    if language is None:
        return None
    if not isinstance(language, str):
        raise ValidationError("language", "type", "text expected")
    tag = language.strip()
    return tag if _TAG.fullmatch(tag) else None


_HOST_DIRS: list[str] = []


def add_locale_dir(path: str | Path) -> None:
    """Look for catalogues in ``path`` (``<language>/LC_MESSAGES/alliancekit.mo``) before alliancekit's own:
    how a host or plugin ships a language without writing into the installed package."""
    folder = str(path)
    if folder not in _HOST_DIRS:
        _HOST_DIRS.insert(0, folder)
    catalogue.cache_clear()


@functools.lru_cache(maxsize=128)  # bounded: every distinct tag a client sends is a key
def catalogue(language: str | None = None, locale_dir: str | None = None) -> _gettext.NullTranslations:
    """The translations for ``language`` (falling back to its primary subtag, then to English), from
    ``locale_dir`` alone when given, else from the host's folders (:func:`add_locale_dir`) then
    :data:`LOCALE_DIR`."""
    tag = _tag(language)
    if not tag:
        return _gettext.NullTranslations()
    tag = tag.replace("-", "_")
    candidates = [tag, tag.split("_")[0]] if "_" in tag else [tag]
    found = _gettext.NullTranslations()
    for folder in reversed([locale_dir] if locale_dir else [*_HOST_DIRS, str(LOCALE_DIR)]):
        inner = _gettext.translation(DOMAIN, folder, languages=candidates, fallback=True)
        if type(inner) is not _gettext.NullTranslations:
            inner.add_fallback(found)
            found = inner
    return found


def best_language(requested: str | None, available: Iterable[str]) -> str | None:
    """The tag in ``available`` that serves a client asking for ``requested`` (BCP 47): the same tag
    (case-insensitive), else the tag equal to its primary subtag (``es-MX`` is served by ``es``); ``None``
    when none does, so the caller falls back to its own default."""
    checked = _tag(requested)
    if not checked:
        return None
    tags = {tag.lower(): tag for tag in available}
    wanted = checked.replace("_", "-").lower()
    return tags.get(wanted) or tags.get(wanted.split("-")[0])


def translate(message: str, language: str | None = None) -> str:
    """``message`` in ``language``, or as written when no catalogue has it."""
    return catalogue(_tag(language)).gettext(message)
