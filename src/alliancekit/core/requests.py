"""The flows of measures the client fills in, on the guarded path: making requests and kiosk codes (commands
of the table, as the clinician), opening a request, redeeming a kiosk code and submitting answers (as the
request's client: the token names the episode and the request, so the actor is the library's to make).

Every refusal of a token is the one :class:`~alliancekit.errors.InvalidToken`, whatever the reason. A
refused use of a known request (expired, used, revoked, its episode closed) is a failed access attempt on a
client's record: one ``refused`` entry in the request's clinic names the request and the reason, before the
error. A token that names no request writes nothing (there is no clinic to file it in, and anyone could fill
the log). A wrong kiosk code is audited and counted against its clinic and source, in the store, so the
limit holds across processes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from alliancekit.core.command_table import COMMANDS
from alliancekit.core.request_commands import check_language, link_for
from alliancekit.core.runner import RecordedWithId, Runner
from alliancekit.core.services import Services
from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_clinic, check_text
from alliancekit.domain.records import Administration
from alliancekit.domain.vocab import AdministrationTiming, Purpose, RequestPoint, Role
from alliancekit.errors import AccessDenied, InvalidToken, LifecycleError, TooManyAttempts
from alliancekit.events.types import AlertRaised, ClientResponseRecorded
from alliancekit.i18n import translate
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.requests.answers import questionnaire_for, submitted_answers
from alliancekit.requests.config import DEFAULT_CRISIS_INFORMATION
from alliancekit.requests.tokens import (
    code_hash,
    new_kiosk_code,
    new_token,
    normalise_code,
    source_key,
    token_hash,
    token_shaped,
)
from alliancekit.requests.types import AdministrationRequest, KioskCode, RequestForm, Submission
from alliancekit.security.policy import Action
from alliancekit.store.protocol import RequestRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The actor of a refused use of a request: whoever holds the token is not known to be the client, so the
#: entry names no one (the marker of a call without an actor, :meth:`Guard.require_actor`).
_NO_ONE = "(none)"
#: What a lifecycle rule's identifier looks like (``episode-on-hold``, ``date-order``).
_RULE_ID = re.compile(r"[a-z][a-z0-9-]{0,39}")


class RequestFlows:
    """The request flows of one practice, over its services and runner."""

    def __init__(self, services: Services, runner: Runner) -> None:
        self.s = services
        self.runner = runner

    # -- the clinician's side: commands of the table ------------------------------------------------------

    def request(self, actor: object, episode_id: object, key: object, **args: Any) -> AdministrationRequest:
        token, now = new_token(), self.s.clock()
        made = self._run("request_administration", actor, episode_id, key, args, token=token, now=now)
        record = self._made(made)
        fresh = not made.duplicate
        return AdministrationRequest(
            request_id=record.request_id,
            episode_id=record.episode_id,
            measure=record.measure_id,
            version=record.version,
            point=RequestPoint(record.point),
            expires_at=record.expires_at,
            remind_at=record.remind_at,
            session_id=record.session_id,
            language=record.language,
            token=token if fresh else None,
            link=link_for(self.s.requests.link_template, token) if fresh else None,
            duplicate=made.duplicate,
        )

    def kiosk_code(self, actor: object, episode_id: object, key: object, **args: Any) -> KioskCode:
        code, now = new_kiosk_code(self.s.requests.kiosk_code_length), self.s.clock()
        made = self._run("kiosk_code", actor, episode_id, key, args, code=code, now=now)
        if made.duplicate:  # the code was shown once; a repeat cannot show it again
            raise InvalidToken()
        record = self._made(made)
        return KioskCode(
            request_id=record.request_id,
            episode_id=record.episode_id,
            code=code,
            valid_on=now.astimezone(self.s.zone(record.clinic_id)).date(),
            expires_at=record.expires_at,
            measure=record.measure_id,
            version=record.version,
        )

    def _run(
        self, name: str, actor: object, episode_id: object, key: object, args: dict[str, Any], **private: Any
    ) -> RecordedWithId:
        result: RecordedWithId = self.runner.run(
            COMMANDS[name], actor, episode_id, args, idempotency_key=key, private=private
        )
        return result

    def _made(self, made: RecordedWithId) -> RequestRecord:
        found = self.s.reader.request(self._clinic_of(made), made.record_id)
        assert found is not None  # noqa: S101 - written by the commit that just returned
        return found

    def _clinic_of(self, made: RecordedWithId) -> str:
        state, _ = self.s.reader.state(made.episode_id)
        return state.clinic_id

    # -- the client's side: through a token or a kiosk code -------------------------------------------------

    def _live(self, token: object, action: str) -> RequestRecord:
        """The live request ``token`` names, or the one refusal for every reason (audited when it names
        a request)."""
        if not token_shaped(token):
            raise InvalidToken()
        assert isinstance(token, str)  # noqa: S101 - by its shape
        found = self.s.reader.request_by_token(token_hash(token))
        if found is None:
            raise InvalidToken()
        now = self.s.clock()
        if not found.live(now):
            self._refuse(found, action, _why(found, now))
        return found

    def _refuse(self, record: RequestRecord, action: str, reason: str) -> NoReturn:
        """Audit a refused use of a known request in its clinic (the request's id and the reason: no token,
        no client), durably, then refuse it with the one error that does not say why."""
        holder = Actor(_NO_ONE, Role.CLIENT, clinic_id=record.clinic_id, purpose=Purpose.CLIENT_ACCESS)
        self.s.guard.audit(holder, action, "request", record.request_id, outcome="refused", detail=reason)
        raise InvalidToken() from None  # nothing chained: a traceback must not say why either

    def _client(self, record: RequestRecord, action: str) -> tuple[Actor, EpisodeState]:
        """The request's client, as the actor of what is done through its token, and the episode (a closed
        episode's requests cannot be used: the same refusal as any other)."""
        state, _ = self.s.reader.state(record.episode_id)
        if not state.is_open:
            self._refuse(record, action, "closed")
        actor = Actor(
            state.client_ref, Role.CLIENT, clinic_id=record.clinic_id, purpose=Purpose.CLIENT_ACCESS
        )
        return actor, state

    def _form(self, record: RequestRecord, language: str | None, token: str | None = None) -> RequestForm:
        lang = language or record.language
        measure = self.s.installed_measure(record.measure_id, record.version)
        return RequestForm(
            request_id=record.request_id,
            measure=record.measure_id,
            version=record.version,
            point=RequestPoint(record.point),
            language=lang,
            questionnaire=questionnaire_for(measure, lang),
            expires_at=record.expires_at,
            token=token,
        )

    def open(self, token: object, language: object) -> RequestForm:
        lang = None if language is None else check_language("language", language)
        record = self._live(token, Action.OPEN_REQUEST)
        guard = self.s.guard
        actor, state = self._client(record, Action.OPEN_REQUEST)
        # a request for a measure whose plugin is gone is refused by name before the entry: it writes nothing
        form = self._form(record, lang)
        guard.allow(actor, Action.OPEN_REQUEST, "request", record.request_id, state)
        guard.audit(actor, Action.OPEN_REQUEST, "request", record.request_id, state)
        return form

    def redeem(self, clinic_id: object, code: object, source: object, language: object) -> RequestForm:
        clinic = check_clinic("clinic_id", clinic_id)
        who = source_key(check_text("source", source, required=True, max_len=200))
        lang = None if language is None else check_language("language", language)
        s = self.s
        now = s.clock()
        window = _window(now, s.requests.kiosk_window)
        kiosk = Actor(f"kiosk-{who[:16]}", Role.CLIENT, clinic_id=clinic, purpose=Purpose.CLIENT_ACCESS)
        if s.reader.kiosk_failures(clinic, who, window) >= s.requests.kiosk_attempts:
            s.guard.audit(kiosk, Action.REDEEM_KIOSK_CODE, "kiosk", clinic, outcome="refused", detail="limit")
            raise TooManyAttempts()
        typed = normalise_code(code)
        if typed is None:
            self._wrong_code(kiosk, clinic, who, window)
        hashed = code_hash(clinic, typed)
        # Found, not yet redeemed: every refusal below (the episode closed, the measure's plugin gone, the
        # policy) comes before the one write that gives the code its token, so a refusal writes nothing but
        # the audit entry the design asks for.
        record = s.reader.kiosk_code(clinic, hashed, now)
        if record is None:
            self._wrong_code(kiosk, clinic, who, window)
        actor, state = self._client(record, Action.REDEEM_KIOSK_CODE)
        token = new_token()
        form = self._form(record, lang, token)  # a measure whose plugin is gone: refused by name
        s.guard.allow(actor, Action.REDEEM_KIOSK_CODE, "request", record.request_id, state)
        if s.reader.requests.redeem_code(clinic, hashed, token_hash(token), now) is None:
            # Redeemed (or revoked) by another call since it was read: a code no longer live, as any other.
            self._wrong_code(kiosk, clinic, who, window)
        s.guard.audit(actor, Action.REDEEM_KIOSK_CODE, "request", record.request_id, state)
        return form

    def _wrong_code(self, kiosk: Actor, clinic: str, who: str, window: datetime) -> NoReturn:
        """Count a code that names no live kiosk code against its clinic and source, audit it, refuse it."""
        self.s.reader.requests.count_failure(clinic, who, window)
        self.s.guard.audit(kiosk, Action.REDEEM_KIOSK_CODE, "kiosk", clinic, outcome="refused")
        raise InvalidToken()

    def submit(
        self, token: object, answers: object, questionnaire_response: object, language: object
    ) -> Submission:
        lang = None if language is None else check_language("language", language)
        record = self._live(token, Action.ANSWER_MEASURES)
        # The token's refusals first, a closed episode's too (audited), as opening it and redeeming a code
        # have them: whether the request can be used at all comes before what it asks for.
        client = self._client(record, Action.ANSWER_MEASURES)[0]
        lang = lang or record.language
        measure = self.s.installed_measure(record.measure_id, record.version)  # refused before any write
        given = submitted_answers(measure, answers, questionnaire_response)
        timing = AdministrationTiming.START if record.point == "start" else AdministrationTiming.END
        administration = Administration(measure.id, measure.version, timing, given)
        now = self.s.clock()
        try:
            made: RecordedWithId = self.runner.run(
                COMMANDS["submit_response"],
                client,
                record.episode_id,
                {"request": record, "administration": administration},
                private={"now": now},
            )
        except AccessDenied:
            # The client changed since the request was made (the guard audited the refusal): the link is no
            # longer usable, and saying why would tell whoever holds it about the record.
            raise InvalidToken() from None
        except LifecycleError as refused:  # most likely closed since it was seen open; else another rule
            self._refuse(record, Action.ANSWER_MEASURES, lifecycle_reason(refused))
        except InvalidToken:
            # The store found it no longer live at the commit (another submission took it, or it expired
            # or was revoked meanwhile): the reason as the store now has it.
            fresh = self.s.reader.request(record.clinic_id, record.request_id) or record
            self._refuse(record, Action.ANSWER_MEASURES, _why(fresh, now))
        return self._submission(record, made, administration, lang)

    def _submission(
        self,
        record: RequestRecord,
        made: RecordedWithId,
        administration: Administration,
        language: str | None,
    ) -> Submission:
        # The commit's own events: the response and any alerts it raised (the alert rules run in its commit).
        # (A commit writes the response and at most one alert per rule, so the last 64 events hold it all.)
        written = [
            e.event
            for e in self.s.reader.entries(
                made.episode_id, (ClientResponseRecorded.TYPE, AlertRaised.TYPE), after=made.version - 64
            )
            if e.seq <= made.version
        ]
        response = next(
            e
            for e in reversed(written)
            if isinstance(e, ClientResponseRecorded) and e.request_id == record.request_id
        )
        assert isinstance(response, ClientResponseRecorded)  # noqa: S101 - by its type
        start = written.index(response)
        raised = [e for e in written[start + 1 :] if isinstance(e, AlertRaised)]
        [score] = response.scores
        crisis = bool(score.risk_items)
        text = None
        if crisis:
            own = self.s.requests.crisis_information.get(record.clinic_id)
            text = own if own is not None else translate(DEFAULT_CRISIS_INFORMATION, language)
        return Submission(
            episode_id=made.episode_id,
            version=made.version,
            request_id=record.request_id,
            administration=administration,
            total=score.total,
            band=score.band,
            show_crisis_information=crisis,
            crisis_information=text,
            alerts=tuple(a.alert_id for a in raised),
        )


def lifecycle_reason(refused: LifecycleError) -> str:
    """The audit reason of a use a lifecycle rule refused: ``closed`` for a closed episode (the reason when it
    was seen closed), else ``lifecycle-<rule>``; a rule that is not an identifier gives ``lifecycle`` (a
    reason is a fixed code, never free text)."""
    if refused.rule == "episode-closed":
        return "closed"
    return f"lifecycle-{refused.rule}" if _RULE_ID.fullmatch(refused.rule) else "lifecycle"


def _why(record: RequestRecord, now: datetime) -> str:
    """Why a request is not live at ``now``, for its audit entry: used, revoked or expired."""
    if record.used_at is not None:
        return "used"
    if record.revoked_at is not None:
        return "revoked"
    return "expired" if now >= record.expires_at else "used"


def _window(now: datetime, width: timedelta) -> datetime:
    """The start of the fixed window ``now`` falls in (windows of ``width`` from the epoch)."""
    return _EPOCH + ((now - _EPOCH) // width) * width
