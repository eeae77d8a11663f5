"""How a CLI command stops on a signal: Ctrl-C (SIGINT) and a stop request (SIGTERM: what ``docker stop``,
systemd and ``kill`` send) both unwind the command as :class:`Interrupted`, so that what it cleans up on an
error is cleaned up (staged exports and temporary copies removed, an import's batch rolled back to its last
checkpoint), and the command exits ``128 +`` the signal's number: 130 for SIGINT, 143 for SIGTERM.

Python raises the interrupt wherever the program happens to be, and where that is a weak-reference callback
or a ``__del__`` (the garbage collector runs them at any moment) the interrupt is printed as "Exception
ignored" with a traceback, and lost: the command went on to the end. The signal is therefore also
remembered, and :func:`check`, called by every progress report, raises it again; the lost one is not printed.

A stop that comes once the command has finished (its work committed, its output written, the process about
to exit) is not lost either: :func:`finishing` holds it while standard output is flushed, and
:func:`stopping_cleanly` raises it as it ends, marked :attr:`Interrupted.finished`: the command exits 130 or
143 with one line saying that it had finished, and what it did stands. Only a stop arriving after the handlers
are restored (the last instructions before the process exits) ends the process as Python ends any program
(a shell still reports 130 or 143), with nothing lost: its output was flushed before.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

#: The signals a command stops on cleanly.
STOPPING = (signal.SIGINT, signal.SIGTERM)

#: What the one line on stderr calls each.
WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}

_pending: int | None = None
"""The signal received while the handlers are installed (None: none yet)."""

_held = False
"""Whether a stop is held until the next :func:`check` (see :func:`held_until_checked`), or until
:func:`stopping_cleanly` ends (see :func:`finishing`)."""

#: What the line on stderr says of a stop that came once the command had finished.
AFTER_FINISHING = "the command had already finished, and what it did stands"


class Interrupted(KeyboardInterrupt):
    """The command was stopped by ``signum``; ``detail`` says what it left, for the line on stderr."""

    def __init__(self, signum: int, detail: str = "", *, finished: bool = False) -> None:
        super().__init__(signum)
        self.signum = signum
        self.detail = detail
        self.finished = finished
        """Whether the stop came once the command had finished: its output is whole, and stands."""


def _stop(signum: int, frame: FrameType | None) -> None:
    global _pending
    _pending = signum
    if not _held:
        raise Interrupted(signum)


@contextlib.contextmanager
def stopping_cleanly() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` while the block runs, then restore the handlers.

    Only in the main thread (Python runs handlers there; a host calling the CLI from another thread keeps its
    own), and not for a signal the process was started ignoring (``nohup``, a shell's background job).

    A stop received but held (:func:`held_until_checked` past its last check, :func:`finishing`) is raised
    once the handlers are restored, as an :class:`Interrupted` marked ``finished``: never lost.
    """
    global _pending, _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOPPING}
    unraisable = sys.unraisablehook
    _pending = None

    def quiet(info: Any) -> None:
        if not isinstance(info.exc_value, Interrupted):  # ours is raised again by check()
            unraisable(info)

    sys.unraisablehook = quiet
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _stop)
    completed = False
    try:
        yield
        completed = True
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = unraisable
        # read after every handler is restored: a stop from now on takes the signal's default action
        pending, _pending, _held = _pending, None, False
    if completed and pending is not None:
        raise Interrupted(pending, AFTER_FINISHING, finished=True)


def finishing() -> None:
    """The command has finished: from now on a stop is held, not raised, and standard output and error
    are flushed (a stop while a full pipe blocks the flush loses none of the output), so that the stop is
    said by :func:`stopping_cleanly` as it ends. Only in the main thread, as the handlers are."""
    global _held
    if threading.current_thread() is not threading.main_thread():
        return
    _held = True
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone away: Python's exit says nothing more
            stream.flush()


@contextlib.contextmanager
def held_until_checked() -> Iterator[None]:
    """While the block runs, a stop is remembered and raised by the next :func:`check` rather than where the
    program is: a streamed document is then stopped between two of its parts, never inside one, so that
    what was written can be ended as a whole document (see :func:`alliancekit.cli.main.json_error`). A stop
    coming after the block's last check is not raised: what the block wrote is whole."""
    global _held
    _held = True
    try:
        yield
    finally:
        _held = False


def check() -> None:
    """Raise the stop signal received but lost (see the module's docstring); nothing when none came. Raised
    once: it is then the command's to unwind, and not raised again as it ends."""
    global _pending
    if _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)


def signal_of(exc: KeyboardInterrupt) -> int:
    """The signal that stopped the command: SIGINT for a plain KeyboardInterrupt."""
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


def stopped_line(exc: KeyboardInterrupt) -> str:
    """The one line on stderr: ``alliancekit: interrupted`` (or ``terminated``), and what was left."""
    word = WORDS.get(signal.Signals(signal_of(exc)), "stopped")
    detail = exc.detail if isinstance(exc, Interrupted) and exc.detail else ""
    return f"alliancekit: {word}" + (f"; {detail}" if detail else "")
