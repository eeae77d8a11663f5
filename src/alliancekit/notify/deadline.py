"""A limit on how long a peer may take over one reply in all, not only between two of its bytes: for the
channels that talk to a server over a socket (the first-party SMTP and webhook plugins use it).

A socket timeout bounds each wait for data: a peer that sends one byte a second keeps a reply going for
ever, and the delivery with it. One watchdog thread per conversation shuts the socket down when a reply runs
past its limit; the blocked read then sees the end of the stream, and the caller raises. With ``total``, every
reply also ends by then, counted from entering the ``with``: a conversation of many replies (SMTP) stays
within one budget, which the dispatcher's per-call limit must exceed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ReplyDeadline"]


class ReplyDeadline:
    """``with ReplyDeadline(seconds) as deadline:`` then ``with deadline.reply(sock):`` around each read.

    ``expired`` tells, after a failure, whether the limit cut the connection, ``ran_out()`` whether the limit
    or a socket timeout set from ``left()`` did. ``left()`` is what remains of ``total`` (for a socket's
    timeout).
    """

    def __init__(self, seconds: float, *, total: float | None = None) -> None:
        self.seconds = seconds
        self.total = total
        self._end: float | None = None
        self.expired = False
        self._wake = threading.Condition()
        self._sock: socket.socket | None = None
        self._until: float | None = None
        self._closed = False

    def __enter__(self) -> ReplyDeadline:
        if self.total is not None:
            self._end = time.monotonic() + self.total
        threading.Thread(target=self._watch, name="alliancekit-reply-deadline", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()

    @contextmanager
    def reply(self, sock: socket.socket | None) -> Iterator[None]:
        with self._wake:
            until = time.monotonic() + self.seconds
            self._sock, self._until = sock, until if self._end is None else min(until, self._end)
            self._wake.notify()
        try:
            yield
        finally:
            with self._wake:
                self._sock, self._until = None, None

    def ran_out(self) -> bool:
        """Whether the limit cut the connection, or ``total`` is used up: a socket given :meth:`left` as its
        timeout may time out a moment before the watchdog, and that too is the limit (the socket's timeout
        never fires before its time, so past ``total`` is the only way it got there)."""
        return self.expired or (self._end is not None and time.monotonic() >= self._end)

    def left(self) -> float:
        """Seconds left of ``total`` (``seconds`` without one); a little more than 0 once it has run out, so
        that a socket given it as a timeout fails at once rather than blocking for ever."""
        if self._end is None:
            return self.seconds
        return max(self._end - time.monotonic(), 0.001)

    def _watch(self) -> None:
        with self._wake:
            while not self._closed:
                if self._until is None:
                    self._wake.wait()
                    continue
                left = self._until - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                self.expired = True
                if self._sock is not None:
                    # the plain socket's shutdown, also for a TLS socket: it only ends the stream
                    with contextlib.suppress(OSError):  # already closed
                        socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
                self._sock, self._until = None, None
