"""Write a synthetic OpenFIT-style history (for trying ``alliancekit import csv`` at scale).

    python examples/imports/make_history.py 10000 3 history.csv
    alliancekit import csv --db practice.sqlite --create \\
        --mapping examples/imports/openfit-style.toml history.csv

CLIENTS clients with SESSIONS weekly sessions each, ORS and SRS totals; every value is made up.
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import date, timedelta


def main(clients: int, sessions: int, path: str) -> None:
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
            day = date(2023, 1, 2) + timedelta(days=c % 300)
            ors = rng.uniform(8, 25)
            for _ in range(sessions):
                ors = min(40.0, ors + rng.uniform(-1, 3))
                srs = rng.uniform(30, 40)
                row = [f"B-{c:06d}", "1", day.strftime("%d/%m/%Y"), f"clin-{c % 40:02d}", "Video", "Yes"]
                writer.writerow([*row, f"{ors:.1f}", f"{srs:.1f}"])
                day += timedelta(days=7)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
