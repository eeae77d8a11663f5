"""Wrong clinician sign-ins counted per key: past the limit in the window, the sign-in is refused, even
with the right passphrase, until the oldest wrong attempt leaves the window. The app keeps two: one keyed
by the source address, one by the clinician id tried (:func:`account_key`), so neither guessing many ids
from one address nor one id from many addresses gets past the limit. Held in memory, for one process (a
host's identity provider does this for real)."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict, deque

#: At most this many keys (addresses, or clinician ids) are remembered (the least recently wrong forgotten
#: first).
SOURCES = 10_000


def account_key(user: str) -> str:
    """The key a clinician id tried is counted under: a digest, so the throttle keeps no typed text and
    each key is the same small size. An id no clinician has is counted exactly as one that exists, so a
    refusal says nothing about which ids exist."""
    return hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()


class Throttle:
    def __init__(self, limit: int, window_seconds: float) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("the sign-in limit must be at least 1 in a window longer than 0 seconds")
        self.limit = limit
        self.window = window_seconds
        self._wrong: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, source: str, now: float | None = None) -> bool:
        """``source`` (an address, or an :func:`account_key`) has had ``limit`` wrong attempts within the
        window."""
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
