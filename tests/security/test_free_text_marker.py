"""Which fields encryption at rest selects: the free-text marker, never the repr flag."""

from __future__ import annotations

import inspect

import attrs

from alliancekit.domain import records
from alliancekit.domain.checks import FREE_TEXT, is_free_text
from alliancekit.events.types import EVENT_TYPES
from alliancekit.security.encryption import _is_text, _text_fields

#: (event type, field path) encrypted when this pin was written. Hard-coded on purpose: stored payloads
#: depend on it, so a change here changes stored data and must be a deliberate, migrated decision.
ENCRYPTED = {
    ("alert-resolved", "note"),
    ("client-response-recorded", "scores.band"),
    ("client-response-recorded", "scores.risk_items"),
    ("clinician-transferred", "reason"),
    ("consultation-recorded", "consultation.client_questions"),
    ("consultation-recorded", "consultation.preferences.not_ready_topics"),
    ("consultation-recorded", "consultation.preferences.values_to_include"),
    ("consultation-recorded", "consultation.presenting_concerns"),
    ("disagreement-attached", "statement"),
    ("episode-closed", "ending.maintenance_plan.coping_strategies"),
    ("episode-closed", "ending.maintenance_plan.return_plan"),
    ("episode-closed", "ending.maintenance_plan.supports"),
    ("episode-closed", "ending.maintenance_plan.warning_signs"),
    ("episode-closed", "ending.no_plan_reason"),
    ("episode-closed", "ending.reflection"),
    ("episode-put-on-hold", "reason"),
    ("fit-decided", "decision.rationale"),
    ("fit-decided", "decision.referral_reason"),
    ("fit-decided", "decision.referred_to"),
    ("goal-agreed", "description"),
    ("goal-agreed", "tasks"),
    ("goal-revised", "revision.description"),
    ("goal-revised", "revision.reason"),
    ("goal-revised", "revision.tasks"),
    ("process-note-recorded", "text"),
    ("review-recorded", "review.decision_note"),
    ("review-recorded", "review.goal_progress.note"),
    ("review-recorded", "review.obstacles"),
    ("review-recorded", "review.progress_towards_goals"),
    ("review-recorded", "review.what_did_not_help"),
    ("review-recorded", "review.what_helped"),
    ("review-recorded", "scores.change"),
    ("review-recorded", "scores.zone"),
    ("rupture-noted", "note.client_view"),
    ("rupture-noted", "note.description"),
    ("rupture-repair-recorded", "attempt.client_view"),
    ("session-addendum-added", "reason"),
    ("session-addendum-added", "text"),
    ("session-corrected", "reason"),
    ("session-corrected", "scores.band"),
    ("session-corrected", "scores.risk_items"),
    ("session-corrected", "session.helpful"),
    ("session-corrected", "session.not_helpful"),
    ("session-recorded", "scores.band"),
    ("session-recorded", "scores.risk_items"),
    ("session-recorded", "session.helpful"),
    ("session-recorded", "session.not_helpful"),
}

#: Text fields kept out of reprs that are not free text, so not encrypted (none today; ids use repr=hidden).
NOT_FREE_TEXT: set[tuple[str, str]] = set()


def _selected(cls: type, prefix: str = "", seen: frozenset[type] = frozenset()) -> set[str]:
    out: set[str] = set()
    for name, kind, nested in _text_fields(cls):
        path = f"{prefix}.{name}" if prefix else name
        if kind == "text":
            out.add(path)
        elif nested not in seen:
            out |= _selected(nested, path, seen | {nested})
    return out


def _classes() -> set[type]:
    """Every event class, every attrs class nested in one, and every record class."""
    found: set[type] = set()
    todo: list[type] = [*EVENT_TYPES.values()]
    todo += [c for _, c in inspect.getmembers(records, inspect.isclass) if attrs.has(c)]
    while todo:
        cls = todo.pop()
        if cls in found:
            continue
        found.add(cls)
        todo += [nested for _, kind, nested in _text_fields(cls) if kind == "record"]
    return found


def test_the_encrypted_fields_are_pinned() -> None:
    selected = {(name, path) for name, cls in EVENT_TYPES.items() for path in _selected(cls)}
    assert selected == ENCRYPTED


@attrs.frozen
class _Probe:
    hidden_only: str = attrs.field(default="", repr=False)
    marked: str = attrs.field(default="", repr=False, metadata=FREE_TEXT)
    marked_shown: str = attrs.field(default="", metadata=FREE_TEXT)


def test_the_marker_and_not_the_repr_flag_selects_a_field_for_encryption() -> None:
    assert _selected(_Probe) == {"marked", "marked_shown"}


def test_every_hidden_text_field_is_marked_free_text_or_listed_as_not() -> None:
    import typing

    unmarked = set()
    for cls in _classes():
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            if field.repr is False and _is_text(hints[field.name]) and not is_free_text(field):
                unmarked.add((cls.__name__, field.name))
    assert unmarked == NOT_FREE_TEXT
