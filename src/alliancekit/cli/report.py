"""``alliancekit report``: write the self-contained HTML feedback report of a practice."""

from __future__ import annotations

import argparse

from alliancekit.cli.common import (
    STDOUT,
    add_clinic,
    add_db,
    add_json,
    add_replace,
    check_files_in,
    cli_actor,
    existing_practice,
    iso_date,
    not_with,
    output,
    output_path,
    print_json,
)
from alliancekit.feedback.reports import render_report, write_report

#: The file the report writes into its ``--out`` directory.
REPORT = "report.html"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "report",
        help="write the HTML feedback report",
        description="Write report.html: the attention list, practice outcomes and a progress chart per open "
        "episode. One self-contained file: no scripts, no external assets.",
    )
    add_db(parser)
    add_clinic(parser)
    parser.add_argument(
        "--out",
        type=output_path,
        required=True,
        metavar="DIR",
        help="directory to write report.html into, or - for stdout",
    )
    parser.add_argument(
        "--today",
        metavar="YYYY-MM-DD",
        type=iso_date,
        help="the date the attention list is for (default: today)",
    )
    parser.add_argument(
        "--max-charts",
        type=int,
        default=200,
        metavar="N",
        help="progress charts at most (default: %(default)s)",
    )
    add_replace(parser, "report.html in --out")
    add_json(
        parser,
        'print {"ok": true, "out": DIR, "file": DIR/report.html} as JSON (not with --out -, where standard '
        "output is the report itself)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.json and args.out == STDOUT:
        raise not_with("--json", "--out -", "standard output is the report itself")
    check_files_in("--out", args.out, [REPORT], replace=args.replace)  # before the reads the report audits
    with existing_practice(args) as practice:
        actor = cli_actor(practice, args)
        if args.out == STDOUT:
            with output(STDOUT) as handle:
                handle.write(render_report(practice, actor, today=args.today, max_charts=args.max_charts))
            return 0
        path = write_report(practice, actor, args.out, today=args.today, max_charts=args.max_charts)
    if args.json:
        print_json({"ok": True, "out": args.out, "file": str(path)})
        return 0
    print(f"wrote {path}")
    return 0
