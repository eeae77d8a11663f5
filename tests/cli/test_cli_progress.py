"""Progress on a terminal: done of total, rate and ETA on one line of stderr; nothing when not a terminal."""

from __future__ import annotations

import io

import pytest

from alliancekit.cli.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _clock(times: list[float]) -> object:
    it = iter(times)
    return lambda: next(it)


def test_the_line_shows_the_rate_and_the_eta() -> None:
    # started at 0; 50 of 200 done at 10 s: 5/s, 150 left, ETA 30 s
    progress = Progress("importing", unit="rows", stream=_Terminal(), clock=_clock([0.0, 10.0]))  # type: ignore[arg-type]
    assert progress.line(50, 200) == "importing: 50/200 (25%)  5.0 rows/s  ETA 0:30"


def test_the_last_line_says_how_long_it_took_and_ends_the_line() -> None:
    stream = _Terminal()
    progress = Progress(
        "simulating clients", unit="clients", stream=stream, clock=_clock([0.0, 3725.0, 3725.0])
    )  # type: ignore[arg-type]
    progress(2000, 2000)
    assert (
        stream.getvalue()
        == "\r\x1b[Ksimulating clients: 2,000/2,000 (100%)  0.5 clients/s  done in 1:02:05\n"
    )


def test_refreshes_are_a_fifth_of_a_second_apart_at_least() -> None:
    stream = _Terminal()
    # start, then per call: the refresh check and, when shown, the line's own reading
    progress = Progress("x", stream=stream, clock=_clock([0.0, 1.0, 1.0, 1.19, 1.25, 1.25]))  # type: ignore[arg-type]
    progress(1, 10)
    progress(2, 10)  # 0.19 s later: not shown
    progress(3, 10)  # 0.2 s after the first: shown
    assert stream.getvalue().count("\r") == 2
    assert "x: 3/10" in stream.getvalue()
    assert "x: 2/10" not in stream.getvalue()


def test_nothing_is_written_when_not_a_terminal_or_disabled() -> None:
    plain = io.StringIO()
    Progress("x", stream=plain)(1, 2)
    quiet = _Terminal()
    Progress("x", stream=quiet, enabled=False)(1, 2)
    assert plain.getvalue() == quiet.getvalue() == ""


def test_close_ends_a_line_left_open_and_only_then() -> None:
    stream = _Terminal()
    progress = Progress("x", stream=stream, clock=_clock([0.0, 1.0, 1.0]))  # type: ignore[arg-type]
    progress.close()  # nothing shown yet
    assert stream.getvalue() == ""
    progress(1, 10)
    progress.close()  # stopped at 1 of 10: the line is ended
    progress.close()  # once
    assert stream.getvalue().endswith("ETA 0:09\n")
    assert stream.getvalue().count("\n") == 1


def test_close_after_the_last_line_adds_nothing() -> None:
    stream = _Terminal()
    progress = Progress("x", stream=stream, clock=_clock([0.0, 1.0, 1.0]))  # type: ignore[arg-type]
    progress(10, 10)
    progress.close()
    assert stream.getvalue().count("\n") == 1
    assert stream.getvalue().endswith("done in 0:01\n")


def test_a_dumb_terminal_gets_no_escape_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    """``TERM=dumb`` (an editor's shell buffer, some CI consoles) prints escape sequences as they are: the
    line is padded over the last one instead of erased with ``ESC [ K``."""
    monkeypatch.setenv("TERM", "dumb")
    stream = _Terminal()
    progress = Progress("x", stream=stream, clock=_clock([0.0, 1.0, 1.0, 2.0, 2.0]))  # type: ignore[arg-type]
    progress(10, 100)
    progress(100, 100)
    first, second = stream.getvalue().split("\r")[1:]
    assert "\x1b" not in stream.getvalue()
    assert first == "x: 10/100 (10%)  10.0 /s  ETA 0:09"
    assert second == "x: 100/100 (100%)  50.0 /s  done in 0:02\n"
    assert len(second) - 1 >= len(first)  # covers the last line whole


def test_a_shorter_line_on_a_dumb_terminal_covers_the_longer_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    stream = _Terminal()
    progress = Progress("x", stream=stream, clock=_clock([0.0, 1.0, 1.0, 2.0, 2.0]))  # type: ignore[arg-type]
    progress(1000, 10_000)
    progress(1001, 10_000)  # half the rate: a shorter line
    first, second = stream.getvalue().split("\r")[1:]
    assert first == "x: 1,000/10,000 (10%)  1,000.0 /s  ETA 0:09"
    assert second == "x: 1,001/10,000 (10%)  500.5 /s  ETA 0:18  "
    assert len(second) == len(first)  # padded: no character of the longer line is left behind
