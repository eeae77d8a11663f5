"""Progress on a terminal for the CLI's long commands: done of total, the rate and an ETA on one line of
stderr, refreshed a few times a second; nothing at all when stderr is not a terminal (a pipe, a log, CI).

The line is redrawn with a carriage return and the ANSI "erase to end of line" sequence; on a terminal
that says it knows no such sequences (``TERM=dumb``: an editor's shell buffer, some CI consoles) it is
padded with spaces instead. There is no colour anywhere, so ``NO_COLOR`` changes nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from alliancekit.cli import signals

#: Seconds between two refreshes of the line.
REFRESH_SECONDS = 0.2

_open_line: Progress | None = None
"""The progress whose line is shown and not ended (one at a time: lines share stderr)."""


def end_open_line() -> None:
    """End the line a command left unfinished when it stopped (an error, Ctrl-C), so that its message starts
    on a line of its own; nothing when no line is open."""
    if _open_line is not None:
        _open_line.close()


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """``progress(done, total)``: a callback for work counted in units (clients, rows) that reports it."""

    def __init__(
        self,
        label: str,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._clock = clock
        self._started = clock()
        self._shown = float("-inf")
        self._open = False  # a line is shown and not ended (the last one ends itself)
        self._dumb = os.environ.get("TERM") == "dumb"  # no escape sequences: pad over the last line
        self._width = 0

    def line(self, done: int, total: int) -> str:
        """The line shown after ``done`` of ``total`` units."""
        elapsed = self._clock() - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        per = f"{self.unit}/s" if self.unit else "/s"
        text = f"{self.label}: {done:,}/{total:,} ({100 * done // max(total, 1)}%)  {rate:,.1f} {per}"
        if done >= total:
            return text + f"  done in {_clock_text(elapsed)}"
        eta = (total - done) / rate if rate > 0 else None
        return text + ("  ETA --:--" if eta is None else f"  ETA {_clock_text(eta)}")

    def __call__(self, done: int, total: int) -> None:
        signals.check()  # called often by every long command: where a lost Ctrl-C is raised again
        if not self.enabled:
            return
        now = self._clock()
        if done < total and now - self._shown < REFRESH_SECONDS:
            return
        self._shown = now
        self._open = done < total  # before the line is written: a Ctrl-C while writing still ends it
        self._track()
        text = self.line(done, total)
        if self._dumb:
            text, self._width = text.ljust(self._width), len(text)
        else:
            text = "\x1b[K" + text
        self.stream.write("\r" + text + ("\n" if done >= total else ""))
        self.stream.flush()

    def _track(self) -> None:
        global _open_line
        if self._open:
            _open_line = self
        elif _open_line is self:
            _open_line = None

    def close(self) -> None:
        """End a line left unfinished (the work stopped early: an error, Ctrl-C), so that what is printed
        next starts on a line of its own; nothing when no line is open."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
            self._track()
