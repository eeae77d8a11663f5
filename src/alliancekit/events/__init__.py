"""Episode events, their envelope in the store, and the converter that serialises them."""

from alliancekit.events.types import EVENT_TYPES, Event, RecordedScore

__all__ = ["EVENT_TYPES", "Event", "RecordedScore"]
