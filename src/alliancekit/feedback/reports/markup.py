"""Markup shared by the report's sections."""

from __future__ import annotations

from html import escape


def scroll_region(label: str, table: str) -> str:
    """A wide table in its own scrolling region: on a phone the table keeps readable columns and scrolls
    inside the region, and the page itself never scrolls sideways."""
    return f'<div class="scroll" role="region" aria-label="{escape(label)}" tabindex="0">{table}</div>'
