"""``alliancekit report``: write the self-contained HTML feedback report of a practice."""

from __future__ import annotations

import argparse
from datetime import date

from alliancekit.cli.common import add_clinic, add_db, cli_actor, existing_practice
from alliancekit.errors import ValidationError
from alliancekit.feedback.reports import write_report


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "report",
        help="write the HTML feedback report",
        description="Write report.html: the attention list, practice outcomes and a progress chart per open "
        "episode. One self-contained file: no scripts, no external assets.",
    )
    add_db(parser)
    add_clinic(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write report.html into")
    parser.add_argument(
        "--today", metavar="YYYY-MM-DD", help="the date the attention list is for (default: today)"
    )
    parser.add_argument(
        "--max-charts",
        type=int,
        default=200,
        metavar="N",
        help="progress charts at most (default: %(default)s)",
    )
    parser.set_defaults(run=run)


def _today(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError("--today", "date", "YYYY-MM-DD expected") from None


def run(args: argparse.Namespace) -> int:
    today = _today(args.today)
    with existing_practice(args.db) as practice:
        actor = cli_actor(practice, args)
        path = write_report(practice, actor, args.out, today=today, max_charts=args.max_charts)
    print(f"wrote {path}")
    return 0
