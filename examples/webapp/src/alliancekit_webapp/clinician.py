"""The clinician's pages: sign-in (the example's own, see :class:`~alliancekit_webapp.state.Settings`), the
attention list and caseload, an episode's scores, alerts and progress chart, and sending a measure (a link
shown once, or a kiosk code). Everything is read through the facade as the signed-in clinician.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from html import escape
from typing import Protocol, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from alliancekit import Actor, AdministrationRequest, AlertState, CaseloadRow, KioskCode, Practice, Role
from alliancekit.errors import AccessDenied, LifecycleError, NotFoundError, ValidationError
from alliancekit.feedback.reports import (
    AttentionItem,
    ProgressChart,
    attention_list,
    chart_rows,
    chart_summary,
    chart_svg,
    progress_chart,
)
from alliancekit_webapp.pages import csrf_input, error_summary, page
from alliancekit_webapp.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    BadForm,
    check_passphrase,
    read_form,
    svg_policy,
)
from alliancekit_webapp.state import AppState, Settings, state
from alliancekit_webapp.throttle import account_key

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: An unknown episode, one outside the clinician's caseload, and a bad form all get this page.
NOT_FOUND = "<h1>Not found</h1><p>There is no such page, or it is not yours to see.</p>"


def _actor(request: Request, app: AppState) -> Actor | None:
    session = app.signer.session(request)
    if session is None or session[1] in app.signed_out or session[0] not in app.settings.clinicians:
        return None
    return Actor(session[0], Role.CLINICIAN, app.settings.clinic_id)


def _csrf(request: Request, app: AppState) -> tuple[str, str | None]:
    """The CSRF field for this page's forms, and a cookie to set when the browser had none."""
    cookie, new = app.signer.csrf_cookie(request)
    return app.signer.csrf_field(cookie), cookie if new else None


def _page(
    request: Request, app: AppState, title: str, body: str, actor: Actor | None, status: int = 200
) -> Response:
    nav = ""
    if actor is not None:
        field, _ = _csrf(request, app)
        nav = (
            '<nav aria-label="Clinician"><ul><li><a href="/clinician">Attention list</a></li><li>'
            f'<form method="post" action="/clinician/sign-out">{csrf_input(field)}'
            '<button type="submit" class="secondary">Sign out</button></form></li></ul></nav>'
        )
    html = page(title, body, brand="alliancekit reference app", nav=nav, wide=True)
    response = HTMLResponse(html, status_code=status)
    cookie, new = app.signer.csrf_cookie(request)
    if new:
        app.signer.set_cookie(response, request, CSRF_COOKIE, cookie, None)
    return response


#: Why a sign-in was refused, as the error summary says it.
WRONG = "The clinician id or passphrase is not right"
TOO_MANY = "Too many wrong sign-ins from here. Wait {minutes} minutes and try again"
TOO_MANY_FOR_ID = "Too many wrong sign-ins for this clinician id. Wait {minutes} minutes and try again"


def _sign_in_form(field: str, failed: bool, problem: str = WRONG) -> str:
    error = error_summary("There is a problem", [("user", escape(problem))]) if failed else ""
    return (
        f"<h1>Clinician sign-in</h1>{error}"
        '<p class="muted">The example\'s own sign-in: a host signs its staff in its own way.</p>'
        f'<form method="post" action="/clinician/sign-in" novalidate>{csrf_input(field)}'
        '<div class="form-row"><label class="field" for="user">Clinician id</label>'
        '<input type="text" id="user" name="user" autocomplete="username" required></div>'
        '<div class="form-row"><label class="field" for="passphrase">Passphrase</label>'
        '<input type="password" id="passphrase" name="passphrase" autocomplete="current-password" required>'
        '</div><button type="submit">Sign in</button></form>'
    )


async def sign_in_form(request: Request) -> Response:
    app = state(request)
    field, _ = _csrf(request, app)
    return _page(request, app, "Clinician sign-in", _sign_in_form(field, failed=False), None)


async def sign_in(request: Request) -> Response:
    app = state(request)
    try:
        posted = await read_form(request)
    except BadForm:
        return _page(request, app, "Not found", NOT_FOUND, None, 404)
    field, _ = _csrf(request, app)
    if not app.signer.csrf_ok(request, posted):
        return _page(request, app, "Clinician sign-in", _sign_in_form(field, failed=True), None, 403)
    source = request.client.host if request.client else "unknown"
    user = posted.get("user", "").strip()
    account = account_key(user)
    # checked before hashing: a guesser gets no answer and costs little. The id's count is kept for any id
    # typed, a clinician's or not, so its refusal is the same either way and tells no guesser which exist.
    for throttle, key, problem in (
        (app.throttle, source, TOO_MANY),
        (app.account_throttle, account, TOO_MANY_FOR_ID),
    ):
        if throttle.blocked(key):
            minutes = math.ceil(throttle.window / 60)
            form = _sign_in_form(field, failed=True, problem=problem.format(minutes=minutes))
            response = _page(request, app, "Clinician sign-in", form, None, 429)
            response.headers["retry-after"] = str(math.ceil(throttle.window))
            return response
    stored = app.settings.clinicians.get(user)
    # hash even for an unknown user, so the answer takes as long either way
    known = await run_in_threadpool(check_passphrase, posted.get("passphrase", ""), stored or _DUMMY_HASH)
    if stored is None or not known:
        app.throttle.wrong(source)
        app.account_throttle.wrong(account)
        return _page(request, app, "Clinician sign-in", _sign_in_form(field, failed=True), None, 401)
    app.throttle.forget(source)
    app.account_throttle.forget(account)
    response = RedirectResponse("/clinician", status_code=303)
    app.signer.set_cookie(response, request, SESSION_COOKIE, app.signer.session_cookie(user), SESSION_SECONDS)
    # a new CSRF cookie with the session: one planted before sign-in (whose form field its planter
    # could read off any page) is no use after it
    app.signer.set_cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(32), None)
    return response


_DUMMY_HASH = "scrypt$00000000000000000000000000000000$" + "0" * 128


async def sign_out(request: Request) -> Response:
    app = state(request)
    try:
        posted = await read_form(request)
    except BadForm:
        posted = {}
    actor = _actor(request, app)
    if actor is not None and not app.signer.csrf_ok(request, posted):
        # a page out of date (or a post from elsewhere): say so and ask again, rather than land on the
        # sign-in page as if signed out while the session goes on
        body = (
            "<h1>Sign out</h1><p>That page was out of date, so you are still signed in. Use the Sign out"
            " button above to sign out.</p>"
        )
        return _page(request, app, "Sign out", body, actor, 403)
    response = RedirectResponse("/clinician/sign-in", status_code=303)
    session = app.signer.session(request)
    if session is not None:  # ended here, not only in this browser: a copy of the cookie is no use
        app.signed_out.add(session[1], session[2])
    app.signer.set_cookie(response, request, SESSION_COOKIE, "", 0)
    # and a new CSRF cookie
    app.signer.set_cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(32), None)
    return response


def _signed_out() -> Response:
    return RedirectResponse("/clinician/sign-in", status_code=303)


def _severity(value: object) -> str:
    return str(getattr(value, "value", value)).capitalize()


def _scores(row: CaseloadRow) -> str:
    scores: dict[str, float] = json.loads(row.latest_scores_json or "{}")
    return ", ".join(f"{escape(m.upper())} {t:g}" for m, t in sorted(scores.items())) or "none yet"


def _attention_table(items: list[AttentionItem]) -> str:
    """Two columns, so it fits a phone: who (with the highest severity and the last session), and why."""
    if not items:
        return "<p>No episode needs attention today.</p>"
    out = [
        (
            '<div class="table-wrap"><table><caption class="visually-hidden">Episodes that need attention'
            '</caption><thead><tr><th scope="col">Client</th><th scope="col">Why</th></tr></thead><tbody>'
        )
    ]
    for item in items:
        reasons = "".join(f"<li>{escape(_severity(r.severity))}: {escape(r.text)}</li>" for r in item.reasons)
        last = item.last_session_on.isoformat() if item.last_session_on else "none"
        out.append(
            f'<tr><td><a href="/clinician/episodes/{escape(item.episode_id)}">'
            f"{escape(item.client_ref)}</a>"
            f'<br><span class="severity">{escape(_severity(item.severity))}</span>'
            f'<br><span class="muted">Last session: {escape(last)}</span></td>'
            f'<td><ul class="reasons">{reasons}</ul></td></tr>'
        )
    out.append("</tbody></table></div>")
    return "".join(out)


def _caseload_table(rows: list[CaseloadRow]) -> str:
    if not rows:
        return "<p>No open episodes.</p>"
    out = [
        (
            '<div class="table-wrap"><table><caption class="visually-hidden">Open episodes</caption><thead>'
            '<tr><th scope="col">Client</th><th scope="col">Stage</th><th scope="col">Latest scores</th>'
            '<th scope="col">Open alerts</th></tr></thead><tbody>'
        )
    ]
    for row in rows:
        out.append(
            f'<tr><td><a href="/clinician/episodes/{escape(row.episode_id)}">'
            f"{escape(row.client_ref)}</a></td>"
            f"<td>{escape(row.stage)}</td><td>{_scores(row)}</td><td>{row.open_alerts}</td></tr>"
        )
    out.append("</tbody></table></div>")
    return "".join(out)


async def attention(request: Request) -> Response:
    """GET /clinician: the attention list (most urgent first), then the whole caseload."""
    app = state(request)
    actor = _actor(request, app)
    if actor is None:
        return _signed_out()

    def read() -> tuple[list[AttentionItem], list[CaseloadRow]]:
        return attention_list(app.practice, actor), app.practice.caseload(actor)

    items, rows = await run_in_threadpool(read)
    body = (
        f"<h1>Attention list for {escape(actor.id)}</h1>{_attention_table(items)}"
        f"<h2>Caseload</h2>{_caseload_table(rows)}"
    )
    return _page(request, app, "Attention list", body, actor)


def _alerts(alerts: dict[str, AlertState]) -> str:
    if not alerts:
        return "<p>No open alerts.</p>"
    out = ['<ul class="alerts">']
    for alert in alerts.values():
        raised = f" (raised {alert.raised_on.isoformat()})" if alert.raised_on else ""
        out.append(
            f'<li><span class="severity">{escape(_severity(alert.severity))}</span>: '
            f"{escape(alert.message or alert.rule_id)}{escape(raised)}</li>"
        )
    out.append("</ul>")
    return "".join(out)


def _chart(base: str, chart: ProgressChart) -> str:
    """The chart as an image whose text alternative is the library's plain-words summary, and its scores
    as a table for anyone who cannot see it."""
    summary = chart_summary(chart)
    out = [
        (
            f'<h2>Progress</h2><figure class="chart"><img src="{base}/chart.svg" alt="{escape(summary)}">'
            f"<figcaption>{escape(summary)}</figcaption></figure>"
        )
    ]
    rows = chart_rows(chart)
    if rows:
        out.append(
            '<details><summary>Scores as a table</summary><div class="table-wrap"><table><thead><tr>'
            '<th scope="col">Session</th><th scope="col">Outcome and other measures</th>'
            '<th scope="col">Alliance</th></tr>'
            "</thead><tbody>"
        )
        out.extend(f"<tr><td>{n}</td><td>{escape(o)}</td><td>{escape(a)}</td></tr>" for n, o, a in rows)
        out.append("</tbody></table></div></details>")
    return "".join(out)


def _send_forms(base: str, field: str, settings: Settings) -> str:
    """Two ways to ask the client for a measure, each with its measure and language: a link, or a kiosk
    code for today's session."""

    def choices(form: str) -> str:
        measures = "".join(
            f'<option value="{escape(m)}">{escape(m.upper())}</option>' for m in settings.measures
        )
        languages = "".join(
            f'<option value="{escape(tag)}" lang="{escape(tag)}">{escape(name)}</option>'
            for tag, name in settings.languages
        )
        return (
            f'<div class="form-row"><label class="field" for="{form}-measure">Measure</label>'
            f'<select id="{form}-measure" name="measure">{measures}</select></div>'
            f'<div class="form-row"><label class="field" for="{form}-language">Language</label>'
            f'<select id="{form}-language" name="language">{languages}</select></div>'
        )

    return (
        "<h2>Send the client a link</h2>"
        f'<form method="post" action="{base}/requests">{csrf_input(field)}{choices("link")}'
        '<button type="submit">Create a link</button></form>'
        "<h2>Kiosk code for today's session</h2>"
        f'<form method="post" action="{base}/kiosk-code">{csrf_input(field)}{choices("kiosk")}'
        '<button type="submit">Create a kiosk code</button></form>'
    )


async def episode(request: Request) -> Response:
    """GET /clinician/episodes/<id>: latest scores, open alerts, the progress chart and its data, and the
    forms that ask the client to fill in a measure."""
    app = state(request)
    actor = _actor(request, app)
    if actor is None:
        return _signed_out()
    episode_id = request.path_params["episode_id"]

    def read() -> tuple[CaseloadRow, dict[str, AlertState], ProgressChart] | None:
        row = next((r for r in app.practice.caseload(actor) if r.episode_id == episode_id), None)
        if row is None:  # not in this clinician's caseload
            return None
        return row, app.practice.alerts(actor, episode_id), progress_chart(app.practice, actor, episode_id)

    try:
        found = await run_in_threadpool(read)
    except (AccessDenied, NotFoundError, ValidationError):
        found = None
    if found is None:
        return _page(request, app, "Not found", NOT_FOUND, actor, 404)
    row, alerts, chart = found
    field, _ = _csrf(request, app)
    base = f"/clinician/episodes/{escape(episode_id)}"
    body = (
        f"<h1>Client {escape(row.client_ref)}</h1><p>Stage: {escape(row.stage)}. Sessions attended:"
        f" {row.sessions_attended}. Latest scores: <strong>{_scores(row)}</strong>.</p>"
        f"<h2>Open alerts</h2>{_alerts(alerts)}{_chart(base, chart)}{_send_forms(base, field, app.settings)}"
    )
    return _page(request, app, f"Client {row.client_ref}", body, actor)


async def chart_image(request: Request) -> Response:
    """GET /clinician/episodes/<id>/chart.svg: the library's SVG chart, an image (so the page's CSP needs
    no inline style)."""
    app = state(request)
    actor = _actor(request, app)
    if actor is None:
        return Response(status_code=404)
    try:
        chart = await run_in_threadpool(
            progress_chart, app.practice, actor, request.path_params["episode_id"]
        )
    except (AccessDenied, NotFoundError, ValidationError):
        return Response(status_code=404)
    svg = chart_svg(chart)
    return Response(svg, media_type="image/svg+xml", headers={"content-security-policy": svg_policy(svg)})


async def _posted_choice(request: Request, app: AppState) -> tuple[Actor, str, str, str] | Response:
    """The signed-in clinician, the episode, and the measure and language chosen (from the lists offered)."""
    actor = _actor(request, app)
    if actor is None:
        return _signed_out()
    try:
        posted = await read_form(request)
    except BadForm:
        return _page(request, app, "Not found", NOT_FOUND, actor, 404)
    if not app.signer.csrf_ok(request, posted):
        return _page(request, app, "Not found", NOT_FOUND, actor, 403)
    measure, language = posted.get("measure", ""), posted.get("language", "")
    if measure not in app.settings.measures or language not in dict(app.settings.languages):
        return _page(request, app, "Not found", NOT_FOUND, actor, 404)
    return actor, request.path_params["episode_id"], measure, language


def _back(episode_id: str) -> str:
    return f'<p><a href="/clinician/episodes/{escape(episode_id)}">Back to the client</a></p>'


class _Issue(Protocol[T_co]):
    """A facade method that makes a request for an episode's client: a link or a kiosk code."""

    def __call__(
        self, practice: Practice, actor: Actor, episode_id: str, /, *, measure: str, language: str | None
    ) -> T_co: ...


async def _issue(
    request: Request,
    issue: _Issue[T],
    title: str,
    shown: Callable[[T], str],
) -> Response:
    """What the link and the kiosk-code form share: the posted choice checked, ``issue`` run through the
    facade (anything it refuses is a 404), and a page titled ``title`` showing ``shown`` of what it made."""
    app = state(request)
    checked = await _posted_choice(request, app)
    if isinstance(checked, Response):
        return checked
    actor, episode_id, measure, language = checked
    try:
        made = await run_in_threadpool(
            lambda: issue(app.practice, actor, episode_id, measure=measure, language=language)
        )
    except (AccessDenied, NotFoundError, ValidationError, LifecycleError):
        return _page(request, app, "Not found", NOT_FOUND, actor, 404)
    return _page(request, app, title, f"<h1>{title}</h1>{shown(made)}{_back(episode_id)}", actor)


async def create_request(request: Request) -> Response:
    """POST .../requests: a link for the client, shown once (the library keeps only its hash)."""

    def shown(made: AdministrationRequest) -> str:
        # from the configured public address, never the request's Host header (which its sender chooses)
        url = f"{state(request).settings.link_base}/r/{made.token}"
        return (
            "<p>Send this link to the client. It is shown only once, works once, and "
            f"expires {escape(made.expires_at.isoformat(timespec='minutes'))}.</p>"
            f'<p class="secret" id="link">{escape(url)}</p>'
        )

    return await _issue(request, Practice.request_administration, "Link for the client", shown)


async def create_kiosk_code(request: Request) -> Response:
    """POST .../kiosk-code: a short code the client types on the clinic's tablet today."""

    def shown(made: KioskCode) -> str:
        return (
            "<p>The client types this code on the clinic's tablet (the kiosk page)."
            f" It is valid on {escape(made.valid_on.isoformat())} only, once.</p>"
            f'<p class="secret" id="kiosk-code">{escape(made.code)}</p>'
        )

    return await _issue(request, Practice.kiosk_code, "Kiosk code", shown)


routes = [
    Route("/clinician/sign-in", sign_in_form, methods=["GET"]),
    Route("/clinician/sign-in", sign_in, methods=["POST"]),
    Route("/clinician/sign-out", sign_out, methods=["POST"]),
    Route("/clinician", attention, methods=["GET"]),
    Route("/clinician/episodes/{episode_id}", episode, methods=["GET"]),
    Route("/clinician/episodes/{episode_id}/chart.svg", chart_image, methods=["GET"]),
    Route("/clinician/episodes/{episode_id}/requests", create_request, methods=["POST"]),
    Route("/clinician/episodes/{episode_id}/kiosk-code", create_kiosk_code, methods=["POST"]),
]
