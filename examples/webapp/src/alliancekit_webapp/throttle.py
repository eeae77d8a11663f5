"""Wrong clinician sign-ins counted per source address: past the limit in the window, the sign-in is
refused, even with the right passphrase, until the oldest wrong attempt leaves the window. Held in memory,
for one process (a host's identity provider does this for real)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

#: At most this many sources are remembered (the least recently wrong forgotten first).
SOURCES = 10_000


class Throttle:
    def __init__(self, limit: int, window_seconds: float) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("the sign-in limit must be at least 1 in a window longer than 0 seconds")
        self.limit = limit
        self.window = window_seconds
        self._wrong: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, source: str, now: float | None = None) -> bool:
        """``source`` has had ``limit`` wrong attempts within the window."""
        return len(self._recent(source, time.monotonic() if now is None else now)) >= self.limit

    def wrong(self, source: str, now: float | None = None) -> None:
        """Count one wrong attempt from ``source``."""
        at = time.monotonic() if now is None else now
        self._recent(source, at).append(at)
        self._wrong.move_to_end(source)
        while len(self._wrong) > SOURCES:
            self._wrong.popitem(last=False)

    def forget(self, source: str) -> None:
        """A right sign-in from ``source``: its count starts again."""
        self._wrong.pop(source, None)

    def _recent(self, source: str, now: float) -> deque[float]:
        attempts = self._wrong.setdefault(source, deque())
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()
        return attempts
