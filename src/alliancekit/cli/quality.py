"""``alliancekit quality``: the quality-measure reports (CMS159, HEDIS DRR-E and DMS, NHS Talking
Therapies, the measurement-based-care summary) as a table, or as JSON with ``--json``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alliancekit.cli.common import (
    STDIN,
    UsageError,
    add_clinic,
    add_db,
    add_json,
    cli_actor,
    existing_practice,
    input_file,
    iso_date,
    print_json,
    table,
)
from alliancekit.errors import ValidationError
from alliancekit.feedback.reports.quality import QualityReports, quality_reports
from alliancekit.security import bounded_json

#: One entry per excluded client: room for a practice's every client, refused far beyond that.
MAX_EXCLUSIONS_BYTES = 64_000_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "quality",
        help="print the quality-measure reports",
        description="Print CMS159, HEDIS DRR-E and DMS, NHS Talking Therapies outcomes and the "
        "measurement-based-care summary; what could not be computed is said, with why.",
    )
    add_db(parser)
    add_clinic(parser)
    parser.add_argument(
        "--today", metavar="YYYY-MM-DD", type=iso_date, help="the report date (default: today)"
    )
    parser.add_argument(
        "--year", type=int, metavar="YYYY", help="CMS159/DMS measurement year (default: --today's)"
    )
    parser.add_argument(
        "--exclusions",
        metavar="FILE",
        type=input_file,
        help="JSON object: client reference -> denominator exclusion the host's record shows; - reads it "
        "from stdin",
    )
    add_json(parser, "print JSON instead of a table")
    parser.set_defaults(run=run)


def _read(path: str) -> bytes:
    """The file's bytes, or standard input's for ``-`` (read once): no more than the bound, of any size."""
    if path == STDIN:
        return sys.stdin.buffer.read(MAX_EXCLUSIONS_BYTES + 1)
    with Path(path).open("rb") as handle:
        return handle.read(MAX_EXCLUSIONS_BYTES + 1)


def _exclusions(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        data = bounded_json.loads(_read(path), max_bytes=MAX_EXCLUSIONS_BYTES)
    except OSError as exc:
        raise UsageError(f"--exclusions {path}: {exc.strerror or 'cannot be read'}") from None
    except ValidationError as exc:  # not JSON, or out of bounds: the rule, never the content
        raise UsageError(f"--exclusions {path}: not JSON within bounds ({exc.rule})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise UsageError(f"--exclusions {path}: expected an object mapping client references to reasons")
    return data


def _lines(q: QualityReports) -> list[str]:
    c, d, m, t, b = q.cms159, q.drr_e, q.dms, q.talking_therapies, q.mbc
    rows = [
        ["CMS159", f"remission {c.year}" + (" (provisional)" if c.pending else ""), str(c.remission)],
        ["DRR-E", "follow-up PHQ-9", str(d.follow_up)],
        ["DRR-E", "remission", str(d.remission)],
        ["DRR-E", "response", str(d.response)],
        ["DMS", f"PHQ-9 utilisation {m.year}", str(m.total)],
        ["Talking Therapies", "recovery", str(t.recovery)],
        ["Talking Therapies", "reliable improvement", str(t.reliable_improvement)],
        ["Talking Therapies", "reliable recovery", str(t.reliable_recovery)],
        ["Talking Therapies", "reliable deterioration", str(t.reliable_deterioration)],
        ["MBC", "episodes measured more than once", str(b.monitored)],
        ["MBC", "episodes with a progress review", str(b.reviewed)],
    ]
    lines = [table(rows, ["report", "rate", "value"])]
    for name, items in (
        ("CMS159", c.unavailable),
        ("DRR-E", d.unavailable),
        ("DMS", m.unavailable),
        ("Talking Therapies", t.unavailable),
        ("MBC", b.unavailable),
        ("all", q.unreadable),
    ):
        lines += [f"not computed ({name}): {u.subject}: {u.reason}" for u in items]
    return lines


def run(args: argparse.Namespace) -> int:
    exclusions = _exclusions(args.exclusions)
    with existing_practice(args) as practice:
        actor = cli_actor(practice, args)
        reports = quality_reports(practice, actor, today=args.today, year=args.year, exclusions=exclusions)
    if args.json:
        print_json(reports.to_json())
    else:
        print("\n".join(_lines(reports)))
    return 0
