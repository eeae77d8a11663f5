"""Progress on a terminal: done of total, rate and ETA on one line of stderr; nothing when not a terminal."""

from __future__ import annotations

import io

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
