"""``alliancekit caseload``: the open episodes of a clinic or one clinician."""

from __future__ import annotations

import argparse
import json

import attrs

from alliancekit.cli.common import add_clinic, add_db, cli_actor, existing_practice, print_json, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("caseload", help="list open episodes", description="List a caseload.")
    add_db(parser)
    add_clinic(parser)
    parser.add_argument("--clinician", metavar="ID", help="only this clinician's episodes")
    parser.add_argument("--all", action="store_true", help="include closed episodes")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with existing_practice(args.db) as practice:
        actor = cli_actor(practice, args)
        rows = practice.caseload(actor, clinician_id=args.clinician, include_closed=args.all)
    if args.json:
        print_json([{**attrs.asdict(r), "latest_scores": json.loads(r.latest_scores_json)} for r in rows])
        return 0
    if not rows:
        print("no episodes")
        return 0
    body = []
    for r in rows:
        scores = json.loads(r.latest_scores_json)
        body.append(
            [
                r.episode_id[:12],
                r.client_ref,
                r.clinician_id,
                r.stage,
                str(r.sessions_attended),
                str(r.last_session_on or "-"),
                " ".join(f"{k} {v:g}" for k, v in scores.items()) or "-",
                "due" if r.review_due else (str(r.next_review_at) if r.next_review_at else "-"),
            ]
        )
    headers = ["episode", "client", "clinician", "stage", "attended", "last session", "latest", "review"]
    print(table(body, headers))
    print(f"{len(rows)} episode(s)")
    return 0
