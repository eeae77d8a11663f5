"""A limit on how long a peer may take over one reply in all, not only between two of its bytes: for the
channels that talk to a server over a socket (the first-party SMTP and webhook plugins use it).

A socket timeout bounds each wait for data: a peer that sends one byte a second keeps a reply going for
ever, and the delivery with it. One watchdog thread per conversation shuts the socket down when a reply runs
past its limit; the blocked read then sees the end of the stream, and the caller raises.
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

    ``expired`` tells, after a failure, whether the limit cut the connection.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._wake = threading.Condition()
        self._sock: socket.socket | None = None
        self._until: float | None = None
        self._closed = False

    def __enter__(self) -> ReplyDeadline:
        threading.Thread(target=self._watch, name="alliancekit-reply-deadline", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()

    @contextmanager
    def reply(self, sock: socket.socket | None) -> Iterator[None]:
        with self._wake:
            self._sock, self._until = sock, time.monotonic() + self.seconds
            self._wake.notify()
        try:
            yield
        finally:
            with self._wake:
                self._sock, self._until = None, None

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
