"""What the app remembers, for a few minutes, about each response it has just recorded: so that a second
post of the same form (a double click on a slow server, a second tab, a reload of the page that followed)
shows the page the first one earned, crisis information included, instead of the refusal a used token
gets. Held in memory, for one process; nothing kept names the token or the browser (both are MACs).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

#: Long enough for a slow double click or a second tab; short, so a later visitor to a shared device
#: cannot replay it.
REPLAY_SECONDS = 10 * 60
#: At most this many recent submissions are remembered (the oldest forgotten first).
REMEMBERED = 10_000


@dataclass(frozen=True)
class Outcome:
    """The page a recorded response earned, and who may see it again."""

    crisis: bool = field(repr=False)  # whether a risk item was endorsed: clinical, never in a repr
    crisis_information: str | None = field(repr=False)
    language: str | None
    kiosk: bool
    browsers: frozenset[str]
    """The MACs of the CSRF cookies a repeat post may carry: the one the response was posted with, and
    (from a link, not the shared kiosk tablet) the one set with the outcome page."""
    form_field: str
    """The CSRF field the recorded form carried: a repeat must be that same form."""
    until: float


class Submitted:
    """Recent submissions by token MAC, and one lock per token so a second post waits for the first."""

    def __init__(self) -> None:
        self._outcomes: OrderedDict[str, Outcome] = OrderedDict()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def claim(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock: posts of one token are handled one after the other."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def remember(self, key: str, outcome: Outcome) -> None:
        self._outcomes[key] = outcome
        self._outcomes.move_to_end(key)
        now = time.monotonic()
        while self._outcomes:
            oldest = next(iter(self._outcomes.values()))
            if oldest.until > now and len(self._outcomes) <= REMEMBERED:
                break
            self._outcomes.popitem(last=False)

    def recall(self, key: str, browser: str, form_field: str) -> Outcome | None:
        """The outcome recorded for ``key``, if it is still remembered and this is the same browser
        posting the same form."""
        outcome = self._outcomes.get(key)
        if outcome is None or outcome.until <= time.monotonic():
            return None
        posted = form_field.encode("utf-8", "surrogatepass")
        same_form = hmac.compare_digest(posted, outcome.form_field.encode())
        if browser not in outcome.browsers or not same_form:
            return None
        return outcome

    @staticmethod
    def expiry() -> float:
        return time.monotonic() + REPLAY_SECONDS
