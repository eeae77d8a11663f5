"""The command-table builders of administration requests: making one (a link or a kiosk code), revoking one,
and recording the client's answers through one. Each sets the request row its commit writes
(``Context.request``) and, for a link, the messages that carry it (``Context.messages``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from alliancekit.domain.checks import check_text
from alliancekit.domain.records import Administration
from alliancekit.domain.vocab import AdministrationTiming, Rater, RequestPoint
from alliancekit.errors import ValidationError
from alliancekit.lifecycle import commands as c
from alliancekit.notify.outbox import BODY_VERSION, message_id
from alliancekit.requests.tokens import code_hash, token_hash
from alliancekit.store.protocol import OutboxRecord, RequestRecord, RequestWrite

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.core.runner import Context

REQUEST_KIND = "administration-request"
REMINDER_KIND = "administration-reminder"
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,4}")


def check_language(field: str, value: Any) -> str:
    """A BCP 47 language tag (``es``, ``fr-CA``)."""
    text = check_text(field, value, required=True, max_len=40)
    if not _LANGUAGE.fullmatch(text):
        raise ValidationError(field, "format", "a BCP 47 language tag such as es or fr-CA")
    return text


def link_for(template: str | None, token: str) -> str | None:
    return None if template is None else template.replace("{token}", token)


def build_request(channel: str) -> Any:
    """The builder of a link request (``link``) or a kiosk code (``kiosk``)."""

    def build(ctx: Context, a: Mapping[str, Any]) -> c.Command:
        s = ctx.services
        now: datetime = ctx.private["now"]
        measure = s.installed_measure(a["measure"])
        if Rater.CLIENT not in measure.raters:
            raise ValidationError("measure", "rater-not-allowed", "the client does not complete this measure")
        clinic = ctx.actor.clinic_id
        zone = s.zone(clinic)
        day = now.astimezone(zone).date()
        request_id = ctx.new_id("request")
        session_id = a["session_id"]
        known = session_known(ctx, session_id)
        remind: datetime | None = None
        if channel == "kiosk":
            expires = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
            token, code = None, code_hash(clinic, ctx.private["code"])
        else:
            config = s.requests
            expires = now + (a["expires_in"] or config.expires_in)
            after = a["remind_after"] or config.remind_after
            remind = now + after if after is not None and now + after < expires else None
            token, code = token_hash(ctx.private["token"]), None
        record = RequestRecord(
            clinic_id=clinic,
            request_id=request_id,
            episode_id=ctx.episode_id,
            measure_id=measure.id,
            version=measure.version,
            point=a["point"].value,
            created_at=now,
            expires_at=expires,
            session_id=session_id,
            language=a.get("language"),
            remind_at=remind,
            token_hash=token,
            code_hash=code,
        )
        ctx.request = RequestWrite("create", clinic, request_id, now, record)
        link = link_for(s.requests.link_template, ctx.private.get("token", ""))
        if channel == "link" and link is not None:
            ctx.messages = _messages(ctx, record, link)
        return c.RequestAdministration(
            request_id, measure.id, measure.version, a["point"], channel, day, expires, session_id, known
        )

    return build


def _messages(ctx: Context, record: RequestRecord, link: str) -> list[OutboxRecord]:
    """The request's message now and its reminder at ``remind_at``, to each subscribed channel: the link,
    the request and when it expires; nothing clinical (not even which measure)."""
    subscriptions = ctx.services.subscriptions
    out = []
    due = [(REQUEST_KIND, record.created_at)]
    if record.remind_at is not None:
        due.append((REMINDER_KIND, record.remind_at))
    for kind, at in due:
        for channel in subscriptions.channels(kind):
            mid = message_id(record.request_id, kind, channel)
            body = {
                "message_id": mid,
                "v": BODY_VERSION,
                "kind": kind,
                "episode_id": record.episode_id,
                "clinic_id": record.clinic_id,
                "occurred_at": at.isoformat(),
                "request_id": record.request_id,
                "link": link,
                "expires_at": record.expires_at.isoformat(),
            }
            # Both are written now; the reminder is due at its own later time. A message due when written
            # is due at once, whatever the clock does after (see OutboxRecord): a reminder dated when due
            # would go at once after a clock step back, days early.
            out.append(
                OutboxRecord(
                    mid,
                    record.episode_id,
                    kind,
                    channel,
                    json.dumps(body, separators=(",", ":")),
                    record.created_at,
                    next_attempt_at=None if at == record.created_at else at,
                )
            )
    return out


def reminder_ids(ctx: Context, request_id: str) -> tuple[str, ...]:
    """The request's reminder messages, settled unsent when it is used or revoked first."""
    return tuple(
        message_id(request_id, REMINDER_KIND, channel)
        for channel in ctx.services.subscriptions.channels(REMINDER_KIND)
    )


def build_revoke(ctx: Context, a: Mapping[str, Any]) -> c.Command:
    s = ctx.services
    now = s.clock()
    clinic = ctx.actor.clinic_id
    found = s.reader.request(clinic, a["request_id"])
    revocable = (
        found is not None
        and found.episode_id == ctx.episode_id
        and found.used_at is None
        and found.revoked_at is None
        # one the actor's view leaves out (a lockbox on the sessions) is answered as one never made
        and ctx.seen(a["request_id"])
    )
    if revocable:
        ctx.request = RequestWrite(
            "revoke", clinic, a["request_id"], now, cancel_messages=reminder_ids(ctx, a["request_id"])
        )
    return c.RevokeRequest(a["request_id"], now.astimezone(s.zone(clinic)).date(), revocable)


def session_known(ctx: Context, session_id: str | None) -> bool:
    """Whether the session a caller names (if any) is one their view of the episode shows: one it leaves out
    is answered as an unknown one (:meth:`Context.named_session`), by the lifecycle rule, as not found."""
    return session_id is None or ctx.named_session(session_id) is not None


def _at_session(ctx: Context, point: RequestPoint, session_id: str | None) -> int:
    """The session a response counts at: the named session's, else the next one's for the start of a
    session, else the last one's (0 before any)."""
    bound = None if session_id is None else ctx.session(session_id)
    if bound is not None:
        return bound.number
    return ctx.state.sessions_scheduled + (1 if point is RequestPoint.START else 0)


def build_response(ctx: Context, a: Mapping[str, Any]) -> c.Command:
    s = ctx.services
    request: RequestRecord = a["request"]
    now: datetime = ctx.private["now"]
    point = RequestPoint(request.point)
    ctx.request = RequestWrite(
        "consume",
        request.clinic_id,
        request.request_id,
        now,
        cancel_messages=reminder_ids(ctx, request.request_id),
    )
    administration = a["administration"]
    return c.RecordClientResponse(
        request.request_id,
        point,
        _at_session(ctx, point, request.session_id),
        now.astimezone(s.zone(request.clinic_id)).date(),
        administration,
        ctx.score([administration]),
        request.session_id,
        now,
    )


def build_recorded_response(ctx: Context, a: Mapping[str, Any]) -> c.Command:
    """A measure the client filled in elsewhere (on paper, in another system), recorded for them by a
    clinician: the same event as an answer through a request, so scores, alerts and due measures treat it
    the same. Checked here: it is the client's own answers, to a measure clients complete, at a point its
    timing allows; a named session the episode does not have (or the actor's view leaves out) is a failed
    lookup, refused by the lifecycle rule as a request's is."""
    s = ctx.services
    administration: Administration = a["administration"]
    if administration.rater is not Rater.CLIENT or administration.about is not None:
        raise ValidationError(
            "administration.rater", "not-the-client", "only the client's own answers about themselves"
        )
    measure = s.installed_measure(administration.measure_id, administration.version)
    if Rater.CLIENT not in measure.raters:
        raise ValidationError("measure", "rater-not-allowed", "the client does not complete this measure")
    responded_at: datetime = a["responded_at"]  # not after today: refused with the inputs' checks
    responded_on = responded_at.astimezone(s.zone(ctx.actor.clinic_id)).date()
    session_id = a["session_id"]
    start = administration.timing is AdministrationTiming.START
    point = a["point"] or (
        RequestPoint.START if start else RequestPoint.END if session_id is not None else RequestPoint.BETWEEN
    )
    if (point is RequestPoint.START) != start:
        raise ValidationError("point", "timing-mismatch", "start for a start-of-session administration")
    return c.RecordClientResponse(
        None,
        point,
        _at_session(ctx, point, session_id),
        responded_on,
        administration,
        ctx.score([administration]),
        session_id,
        responded_at,
        session_known(ctx, session_id),
    )
