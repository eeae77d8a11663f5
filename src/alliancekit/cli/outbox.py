"""``alliancekit outbox``: the notification outbox of a practice database (status, dispatch, retry)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import attrs

from alliancekit import OutboxRecord, OutboxState
from alliancekit.cli.common import UsageError, add_db, add_json, existing_practice, print_json, table
from alliancekit.errors import NotFoundError

#: The most messages one ``outbox dispatch`` takes (``Practice.dispatch_pending``'s bound).
MAX_LIMIT = 1_000_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "outbox", help="notification outbox: status, dispatch, retry", description="The notification outbox."
    )
    commands = parser.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")

    status = commands.add_parser(
        "status",
        help="messages by state and when the first pending one is due",
        description="Count the outbox's messages by state and show when the first pending one is due (a "
        "time past: the dispatcher is behind since then; a time to come: a reminder, say, not due yet).",
    )
    add_db(status)
    status.add_argument(
        "--dead", action="store_true", help="also list dead messages (a request's link is never shown)"
    )
    add_json(status)
    status.set_defaults(run=run_status)

    dispatch = commands.add_parser(
        "dispatch",
        help="deliver due messages now through the installed notification plugins",
        description="Deliver the messages that are due now through the installed notification plugins "
        "(alliancekit-smtp, alliancekit-webhook); without one, nothing is dispatched (exit 2).",
    )
    add_db(dispatch)
    dispatch.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"at most N messages, from 1 to {MAX_LIMIT:,} (default: all due)",
    )
    add_json(dispatch)
    dispatch.set_defaults(run=run_dispatch)

    retry = commands.add_parser(
        "retry",
        help="put dead messages back to pending",
        description="Put a dead message (or every one, with --all-dead) back to pending, so that the next "
        "dispatch tries it again: after fixing what refused them for good (a channel's password, say).",
    )
    add_db(retry)
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("message_id", metavar="ID", nargs="?", help="the message id (its idempotency key)")
    which.add_argument("--all-dead", action="store_true", help="every dead message of the practice")
    add_json(retry, 'print {"pending_again": N} as JSON')
    retry.set_defaults(run=run_retry)


def run_status(args: argparse.Namespace) -> int:
    with existing_practice(args) as practice:
        status = practice.outbox_status()
        dead = practice.outbox_records(OutboxState.DEAD) if args.dead else []
    if args.json:
        data = attrs.asdict(status)
        if args.dead:
            data["dead_messages"] = [_as_json(m) for m in dead]
        print_json(data)
        return 0
    # by when it is due, not when it was written: a reminder is written with its request, days before
    due = status.next_due_at.isoformat() if status.next_due_at else "-"
    print(f"pending {status.pending}, delivered {status.delivered}, dead {status.dead}")
    print(f"next due: {due}")
    if args.dead and dead:
        headers = ["message", "kind", "channel", "episode", "attempts", "last error"]
        print(table([list(_row(m).values()) for m in dead], headers))
    return 0


def _as_json(m: OutboxRecord) -> dict[str, Any]:
    """A message as a JSON object, its body decoded: as ``Practice.outbox_records`` shows it, without a
    request's link (``has_link`` says there was one)."""
    data = attrs.asdict(m)
    data["body"] = json.loads(data.pop("body_json"))
    return data


def _row(m: OutboxRecord) -> dict[str, str]:
    return {
        "message_id": m.message_id,
        "kind": m.kind,
        "channel": m.channel,
        "episode_id": m.episode_id,
        "attempts": str(m.attempts),
        "last_error": m.last_error or "-",
    }


def run_dispatch(args: argparse.Namespace) -> int:
    if args.limit is not None and not 1 <= args.limit <= MAX_LIMIT:  # before the practice or channels
        raise UsageError(f"--limit: from 1 to {MAX_LIMIT:,}")
    with existing_practice(args) as practice:
        channels = practice.plugins.notifiers()
        # A plugin whose settings are wrong registers nothing: say which, not only that none is here.
        problems = [f"notification plugin {plugin}: {what}" for plugin, what in channels.problems]
        if not len(channels):
            why = "; ".join(problems) or "install and configure alliancekit-smtp or alliancekit-webhook"
            raise UsageError(f"no notification channel is registered here ({why}); nothing dispatched")
        for problem in problems:
            print(f"alliancekit: warning: {problem}", file=sys.stderr)
        summary = practice.dispatch_pending(limit=args.limit)
        status = practice.outbox_status()
    if args.json:
        print_json({"dispatched": attrs.asdict(summary), "status": attrs.asdict(status)})
        return 0
    print(
        f"claimed {summary.claimed}: delivered {summary.delivered}, failed {summary.failed} "
        f"(timed out {summary.timed_out}), dead {summary.dead}"
    )
    print(f"now pending {status.pending}, delivered {status.delivered}, dead {status.dead}")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    with existing_practice(args) as practice:
        if args.all_dead:
            requeued = _retry_all_dead(practice)
            line = f"{requeued} dead messages are pending again"
        elif practice.retry_message(args.message_id):
            # not the id: a message key may be built from a client's data (the refusal below says none)
            requeued, line = 1, "the message is pending again"
        else:
            raise NotFoundError("dead message", args.message_id)
    if args.json:
        print_json({"pending_again": requeued})
    else:
        print(line)
    return 0


#: Dead messages read at a time by ``outbox retry --all-dead``.
RETRY_PAGE = 1000


def _retry_all_dead(practice: Any, page_size: int | None = None) -> int:
    """Every dead message back to pending, a page at a time, each once: the pages follow the messages' order
    (a message keeps its place as its state changes), so one that a dispatcher running meanwhile kills
    again is behind the next page and is not put back a second time, however many there are."""
    size = page_size or RETRY_PAGE
    requeued = 0
    after: str | None = None
    while page := practice.outbox_records(OutboxState.DEAD, limit=size, after=after):
        for record in page:
            requeued += bool(practice.retry_message(record.message_id))
        after = page[-1].message_id
    return requeued
