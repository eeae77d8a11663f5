"""The reference web app (examples/webapp) over plain HTTP on 127.0.0.1, for what a browser hides: status
codes, security headers, CSRF, body limits, the clinician's sign-in. No browser needed."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Role

from .webapp_server import (
    CLINICIAN,
    CRISIS_INFORMATION,
    PASSPHRASE,
    Reply,
    Server,
    app_module,
    call,
    seed,
    serve,
)


@pytest.fixture(scope="module")
def webapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    path = tmp_path_factory.mktemp("webapp-http") / "practice.sqlite"
    with serve(path) as server:
        yield server, path


def csrf_of(reply: Reply) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', reply.body)
    assert match is not None
    return match.group(1)


def signed_in(server: Server) -> str:
    """A clinician's Cookie header, after signing in as a browser would."""
    page = call(f"{server.url}/clinician/sign-in")
    csrf_cookie = page.cookies["ak_csrf"]
    reply = call(
        f"{server.url}/clinician/sign-in",
        method="POST",
        form={"csrf": csrf_of(page), "user": CLINICIAN.id, "passphrase": PASSPHRASE},
        headers={"cookie": f"ak_csrf={csrf_cookie}"},
    )
    assert reply.status == 303, reply.body
    return f"ak_csrf={csrf_cookie}; ak_session={reply.cookies['ak_session']}"


def test_every_page_carries_the_security_headers(webapp: tuple[Server, Path]) -> None:
    server, path = webapp
    episode_id = seed(path)
    cookie = signed_in(server)
    for url, headers in (
        ("/kiosk", {}),
        ("/clinician/sign-in", {}),
        ("/clinician", {"cookie": cookie}),
        (f"/clinician/episodes/{episode_id}", {"cookie": cookie}),
    ):
        reply = call(server.url + url, headers=headers)
        assert reply.status == 200, url
        csp = reply.headers["content-security-policy"]
        assert csp.startswith("default-src 'none'; ")
        assert "script-src" not in csp  # so no script at all, inline or not
        assert "unsafe-inline" not in csp
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["cache-control"] == "no-store"
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        assert "<script" not in reply.body
        assert " style=" not in reply.body
    # the stylesheet alone may be cached
    assert call(server.url + "/static/app.css").headers["cache-control"].startswith("public")


def test_clinician_pages_need_a_signed_in_clinician(webapp: tuple[Server, Path]) -> None:
    server, path = webapp
    episode_id = seed(path)
    for url in ("/clinician", f"/clinician/episodes/{episode_id}"):
        reply = call(server.url + url)
        assert (reply.status, reply.headers["location"]) == (303, "/clinician/sign-in")
    assert call(f"{server.url}/clinician/episodes/{episode_id}/chart.svg").status == 404
    # a forged session cookie is no session
    forged = call(f"{server.url}/clinician", headers={"cookie": "ak_session=eyJ1IjoiY2xpbi13ZWItMSJ9.forged"})
    assert forged.status == 303


def test_sign_in_refuses_a_wrong_passphrase_and_a_missing_csrf_field(
    webapp: tuple[Server, Path],
) -> None:
    server, _ = webapp
    page = call(f"{server.url}/clinician/sign-in")
    csrf_cookie = page.cookies["ak_csrf"]
    jar = {"cookie": f"ak_csrf={csrf_cookie}"}
    wrong = {"csrf": csrf_of(page), "user": CLINICIAN.id, "passphrase": PASSPHRASE + "x"}
    reply = call(f"{server.url}/clinician/sign-in", method="POST", form=wrong, headers=jar)
    assert reply.status == 401
    assert "ak_session" not in reply.cookies
    unknown = {**wrong, "user": "nobody", "passphrase": PASSPHRASE}
    assert call(f"{server.url}/clinician/sign-in", method="POST", form=unknown, headers=jar).status == 401
    no_csrf = {"user": CLINICIAN.id, "passphrase": PASSPHRASE}
    reply = call(f"{server.url}/clinician/sign-in", method="POST", form=no_csrf, headers=jar)
    assert reply.status == 403
    assert "ak_session" not in reply.cookies
    # a page on another origin posting the right fields is refused too
    foreign = {**jar, "origin": "http://elsewhere.example"}
    right = {"csrf": csrf_of(page), "user": CLINICIAN.id, "passphrase": PASSPHRASE}
    reply = call(f"{server.url}/clinician/sign-in", method="POST", form=right, headers=foreign)
    assert reply.status == 403
    assert "ak_session" not in reply.cookies


def test_cookies_are_not_secure_on_an_http_loopback_public_url(webapp: tuple[Server, Path]) -> None:
    """An http public URL is a trial on one machine, over http: a browser would drop a Secure cookie."""
    server, _ = webapp
    page = call(f"{server.url}/clinician/sign-in")
    cookie = signed_in(server)
    reply = call(f"{server.url}/clinician", headers={"cookie": cookie})
    out = call(
        f"{server.url}/clinician/sign-out",
        method="POST",
        form={"csrf": csrf_of(reply)},
        headers={"cookie": cookie},
    )
    assert out.status == 303
    for header in (page.set_cookies["ak_csrf"], *out.set_cookies.values()):
        attributes = {part.split("=")[0].strip().lower() for part in header.split(";")[1:]}
        assert "httponly" in attributes
        assert "secure" not in attributes


def test_a_non_ascii_csrf_field_or_session_mac_is_refused_not_a_server_error(
    webapp: tuple[Server, Path],
) -> None:
    server, _ = webapp
    page = call(f"{server.url}/clinician/sign-in")
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    form = {"csrf": "\u00e9" * 43, "user": CLINICIAN.id, "passphrase": PASSPHRASE}
    assert call(f"{server.url}/clinician/sign-in", method="POST", form=form, headers=jar).status == 403
    forged = call(f"{server.url}/clinician", headers={"cookie": "ak_session=eyJ1IjoiY2xpbi13ZWItMSJ9.\u00e9"})
    assert forged.status == 303


def test_a_clinician_sees_only_their_own_episodes(webapp: tuple[Server, Path]) -> None:
    server, path = webapp
    with open_practice(path) as practice:
        other = practice.start_episode(
            CLINICIAN.__class__("clin-web-2", CLINICIAN.role, CLINICIAN.clinic_id),
            client_ref="client-web-other",
            clinician_id="clin-web-2",
            opened_on=practice.clinic_today(CLINICIAN.clinic_id),
        )
    cookie = signed_in(server)
    reply = call(f"{server.url}/clinician/episodes/{other}", headers={"cookie": cookie})
    assert reply.status == 404
    assert "client-web-other" not in reply.body
    assert "client-web-other" not in call(f"{server.url}/clinician", headers={"cookie": cookie}).body


def test_oversized_and_non_form_bodies_are_refused_unread(webapp: tuple[Server, Path]) -> None:
    server, _ = webapp
    big = b"code=" + b"A" * (17 * 1024)
    reply = call(
        f"{server.url}/kiosk",
        method="POST",
        body=big,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 404
    many = "&".join(f"f{n}=1" for n in range(201)).encode()  # small, but more fields than any form has
    reply = call(
        f"{server.url}/kiosk",
        method="POST",
        body=many,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 404
    reply = call(
        f"{server.url}/respond", method="POST", body=b"{}", headers={"content-type": "application/json"}
    )
    assert reply.status == 404


def test_a_link_page_is_never_cached_and_leaks_no_referrer(webapp: tuple[Server, Path]) -> None:
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9", language="es")
    reply = call(f"{server.url}/r/{made.token}")
    assert reply.status == 200
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert '<html lang="es">' in reply.body


def test_every_refusal_has_one_status_and_one_page(webapp: tuple[Server, Path]) -> None:
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        revoked = practice.request_administration(CLINICIAN, episode_id, measure="phq-9")
        practice.revoke_request(CLINICIAN, episode_id, revoked.request_id)
    forged = call(f"{server.url}/r/forged-token-0000000000000000")
    gone = call(f"{server.url}/r/{revoked.token}")
    assert forged.status == gone.status == 404
    assert forged.body == gone.body


def test_a_response_without_its_csrf_field_records_nothing(webapp: tuple[Server, Path]) -> None:
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9")
    form = {f"item-{n}": "0" for n in range(1, 10)} | {"token": made.token, "mode": "link"}
    reply = call(f"{server.url}/respond", method="POST", form=form)
    assert reply.status == 403
    # the link still works: nothing was submitted
    assert call(f"{server.url}/r/{made.token}").status == 200


def _kiosk_attempt(server: Server, code: str) -> Reply:
    page = call(f"{server.url}/kiosk")
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    return call(f"{server.url}/kiosk", method="POST", form={"csrf": csrf_of(page), "code": code}, headers=jar)


@pytest.mark.parametrize("wrong", [1, 2])
def test_kiosk_guessing_is_refused_past_the_limit_with_the_same_page(tmp_path: Path, wrong: int) -> None:
    """With a limit of 2 wrong codes per source: after 1 the right code still opens the form; after 2 it
    is refused, with the very page a wrong code gets."""
    path = tmp_path / "practice.sqlite"
    episode_id = seed(path)
    with open_practice(path) as practice:
        code = practice.kiosk_code(CLINICIAN, episode_id, measure="gad-7").code
    with serve(path, {"kiosk_attempts": 2}) as server:
        refusals = [_kiosk_attempt(server, "WRONG000") for _ in range(wrong)]
        right = _kiosk_attempt(server, code)
    assert {r.status for r in refusals} == {404}
    if wrong < 2:
        assert right.status == 200
        assert right.body.count("<fieldset") == 7  # GAD-7
    else:
        assert right.status == 404
        assert right.body == refusals[0].body


@pytest.mark.parametrize(("form", "shown"), [("requests", 'id="link"'), ("kiosk-code", 'id="kiosk-code"')])
def test_a_link_or_kiosk_code_is_made_only_for_the_clinicians_own_episode(
    webapp: tuple[Server, Path], form: str, shown: str
) -> None:
    server, path = webapp
    mine = seed(path)
    with open_practice(path) as practice:
        other = practice.start_episode(
            CLINICIAN.__class__("clin-web-2", CLINICIAN.role, CLINICIAN.clinic_id),
            client_ref="client-web-other",
            clinician_id="clin-web-2",
            opened_on=practice.clinic_today(CLINICIAN.clinic_id),
        )
    cookie = signed_in(server)
    csrf = csrf_of(call(f"{server.url}/clinician/episodes/{mine}", headers={"cookie": cookie}))
    choice = {"csrf": csrf, "measure": "phq-9", "language": "en"}

    def post(episode_id: str) -> Reply:
        url = f"{server.url}/clinician/episodes/{episode_id}/{form}"
        return call(url, method="POST", form=choice, headers={"cookie": cookie})

    made = post(mine)
    assert made.status == 200
    assert shown in made.body
    assert f'href="/clinician/episodes/{mine}"' in made.body
    refused = post(other)
    assert refused.status == 404
    assert shown not in refused.body
    assert "Not found" in refused.body


def _filled(reply: Reply, token: str, mode: str, answers: int = 9) -> dict[str, str]:
    """The form ``reply`` shows, every question answered 1 (PHQ-9: item 9 endorsed)."""
    return {f"item-{n}": "1" for n in range(1, answers + 1)} | {
        "token": token,
        "mode": mode,
        "csrf": csrf_of(reply),
    }


def _h1(reply: Reply) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", reply.body)
    assert match is not None
    return match.group(1)


def test_a_form_posted_twice_at_once_shows_the_crisis_page_to_both_and_records_once(
    webapp: tuple[Server, Path],
) -> None:
    """A double click on a slow server: the browser shows whichever answer comes last, so every post of
    the recorded form gets the page the first earned (here the crisis information), not a refusal."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9")
    page = call(f"{server.url}/r/{made.token}")
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    form = _filled(page, made.token, "link")
    replies: list[Reply] = []
    posts = [
        threading.Thread(
            target=lambda: replies.append(
                call(f"{server.url}/respond", method="POST", form=form, headers=jar)
            )
        )
        for _ in range(3)
    ]
    for post in posts:
        post.start()
    for post in posts:
        post.join()
    assert [r.status for r in replies] == [200] * 3
    assert all(CRISIS_INFORMATION in r.body for r in replies)
    with open_practice(path) as practice:
        row = next(r for r in practice.caseload(CLINICIAN) if r.episode_id == episode_id)
    assert row.sessions_attended == 2
    assert json.loads(row.latest_scores_json or "{}")["phq-9"] == 9


def test_a_link_form_sent_again_from_the_same_browser_shows_its_outcome_and_nobody_else_sees_it(
    webapp: tuple[Server, Path],
) -> None:
    """Reload or a second tab after sending: the same browser (its new cookie, the old form) sees the
    outcome again; another browser, or the same form with no cookie, gets the refusal."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9", language="fr")
    page = call(f"{server.url}/r/{made.token}")
    old = page.cookies["ak_csrf"]
    form = _filled(page, made.token, "link")
    sent = call(f"{server.url}/respond", method="POST", form=form, headers={"cookie": f"ak_csrf={old}"})
    assert sent.status == 200
    new = sent.cookies["ak_csrf"]  # a new CSRF cookie with the outcome
    assert new != old
    again = call(f"{server.url}/respond", method="POST", form=form, headers={"cookie": f"ak_csrf={new}"})
    assert (again.status, again.body) == (200, sent.body)
    assert '<html lang="fr">' in again.body
    other = call(f"{server.url}/kiosk")  # another browser: its own cookie and a valid field for it
    elsewhere = {**form, "csrf": csrf_of(other)}
    for cookie, posted in (
        (other.cookies["ak_csrf"], elsewhere),
        (other.cookies["ak_csrf"], form),
        ("", form),
    ):
        reply = call(
            f"{server.url}/respond", method="POST", form=posted, headers={"cookie": f"ak_csrf={cookie}"}
        )
        assert reply.status == 404
        assert CRISIS_INFORMATION not in reply.body
    foreign = {"cookie": f"ak_csrf={new}", "origin": "http://elsewhere.example"}
    assert call(f"{server.url}/respond", method="POST", form=form, headers=foreign).status == 404


def test_on_the_kiosk_only_the_post_in_flight_sees_the_outcome_again(webapp: tuple[Server, Path]) -> None:
    """On the shared tablet the next client must not see the last one's page: the post that was in
    flight with the old cookie gets it; a reload after the outcome page (the new cookie) is refused."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        code = practice.kiosk_code(CLINICIAN, episode_id, measure="phq-9").code
    page = call(f"{server.url}/kiosk")
    old = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    opened = call(
        f"{server.url}/kiosk", method="POST", form={"csrf": csrf_of(page), "code": code}, headers=old
    )
    token = re.search(r'name="token" value="([^"]+)"', opened.body)
    assert token is not None
    form = _filled(opened, token.group(1), "kiosk")
    sent = call(f"{server.url}/respond", method="POST", form=form, headers=old)
    assert CRISIS_INFORMATION in sent.body
    assert call(f"{server.url}/respond", method="POST", form=form, headers=old).body == sent.body
    new = {"cookie": f"ak_csrf={sent.cookies['ak_csrf']}"}
    reload = call(f"{server.url}/respond", method="POST", form=form, headers=new)
    assert reload.status == 404
    assert CRISIS_INFORMATION not in reload.body


def test_a_kiosk_code_posted_twice_at_once_opens_the_measure_for_both_posts(
    webapp: tuple[Server, Path],
) -> None:
    """A double click on Continue: the browser shows the answer to the second post, which was the refusal
    (the first had used the code up). Both posts, and a reload, now get the form with the same one-use
    token; another browser posting the code, or this one once the answers are sent, gets the refusal."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        code = practice.kiosk_code(CLINICIAN, episode_id, measure="phq-9").code
    page = call(f"{server.url}/kiosk")
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    form = _hidden(page) | {"code": code}
    replies: list[Reply] = []
    posts = [
        threading.Thread(
            target=lambda: replies.append(call(f"{server.url}/kiosk", method="POST", form=form, headers=jar))
        )
        for _ in range(2)
    ]
    for post in posts:
        post.start()
    for post in posts:
        post.join()
    reload = call(f"{server.url}/kiosk", method="POST", form=form, headers=jar)
    assert [r.status for r in [*replies, reload]] == [200] * 3
    tokens = {_hidden(r)["token"] for r in [*replies, reload]}
    assert len(tokens) == 1
    other = call(f"{server.url}/kiosk")
    elsewhere = call(
        f"{server.url}/kiosk",
        method="POST",
        form=_hidden(other) | {"code": code},
        headers={"cookie": f"ak_csrf={other.cookies['ak_csrf']}"},
    )
    assert elsewhere.status == 404
    sent = call(
        f"{server.url}/respond", method="POST", form=_filled(reload, tokens.pop(), "kiosk"), headers=jar
    )
    assert CRISIS_INFORMATION in sent.body
    for cookie in (sent.cookies["ak_csrf"], page.cookies["ak_csrf"]):  # the next client; the old cookie
        again = call(f"{server.url}/kiosk", method="POST", form=form, headers={"cookie": f"ak_csrf={cookie}"})
        assert again.status == 404


def _hidden(reply: Reply) -> dict[str, str]:
    """The hidden fields of the page's form, as a browser would post them."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', reply.body))


@pytest.mark.parametrize("language", ["es", "fr"])
def test_the_kiosk_page_answers_in_its_own_language_after_a_post(
    webapp: tuple[Server, Path], language: str
) -> None:
    """A code left empty or wrong on the Spanish or French kiosk page: the answer is in that language too."""
    server, _ = webapp
    page = call(f"{server.url}/kiosk?lang={language}")
    assert f'<html lang="{language}">' in page.body
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    empty = call(f"{server.url}/kiosk", method="POST", form=_hidden(page) | {"code": ""}, headers=jar)
    assert empty.status == 422
    assert f'<html lang="{language}">' in empty.body
    assert _h1(empty) == _h1(page)
    assert 'href="#code"' in empty.body
    wrong = call(
        f"{server.url}/kiosk", method="POST", form=_hidden(empty) | {"code": "ZZZZZZZZ"}, headers=jar
    )
    assert wrong.status == 404
    assert f'<html lang="{language}">' in wrong.body


def test_a_link_opened_in_another_language_answers_in_it_after_the_post(webapp: tuple[Server, Path]) -> None:
    """A request made in English, opened with ``?lang=es``: the page sent back with an error and the crisis
    page after it come in Spanish too (they came in the request's English before), and a language the
    library refuses in the address or the form is dropped for the request's own, not a refusal."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9", language="en")
    page = call(f"{server.url}/r/{made.token}?lang=es")
    assert '<html lang="es">' in page.body
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    empty = call(f"{server.url}/respond", method="POST", form=_hidden(page), headers=jar)
    assert empty.status == 422
    assert '<html lang="es">' in empty.body
    assert "Hay un problema" in empty.body
    for odd in ("%3Cx%3E", "a" * 41):
        shown = call(f"{server.url}/r/{made.token}?lang={odd}")
        assert shown.status == 200
        assert '<html lang="en">' in shown.body
    odd_field = call(
        f"{server.url}/respond", method="POST", form=_hidden(page) | {"language": "<x>"}, headers=jar
    )
    assert odd_field.status == 422
    assert '<html lang="en">' in odd_field.body
    sent = call(
        f"{server.url}/respond",
        method="POST",
        form=_filled(page, made.token, "link") | {"language": "es"},
        headers=jar,
    )
    assert sent.status == 200
    assert '<html lang="es">' in sent.body
    assert CRISIS_INFORMATION in sent.body
    assert _h1(sent).startswith("Sus respuestas se han enviado")
    assert call(f"{server.url}/r/{made.token}?lang=%3Cx%3E").status == 404  # used: refused as before
    again = call(f"{server.url}/respond", method="POST", form=_hidden(page), headers={"cookie": "ak_csrf=x"})
    assert again.status == 404  # the token used up (another browser: no outcome to show again)
    assert '<html lang="es">' in again.body
    assert "Este enlace o código no se puede usar" in again.body


def test_the_apps_words_and_the_measures_are_each_marked_with_their_own_language(
    webapp: tuple[Server, Path],
) -> None:
    """PHQ-9 asked for in Spanish is in English (the form marked ``lang="en"``): the app's Spanish words
    inside the form (the required marker, the errors, the button) were marked English with it, and the
    English questions inside the Spanish error sentences were not marked at all (WCAG 3.1.2)."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9", language="es")
        english = practice.request_administration(CLINICIAN, episode_id, measure="phq-9", language="en")
    page = call(f"{server.url}/r/{made.token}")
    assert '<form method="post" action="/respond" novalidate lang="en">' in page.body
    assert page.body.count('<span class="req" lang="es">(obligatoria)</span>') == 9
    assert '<button type="submit" lang="es">' in page.body
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    empty = call(f"{server.url}/respond", method="POST", form=_hidden(page), headers=jar)
    assert empty.status == 422
    question = '<span lang="en">Little interest or pleasure in doing things</span>'
    assert f'<p class="field-error" id="item-1-error" lang="es">Elija una respuesta para: {question}</p>' in (
        empty.body
    )
    assert f'<a href="#item-1-0">Elija una respuesta para: {question}</a>' in empty.body
    same = call(f"{server.url}/r/{english.token}")  # one language: nothing to mark
    jar = {"cookie": f"ak_csrf={same.cookies['ak_csrf']}"}
    empty = call(f"{server.url}/respond", method="POST", form=_hidden(same), headers=jar)
    assert '<span class="req">(required)</span>' in empty.body
    assert '<p class="field-error" id="item-1-error">Choose an answer for: <span>Little' in empty.body


def test_a_number_left_out_asks_for_a_number_not_a_choice(webapp: tuple[Server, Path]) -> None:
    """ORS sent empty: each of its number boxes said "Choose an answer for", as if it were a list."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="ors")
    page = call(f"{server.url}/r/{made.token}")
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    empty = call(f"{server.url}/respond", method="POST", form=_hidden(page), headers=jar)
    assert empty.status == 422
    assert '<a href="#item-1">Enter a number from 0 to 10 for: <span>Individually</span></a>' in empty.body
    assert "Choose an answer" not in empty.body


def test_a_links_token_never_reaches_the_servers_access_log(tmp_path: Path) -> None:
    """An integrator may run the app under uvicorn with its access log on (the default), and that log prints
    each request's path: the link's token must not be in it, whatever the answer."""
    path = tmp_path / "practice.sqlite"
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9", language="es")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keep = Keep()
    with serve(path, access_log=True) as server:
        logging.getLogger("uvicorn.access").addHandler(keep)
        try:
            opened = call(f"{server.url}/r/{made.token}?lang=fr")
            forged = call(f"{server.url}/r/forged-{made.token[7:]}")
        finally:
            logging.getLogger("uvicorn.access").removeHandler(keep)
    assert (opened.status, forged.status) == (200, 404)
    assert '<html lang="fr">' in opened.body
    assert f'name="token" value="{made.token}"' in opened.body  # the form still carries it
    assert len(lines) == 2
    assert all('"GET /r/redacted' in line for line in lines), lines
    assert not any(made.token[7:] in line for line in lines), lines


def _sign_in_attempt(server: Server, user: str, passphrase: str, source: str | None = None) -> Reply:
    page = call(f"{server.url}/clinician/sign-in", source=source)
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    form = {"csrf": csrf_of(page), "user": user, "passphrase": passphrase}
    return call(f"{server.url}/clinician/sign-in", method="POST", form=form, headers=jar, source=source)


@pytest.mark.parametrize("wrong", [1, 2])
def test_sign_in_guessing_is_refused_past_the_limit(tmp_path: Path, wrong: int) -> None:
    """With a limit of 2 wrong sign-ins per address (a wrong passphrase or an unknown clinician): after 1
    the right passphrase signs in; after 2 it is refused, 429, no session."""
    path = tmp_path / "practice.sqlite"
    seed(path)
    with serve(path, settings_options={"sign_in_attempts": 2}) as server:
        refusals = [
            _sign_in_attempt(server, user, PASSPHRASE + "x") for user in (CLINICIAN.id, "nobody")[:wrong]
        ]
        right = _sign_in_attempt(server, CLINICIAN.id, PASSPHRASE)
    assert {r.status for r in refusals} == {401}
    if wrong < 2:
        assert right.status == 303
        assert "ak_session" in right.cookies
    else:
        assert right.status == 429
        assert "ak_session" not in right.cookies
        assert "Too many wrong sign-ins from here. Wait 15 minutes" in right.body
        assert right.headers["retry-after"] == "900"


def _without_csrf(body: str) -> str:
    return re.sub(r'name="csrf" value="[^"]+"', 'name="csrf" value=""', body)


@pytest.mark.parametrize("wrong", [4, 5])
def test_guessing_one_clinician_id_from_many_addresses_is_refused_past_its_limit(
    tmp_path: Path, wrong: int
) -> None:
    """With the default limit of 5 wrong sign-ins per clinician id, each wrong guess from its own address:
    after 4 the right passphrase, from yet another address, signs in; after 5 it is refused, 429, no
    session, from every address. An id no clinician has is refused alike, with the same page and headers,
    so the refusal does not tell a guesser which ids exist; another id is not held up."""
    path = tmp_path / "practice.sqlite"
    seed(path)
    with serve(path) as server:
        replies: dict[str, list[Reply]] = {}
        for user, first in ((CLINICIAN.id, 2), ("nobody", 12)):
            guesses = [
                _sign_in_attempt(server, user, PASSPHRASE + "x", source=f"127.0.0.{first + i}")
                for i in range(wrong)
            ]
            then = _sign_in_attempt(server, user, PASSPHRASE, source=f"127.0.0.{first + wrong}")
            replies[user] = [*guesses, then]
        other = _sign_in_attempt(server, "someone-else", PASSPHRASE, source="127.0.0.30")
    *guesses, right = replies[CLINICIAN.id]
    *unknown_guesses, unknown = replies["nobody"]
    assert {r.status for r in (*guesses, *unknown_guesses)} == {401}
    assert other.status == 401  # wrong, not held up by the others' counts
    if wrong < 5:
        assert right.status == 303
        assert "ak_session" in right.cookies
        assert unknown.status == 401
        return
    assert (right.status, unknown.status) == (429, 429)
    assert "ak_session" not in right.cookies
    assert "Too many wrong sign-ins for this clinician id. Wait 15 minutes" in right.body
    assert right.headers["retry-after"] == "900"
    # the same refusal for an id that exists and one that does not
    assert _without_csrf(unknown.body) == _without_csrf(right.body)
    same = ("retry-after", "content-type", "content-length")
    assert {h: unknown.headers.get(h) for h in same} == {h: right.headers.get(h) for h in same}


def test_a_right_sign_in_starts_the_ids_count_again(tmp_path: Path) -> None:
    """One wrong guess under a limit of 2 per id (set by ``sign_in_account_attempts``), then the clinician
    signs in: the next wrong guess, from another address, is the first of a new count, so the right
    passphrase still signs in after it; a second wrong guess then reaches the limit."""
    path = tmp_path / "practice.sqlite"
    seed(path)
    with serve(path, settings_options={"sign_in_account_attempts": 2}) as server:
        first = _sign_in_attempt(server, CLINICIAN.id, PASSPHRASE + "x", source="127.0.0.2")
        signed = _sign_in_attempt(server, CLINICIAN.id, PASSPHRASE, source="127.0.0.3")
        again = _sign_in_attempt(server, CLINICIAN.id, PASSPHRASE + "x", source="127.0.0.4")
        right = _sign_in_attempt(server, CLINICIAN.id, PASSPHRASE, source="127.0.0.5")
        twice = [
            _sign_in_attempt(server, CLINICIAN.id, PASSPHRASE + "x", source=f"127.0.0.{i}") for i in (6, 7)
        ]
        held = _sign_in_attempt(server, CLINICIAN.id, PASSPHRASE, source="127.0.0.8")
    assert [r.status for r in (first, signed, again, right, *twice, held)] == [
        401,
        303,
        401,
        303,
        401,
        401,
        429,
    ]


def test_the_sign_in_window_lets_an_attempt_go_when_it_is_exactly_its_length_old() -> None:
    app_module()
    from alliancekit_webapp.throttle import Throttle

    throttle = Throttle(limit=1, window_seconds=600)
    throttle.wrong("192.0.2.1", now=1000.0)
    assert throttle.blocked("192.0.2.1", now=1599.999)
    assert not throttle.blocked("192.0.2.2", now=1599.999)
    assert not throttle.blocked("192.0.2.1", now=1600.0)
    throttle.wrong("192.0.2.2", now=1000.0)
    throttle.forget("192.0.2.2")
    assert not throttle.blocked("192.0.2.2", now=1000.0)


@pytest.mark.parametrize(("measure", "answer"), [("phq-9", "\u00b2"), ("phq-9", "\u0663"), ("ors", "nan")])
def test_an_answer_the_form_cannot_take_is_an_error_by_its_question(
    webapp: tuple[Server, Path], measure: str, answer: str
) -> None:
    """A radio answer of "²" (a digit to str.isdigit, not to int) was a server error, and "nan" in a number
    box passed every bound and got the refusal page, the link still good: both are an error by question 1,
    the answers kept, and the link works still."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure=measure)
    page = call(f"{server.url}/r/{made.token}")
    count = page.body.count("<fieldset")
    form = _filled(page, made.token, "link", answers=count) | {"item-1": answer}
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    reply = call(f"{server.url}/respond", method="POST", form=form, headers=jar)
    assert reply.status == 422
    assert re.findall(r'<li><a href="#([^"]+)">', reply.body) == [
        "item-1-0" if measure == "phq-9" else "item-1"
    ]
    assert call(f"{server.url}/r/{made.token}").status == 200


def test_a_server_error_is_the_apps_own_page_with_its_headers_and_no_detail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The practice's SQLite file held by another writer: the link's page cannot be opened (its audit entry
    cannot be written). The answer is a 500 page of the app's, with the security headers and no-store, and
    nothing of the error in it."""
    import alliancekit.store.sqlite

    monkeypatch.setattr(alliancekit.store.sqlite, "BUSY_TIMEOUT_MS", 100)  # not 10 s of waiting per test
    path = tmp_path / "practice.sqlite"
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9")
    with serve(path) as server:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            reply = call(f"{server.url}/r/{made.token}")
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        after = call(f"{server.url}/r/{made.token}")
    assert reply.status == 500
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["content-security-policy"].startswith("default-src 'none'; ")
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert "<h1>Something went wrong</h1>" in reply.body
    assert "Error" not in reply.body
    assert "SQLite" not in reply.body
    assert after.status == 200  # nothing was spoilt


def test_signing_out_ends_the_session_not_only_in_that_browser(webapp: tuple[Server, Path]) -> None:
    """The session cookie is signed, so a copy of it (another tab's, or one taken) stayed good for its 8
    hours after signing out. Signed out, it is refused; the same clinician's other session is not."""
    server, path = webapp
    episode_id = seed(path)
    leaving, staying = signed_in(server), signed_in(server)
    page = call(f"{server.url}/clinician/episodes/{episode_id}", headers={"cookie": leaving})
    out = call(
        f"{server.url}/clinician/sign-out",
        method="POST",
        form={"csrf": csrf_of(page)},
        headers={"cookie": leaving},
    )
    assert (out.status, out.headers["location"]) == (303, "/clinician/sign-in")
    cleared = out.set_cookies["ak_session"]
    assert cleared.startswith(('ak_session=""', "ak_session=;"))
    assert "Max-Age=0" in cleared
    assert "HttpOnly" in cleared
    assert "SameSite=strict" in cleared
    for url in ("/clinician", f"/clinician/episodes/{episode_id}"):
        reply = call(server.url + url, headers={"cookie": leaving})
        assert (reply.status, reply.headers["location"]) == (303, "/clinician/sign-in")
    assert (
        call(f"{server.url}/clinician/episodes/{episode_id}/chart.svg", headers={"cookie": leaving}).status
        == 404
    )
    assert call(f"{server.url}/clinician", headers={"cookie": staying}).status == 200


def test_the_charts_policy_allows_its_own_styles_by_hash_and_no_inline_style(
    webapp: tuple[Server, Path],
) -> None:
    server, path = webapp
    episode_id = seed(path)
    reply = call(
        f"{server.url}/clinician/episodes/{episode_id}/chart.svg", headers={"cookie": signed_in(server)}
    )
    assert reply.status == 200
    policy = reply.headers["content-security-policy"]
    assert "unsafe-inline" not in policy
    assert policy.startswith("default-src 'none'; style-src 'unsafe-hashes' 'sha256-")
    for style in re.findall(r"<style>(.*?)</style>", reply.body):
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy


def test_a_sign_out_from_a_stale_page_says_it_did_not_sign_out(webapp: tuple[Server, Path]) -> None:
    """A sign-out posted with a stale CSRF field went to the sign-in page as if it had worked, the session
    going on. It now says so (403) and gives a fresh Sign out button, which works."""
    server, _ = webapp
    cookie = signed_in(server)
    stale = call(
        f"{server.url}/clinician/sign-out", method="POST", form={"csrf": "stale"}, headers={"cookie": cookie}
    )
    assert stale.status == 403
    assert "you are still signed in" in stale.body
    assert "ak_session" not in stale.cookies
    assert call(f"{server.url}/clinician", headers={"cookie": cookie}).status == 200
    out = call(
        f"{server.url}/clinician/sign-out",
        method="POST",
        form={"csrf": csrf_of(stale)},
        headers={"cookie": cookie},
    )
    assert (out.status, out.headers["location"]) == (303, "/clinician/sign-in")
    assert call(f"{server.url}/clinician", headers={"cookie": cookie}).status == 303


def test_the_episode_page_and_its_chart_cost_one_entry_per_guarded_read(webapp: tuple[Server, Path]) -> None:
    """The page reads the caseload, the alerts and the chart's episode and timeline: 4 entries; the chart
    image 2. The stored measure definitions the chart may describe a measure by are read under the
    timeline's entry (each wrote a ``read-report`` entry of its own before: 5 and 3)."""
    server, path = webapp
    episode_id = seed(path, client_ref="client-web-audit")
    cookie = signed_in(server)
    auditor = Actor("aud-web", Role.ADMINISTRATOR, CLINICIAN.clinic_id)

    def entries(url: str) -> list[tuple[str, str]]:
        with open_practice(path) as practice:
            before = {e.entry_id for e in practice.audit_entries(auditor)}
        assert call(server.url + url, headers={"cookie": cookie}).status == 200
        with open_practice(path) as practice:
            return sorted(
                (e.action, e.record_type)
                for e in practice.audit_entries(auditor)
                if e.entry_id not in before and e.actor_id == CLINICIAN.id
            )

    page = f"/clinician/episodes/{episode_id}"
    assert entries(page) == [
        ("read-caseload", "caseload"),
        ("read-episode", "episode"),
        ("read-episode", "episode"),
        ("read-timeline", "episode"),
    ]
    assert entries(f"{page}/chart.svg") == [("read-episode", "episode"), ("read-timeline", "episode")]


def test_a_request_for_a_measure_whose_plugin_is_gone_is_refused_like_any_other(
    webapp: tuple[Server, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A link and a kiosk code made while a measure's plugin was installed, used where it is not: the
    library refuses them by the measure's name (``UnknownMeasure``), and the app answered with a server
    error. It is the one refusal page and status, whatever the way in (the link, the code, a posted form),
    and the app's log names the measure for the host to put right, never the client."""
    from tests.feedback.test_stored_definition_rows_and_alerts import HOSTS

    server, path = webapp
    episode_id = seed(path, client_ref="client-web-gone")
    with open_practice(path, plugins=HOSTS[True]) as practice:  # the probe's plugin installed
        token = practice.request_administration(CLINICIAN, episode_id, measure="probe").token
        code = practice.kiosk_code(CLINICIAN, episode_id, measure="probe").code
    assert token is not None
    forged = call(f"{server.url}/r/forged-token-0000000000000000")
    caplog.set_level(logging.WARNING, logger="alliancekit_webapp.client")
    replies = {
        "link": call(f"{server.url}/r/{token}"),
        "kiosk": _kiosk_attempt(server, code),
        "form": call(f"{server.url}/respond", method="POST", form={"token": token, "mode": "link"}),
    }
    assert {way: (r.status, r.body) for way, r in replies.items()} == dict.fromkeys(
        replies, (forged.status, forged.body)
    )
    said = [r.getMessage() for r in caplog.records if r.name == "alliancekit_webapp.client"]
    assert len(said) == 3
    assert all("no measure with id probe version 1.0" in line for line in said), said
    assert not any("client-web-gone" in line for line in said)


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("again", "before"),
    [
        (("item-9", "0"), False),
        (("item-1", "1"), False),
        (("token", "forged-token"), True),
        (("language", "zz-marker-value"), False),
    ],
    ids=["risk-item-other-value", "same-value", "token", "hidden-field"],
)
def test_an_answer_form_naming_a_field_twice_is_refused_and_the_link_still_works(
    webapp: tuple[Server, Path], again: tuple[str, str], before: bool
) -> None:
    """``item-9=1&item-9=0`` was read as its last value: PHQ-9's risk item, endorsed on the page, recorded as
    not endorsed, with no crisis page and no alert. A form naming any field twice (whatever the values) is
    refused unread with the one refusal page, echoing nothing and recording nothing; the link still works,
    and the same answers sent once each are recorded (the crisis page)."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9")
    forged = call(f"{server.url}/r/forged-token-0000000000000000")
    page = call(f"{server.url}/r/{made.token}")
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    form = _filled(page, made.token, "link") | {"language": "en"}  # item 9 endorsed
    twice = urlencode([again, *form.items()] if before else [*form.items(), again]).encode()
    reply = call(f"{server.url}/respond", method="POST", body=twice, headers=jar | FORM)
    assert (reply.status, reply.body) == (forged.status, forged.body)
    assert "ak_csrf" not in reply.cookies
    with open_practice(path) as practice:
        row = next(r for r in practice.caseload(CLINICIAN) if r.episode_id == episode_id)
    assert row.sessions_attended == 2  # seed's two: nothing recorded
    assert call(f"{server.url}/r/{made.token}").status == 200
    sent = call(f"{server.url}/respond", method="POST", form=form, headers=jar)
    assert sent.status == 200
    assert CRISIS_INFORMATION in sent.body


def test_a_kiosk_code_or_sign_in_form_naming_a_field_twice_is_refused_and_nothing_is_used_up(
    webapp: tuple[Server, Path],
) -> None:
    """The kiosk's code, the sign-in's clinician id and a link's measure, each named twice: the refusal each
    form's bad body gets (the refusal page; "Not found"), the code not spent, no session, no link made."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        code = practice.kiosk_code(CLINICIAN, episode_id, measure="gad-7").code
    forged = call(f"{server.url}/r/forged-token-0000000000000000")
    page = call(f"{server.url}/kiosk")
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    fields = [("csrf", csrf_of(page)), ("lang", "en"), ("code", code)]
    twice = urlencode([*fields, ("code", code)]).encode()
    reply = call(f"{server.url}/kiosk", method="POST", body=twice, headers=jar | FORM)
    assert (reply.status, reply.body) == (forged.status, forged.body)
    opened = call(f"{server.url}/kiosk", method="POST", form=dict(fields), headers=jar)
    assert opened.status == 200
    assert opened.body.count("<fieldset") == 7  # GAD-7: the code was still good

    sign_in = call(f"{server.url}/clinician/sign-in")
    jar = {"cookie": f"ak_csrf={sign_in.cookies['ak_csrf']}"}
    fields = [("csrf", csrf_of(sign_in)), ("user", CLINICIAN.id), ("passphrase", PASSPHRASE)]
    twice = urlencode([*fields, ("user", CLINICIAN.id)]).encode()
    reply = call(f"{server.url}/clinician/sign-in", method="POST", body=twice, headers=jar | FORM)
    assert reply.status == 404
    assert "Not found" in reply.body
    assert "ak_session" not in reply.cookies

    cookie = signed_in(server)
    episode = call(f"{server.url}/clinician/episodes/{episode_id}", headers={"cookie": cookie})
    choice = [("csrf", csrf_of(episode)), ("measure", "phq-9"), ("language", "en")]
    url = f"{server.url}/clinician/episodes/{episode_id}/requests"
    twice = urlencode([*choice, ("measure", "gad-7")]).encode()
    reply = call(url, method="POST", body=twice, headers={"cookie": cookie} | FORM)
    assert reply.status == 404
    assert 'id="link"' not in reply.body
    assert 'id="link"' in call(url, method="POST", form=dict(choice), headers={"cookie": cookie}).body


def test_a_link_or_kiosk_address_naming_a_parameter_twice_is_refused(webapp: tuple[Server, Path]) -> None:
    """``?lang=es&lang=fr`` was read as its last value; any parameter named twice now gets the refusal page
    (a link's token is not spent by it: the link opens after)."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9")
    forged = call(f"{server.url}/r/forged-token-0000000000000000")
    for url in (
        f"/r/{made.token}?lang=es&lang=fr",
        f"/r/{made.token}?lang=fr&lang=fr",
        "/kiosk?lang=es&lang=fr",
    ):
        reply = call(server.url + url)
        assert (reply.status, reply.body) == (forged.status, forged.body), url
    assert '<html lang="fr">' in call(f"{server.url}/r/{made.token}?lang=fr").body
    assert '<html lang="es">' in call(f"{server.url}/kiosk?lang=es").body
