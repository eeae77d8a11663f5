"""Write a synthetic OpenFIT-style history (for trying ``alliancekit import csv`` at scale).

    python examples/imports/make_history.py 10000 3 history.csv
    alliancekit import csv --db practice.sqlite --create \\
        --mapping examples/imports/openfit-style.toml history.csv

CLIENTS clients with SESSIONS weekly sessions each, ORS and SRS totals; every value is made up. Intakes are
spread over 300 days from 2 January 2023, moved earlier when needed so that no session is after today.
``main(clients, sessions, path)`` is the same from Python (``benchmarks/bench_batch.py`` calls it).
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

#: The first intake, and the days over which intakes are spread (client ``c`` starts ``c % SPREAD`` days in).
FIRST = date(2023, 1, 2)
SPREAD = 300


def main(clients: int, sessions: int, path: str, *, today: date | None = None) -> None:
    # a history is the past: the last possible session (latest intake, last week) falls on today at the latest
    latest_start = (today or datetime.now(UTC).date()) - timedelta(days=SPREAD - 1 + 7 * (sessions - 1))
    first = min(FIRST, latest_start)
    rng = random.Random(14)  # noqa: S311 - synthetic data, not security
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "Client ID",
                "Episode",
                "Session Date",
                "Clinician",
                "Format",
                "Attended",
                "ORS Total",
                "SRS Total",
            ]
        )
        for c in range(clients):
            day = first + timedelta(days=c % SPREAD)
            ors = rng.uniform(8, 25)
            for _ in range(sessions):
                ors = min(40.0, ors + rng.uniform(-1, 3))
                srs = rng.uniform(30, 40)
                row = [f"B-{c:06d}", "1", day.strftime("%d/%m/%Y"), f"clin-{c % 40:02d}", "Video", "Yes"]
                writer.writerow([*row, f"{ors:.1f}", f"{srs:.1f}"])
                day += timedelta(days=7)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def cli(argv: Sequence[str] | None = None) -> None:
    """The command line, ``CLIENTS SESSIONS PATH``: a mistake exits 2 with a usage line, no traceback."""
    parser = argparse.ArgumentParser(
        prog="make_history.py",
        description="Write a synthetic OpenFIT-style CSV history (every value made up) to try "
        "alliancekit import csv with examples/imports/openfit-style.toml.",
    )
    parser.add_argument("clients", metavar="CLIENTS", type=_at_least_one, help="how many clients")
    parser.add_argument("sessions", metavar="SESSIONS", type=_at_least_one, help="weekly sessions per client")
    parser.add_argument("path", metavar="PATH", help="the CSV file to write (replaced if it exists)")
    args = parser.parse_args(argv)
    try:
        main(args.clients, args.sessions, args.path)
    except OSError as exc:
        parser.exit(2, f"{parser.prog}: error: {args.path}: {exc.strerror}\n")


if __name__ == "__main__":
    cli()
