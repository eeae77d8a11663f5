"""What the app remembers, for a few minutes, about each response it has just recorded: so that a second
post of the same form (a double click on a slow server, a second tab, a reload of the page that followed)
shows the page the first one earned, crisis information included, instead of the refusal a used token
gets. Held in memory, for one process; nothing kept names the token or the browser (both are MACs).
Likewise for each kiosk code just redeemed (:class:`Redeemed`), so that a double click on Continue shows
the measure rather than the refusal a redeemed code gets; that one does keep the one-use token (by a MAC
of the browser and the code), since it must show the same form again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

#: Long enough for a slow double click or a second tab; short, so a later visitor to a shared device
#: cannot replay it.
REPLAY_SECONDS = 10 * 60
#: At most this many recent submissions are remembered (the oldest forgotten first).
REMEMBERED = 10_000

_Held = TypeVar("_Held")


def _forget_old(held: OrderedDict[str, _Held], until: dict[str, float]) -> None:
    """Drop the oldest entries of ``held`` (and ``until``) that are past their time or over
    :data:`REMEMBERED`; entries go in oldest first."""
    now = time.monotonic()
    while held:
        oldest = next(iter(held))
        if until[oldest] > now and len(held) <= REMEMBERED:
            break
        held.popitem(last=False)
        del until[oldest]


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
        self._until: dict[str, float] = {}
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
        self._until[key] = outcome.until
        _forget_old(self._outcomes, self._until)

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


class Redeemed:
    """The one-use token each kiosk code was just exchanged for, by the MAC of the browser's CSRF cookie and
    the code as posted. A double click on Continue posts the code twice and the browser shows the answer to
    the second post, which would be the refusal (the first used the code up) and count as a wrong guess;
    the same browser posting the same code gets the same token instead. The kiosk's outcome page sets a new
    cookie, so the next client at the tablet cannot get it. Posts of one key take turns under
    :meth:`Submitted.claim`."""

    def __init__(self) -> None:
        self._tokens: OrderedDict[str, str] = OrderedDict()
        self._until: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"Redeemed(<{len(self._tokens)} tokens>)"

    def remember(self, key: str, token: str) -> None:
        self._tokens[key] = token
        self._tokens.move_to_end(key)
        self._until[key] = Submitted.expiry()
        _forget_old(self._tokens, self._until)

    def recall(self, key: str) -> str | None:
        if self._until.get(key, 0.0) <= time.monotonic():
            return None
        return self._tokens.get(key)
