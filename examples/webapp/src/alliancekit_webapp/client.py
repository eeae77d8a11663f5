"""The client's pages: a measure opened from a link (``/r/<token>``) or a kiosk code (``/kiosk``), its form
posted back, then the thank-you or crisis page. Every refusal is the same page with the same status.
"""

from __future__ import annotations

import logging
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from alliancekit.errors import InvalidToken, StoreError, TooManyAttempts, UnknownMeasure, ValidationError
from alliancekit.requests import RequestForm
from alliancekit_webapp.pages import (
    crisis_page,
    kiosk_page,
    not_saved_page,
    questionnaire_page,
    refused_page,
    thanks_page,
)
from alliancekit_webapp.questionnaire import (
    Answered,
    form_parts,
    questionnaire_response,
    read_answers,
    refused_by_library,
    resent_fields,
)
from alliancekit_webapp.security import (
    CSRF_COOKIE,
    LINK_PREFIX,
    LINK_SCOPE_KEY,
    REDACTED,
    BadForm,
    query,
    read_form,
)
from alliancekit_webapp.state import AppState, state
from alliancekit_webapp.submitted import Outcome, Submitted
from alliancekit_webapp.text import words

#: The status of every refusal: the same whatever the reason, so a guesser learns nothing from it.
REFUSED_STATUS = 404
#: What the library raises for a token or code that cannot be used (and for a form it cannot take); a
#: request for a measure whose plugin is not installed (any more) cannot be answered either.
REFUSALS = (InvalidToken, TooManyAttempts, ValidationError, UnknownMeasure)
#: What the library raises at submission for a token that cannot be used; its ValidationError there is
#: about the answers, and the form comes back with them.
TOKEN_REFUSALS = (InvalidToken, TooManyAttempts, UnknownMeasure)
#: A store that failed: the answers were not saved and the client may send them again.
NOT_SAVED_STATUS = 503

logger = logging.getLogger(__name__)


def refused(language: str | None = None, error: Exception | None = None) -> HTMLResponse:
    if isinstance(error, UnknownMeasure):  # the host's to put right (install the plugin): its log says so
        logger.warning("a client's request was refused: %s", error)  # names the measure, never the client
    return HTMLResponse(refused_page(language), status_code=REFUSED_STATUS)


def _form_response(
    request: Request,
    app: AppState,
    token: str,
    form: RequestForm,
    *,
    kiosk: bool,
    answered: Answered | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    csrf, new = app.signer.csrf_cookie(request)
    questionnaire = form.questionnaire
    content_language = str(questionnaire.get("language") or form.language or "en")
    language = form.language or content_language
    title = str(questionnaire.get("title") or form.measure)
    hidden = {
        "csrf": app.signer.csrf_field(csrf),
        "token": token,
        "mode": "kiosk" if kiosk else "link",
        # the page language for a page that answers the post before the form is opened again (not "lang":
        # a field of that name would hide the form element's own lang property)
        "language": language,
    }
    html = questionnaire_page(
        title=title,
        language=language,
        content_language=content_language,
        parts=form_parts(questionnaire),
        action="/respond",
        hidden=hidden,
        answered=answered,
        notice=notice,
    )
    response = HTMLResponse(html, status_code=status)
    if new:
        app.signer.set_cookie(response, request, CSRF_COOKIE, csrf, None)
    return response


async def _open(app: AppState, token: str, language: str | None) -> RequestForm:
    """The request's form in ``language``; a language the library refuses (not a language tag) is dropped
    for the request's own, so an odd ``?lang=`` or ``language`` field does not make a good link look
    unusable. A token that cannot be used is refused as always."""
    try:
        return await run_in_threadpool(lambda: app.practice.open_request(token, language=language))
    except ValidationError as error:
        if language is None or error.field != "language":
            raise
    return await run_in_threadpool(lambda: app.practice.open_request(token))


async def link(request: Request) -> Response:
    """GET /r/<token>: the measure in the language the request was made for (or ``?lang=``)."""
    app = state(request)
    token = request.scope.get(LINK_SCOPE_KEY, "")  # never from the path: TokenOutOfPath took it out
    params = query(request)
    if params is None:  # a parameter named twice: refused, as a form that names a field twice is
        return refused()
    language = params.get("lang") or None
    try:
        form = await _open(app, token, language)
    except REFUSALS as error:
        return refused(language, error)
    return _form_response(request, app, token, form, kiosk=False)


async def kiosk(request: Request) -> Response:
    """GET /kiosk: the code form shown on the clinic's tablet."""
    app = state(request)
    params = query(request)
    if params is None:
        return refused()
    csrf, new = app.signer.csrf_cookie(request)
    response = HTMLResponse(kiosk_page(app.signer.csrf_field(csrf), params.get("lang")))
    if new:
        app.signer.set_cookie(response, request, CSRF_COOKIE, csrf, None)
    return response


async def kiosk_code(request: Request) -> Response:
    """POST /kiosk: redeem the code (rate-limited by the library per clinic and source address) and show
    the measure; its one-use token travels in the form, never in an address."""
    app = state(request)
    try:
        posted = await read_form(request)
    except BadForm:
        return refused()
    # the kiosk page's language (its hidden field) for the pages that answer this post; the measure
    # itself comes in the language the clinician chose for the request
    language = posted.get("lang") or None
    if not app.signer.csrf_ok(request, posted):
        return refused(language)
    code = posted.get("code", "").strip()
    if not code:
        csrf, _ = app.signer.csrf_cookie(request)
        page = kiosk_page(app.signer.csrf_field(csrf), language, missing=True)
        return HTMLResponse(page, status_code=422)
    cookie, _ = app.signer.csrf_cookie(request)
    key = app.signer.mac("kiosk", f"{app.signer.mac('browser', cookie)}\0{code}")
    async with app.submitted.claim(key):
        token = app.redeemed.recall(key)
        if token is not None:  # this browser posted this code a moment ago: its token, if still good
            try:
                form = await _open(app, token, None)
            except REFUSALS as error:
                return refused(language, error)
            return _form_response(request, app, token, form, kiosk=True)
        source = request.client.host if request.client else "unknown"
        try:
            form = await run_in_threadpool(
                lambda: app.practice.redeem_kiosk_code(app.settings.clinic_id, code, source=source)
            )
        except REFUSALS as error:
            return refused(language, error)
        if form.token is None:  # a redeemed code always carries its one-use token
            return refused(language)
        app.redeemed.remember(key, form.token)
        return _form_response(request, app, form.token, form, kiosk=True)


async def respond(request: Request) -> Response:
    """POST /respond: check the form, then submit it; the library validates, scores and records it, raises
    alerts and consumes the token in one commit. Posts of one token are handled one at a time, and a repeat
    of a recorded form from the same browser shows the page the first earned (:mod:`.submitted`)."""
    app = state(request)
    try:
        posted = await read_form(request)
    except BadForm:
        return refused()
    token = posted.get("token", "")
    if not token:
        return refused(posted.get("language") or None)
    key = app.signer.mac("token", token)
    async with app.submitted.claim(key):
        return await _respond(request, app, posted, token, key)


async def _respond(request: Request, app: AppState, posted: dict[str, str], token: str, key: str) -> Response:
    kiosk = posted.get("mode") == "kiosk"
    cookie, _ = app.signer.csrf_cookie(request)
    if app.signer.same_origin(request):
        outcome = app.submitted.recall(key, app.signer.mac("browser", cookie), posted.get("csrf", ""))
        if outcome is not None:
            return _outcome_page(outcome)
    try:
        # in the language the form was shown in (its hidden field), so the errors, the thank-you page and
        # the crisis information come in the language the client was reading, not the request's
        form = await _open(app, token, posted.get("language") or None)
    except REFUSALS as error:  # (expired while the client was answering, say): in their language too
        return refused(posted.get("language") or None, error)
    except StoreError as error:
        return _not_saved(posted, error)
    language = form.language or None
    if not app.signer.csrf_ok(request, posted):
        # a stale or foreign form: show it again with a fresh CSRF field rather than losing the answers
        parts = form_parts(form.questionnaire)
        answered = read_answers(parts, posted)
        notice = words(language)["form_expired"]
        return _form_response(
            request, app, token, form, kiosk=kiosk, answered=answered, notice=notice, status=403
        )
    parts = form_parts(form.questionnaire)
    answered = read_answers(parts, posted)
    if answered.errors:
        return _form_response(request, app, token, form, kiosk=kiosk, answered=answered, status=422)
    response = questionnaire_response(form.questionnaire, answered)
    try:
        submission = await run_in_threadpool(
            lambda: app.practice.submit_response(token, questionnaire_response=response, language=language)
        )
    except TOKEN_REFUSALS as error:
        return refused(language, error)
    except ValidationError as error:
        # the library refused an answer (the token is still good): the form again, answers kept, the
        # refusal shown by its question
        answered = refused_by_library(parts, answered, response, error)
        unplaced = None if answered.errors else words(language)["answers_refused"]
        return _form_response(
            request, app, token, form, kiosk=kiosk, answered=answered, notice=unplaced, status=422
        )
    except StoreError as error:
        return _not_saved(posted, error)
    # a new CSRF cookie with the outcome: the browser then drops the form pages, answers and all, from
    # its back/forward cache (Chrome keeps even no-store pages there until a cookie changes), and on the
    # kiosk tablet the next client starts afresh
    fresh = secrets.token_urlsafe(32)
    browsers = {app.signer.mac("browser", cookie)}
    if not kiosk:  # the client's own device: a reload or a second tab shows the outcome again
        browsers.add(app.signer.mac("browser", fresh))
    outcome = Outcome(
        crisis=submission.show_crisis_information,
        crisis_information=submission.crisis_information,
        language=language,
        kiosk=kiosk,
        browsers=frozenset(browsers),
        form_field=posted.get("csrf", ""),
        until=Submitted.expiry(),
    )
    app.submitted.remember(key, outcome)
    page = _outcome_page(outcome)
    app.signer.set_cookie(page, request, CSRF_COOKIE, fresh, None)
    return page


def _not_saved(posted: dict[str, str], error: StoreError) -> HTMLResponse:
    """The store failed, so nothing was saved and the token is still good: a page that says so and sends
    the same answers again with one button. The error goes to the log by its kind only (its text and
    cause may name the database), never to the client."""
    logger.error("a response could not be saved: %s", type(error).__name__)
    language = posted.get("language") or None
    return HTMLResponse(not_saved_page(language, resent_fields(posted)), status_code=NOT_SAVED_STATUS)


def _outcome_page(outcome: Outcome) -> HTMLResponse:
    if outcome.crisis:
        return HTMLResponse(crisis_page(outcome.language, outcome.crisis_information, kiosk=outcome.kiosk))
    return HTMLResponse(thanks_page(outcome.language, kiosk=outcome.kiosk))


async def home(request: Request) -> Response:
    return RedirectResponse("/kiosk", status_code=303)


routes = [
    Route("/", home),
    Route(LINK_PREFIX + REDACTED, link, methods=["GET"]),
    Route("/kiosk", kiosk, methods=["GET"]),
    Route("/kiosk", kiosk_code, methods=["POST"]),
    Route("/respond", respond, methods=["POST"]),
]
