"""Messages people read (alert messages, refusals shown to a client) go through a gettext catalogue.

The message ids are the English text, so English needs no catalogue; a host or plugin that ships a
translation puts ``<language>/LC_MESSAGES/alliancekit.mo`` under :data:`LOCALE_DIR` or passes its own
directory. Language tags are BCP 47 (``es``, ``fr-CA``); gettext's folder names use ``_``.
"""

from __future__ import annotations

import functools
import gettext as _gettext
from collections.abc import Iterable
from pathlib import Path

DOMAIN = "alliancekit"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # the conventional name extraction tools look for
    """Mark ``message`` for the catalogue where it is defined; translate it where it is shown."""
    return message


@functools.cache
def catalogue(language: str | None = None, locale_dir: str | None = None) -> _gettext.NullTranslations:
    """The translations for ``language`` (falling back to its primary subtag, then to English)."""
    if not language:
        return _gettext.NullTranslations()
    tag = language.replace("-", "_")
    candidates = [tag, tag.split("_")[0]] if "_" in tag else [tag]
    return _gettext.translation(DOMAIN, locale_dir or str(LOCALE_DIR), languages=candidates, fallback=True)


def best_language(requested: str | None, available: Iterable[str]) -> str | None:
    """The tag in ``available`` that serves a client asking for ``requested`` (BCP 47): the same tag
    (case-insensitive), else the tag equal to its primary subtag (``es-MX`` is served by ``es``); ``None``
    when none does, so the caller falls back to its own default."""
    if not requested:
        return None
    tags = {tag.lower(): tag for tag in available}
    wanted = requested.strip().replace("_", "-").lower()
    return tags.get(wanted) or tags.get(wanted.split("-")[0])


def translate(message: str, language: str | None = None) -> str:
    """``message`` in ``language``, or as written when no catalogue has it."""
    return catalogue(language).gettext(message)
