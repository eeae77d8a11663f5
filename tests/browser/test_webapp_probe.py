"""The reference web app (examples/webapp) over plain HTTP on 127.0.0.1, for what a probe found: the link a
clinician sends was built from the request's Host header; an answer the library refused at submission, or a
store that failed, lost the client's answers; sign-in kept the CSRF cookie from before it; behind a
TLS-terminating proxy a post from the public URL was refused and the cookies were not Secure."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.errors import ValidationError

from .harness import Browser
from .test_webapp import PHONE, _by, check_page, click, click_through, heading, visit
from .test_webapp_http import _filled, _hidden, csrf_of, signed_in
from .webapp_server import (
    CLINICIAN,
    CRISIS_INFORMATION,
    PASSPHRASE,
    SECRET_KEY,
    Server,
    app_module,
    call,
    seed,
    serve,
)

PUBLIC_URL = "https://measures.clinic.example"


@pytest.fixture(scope="module")
def webapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    path = tmp_path_factory.mktemp("webapp-probe") / "practice.sqlite"
    with serve(path, settings_options={"public_url": PUBLIC_URL + "/"}) as server:
        yield server, path


# -- 1. links from the configured public URL, never the Host header ---------------------------------------


@pytest.mark.parametrize("host", [None, "elsewhere.example", "measures.clinic.example.elsewhere.example:443"])
def test_the_link_shown_starts_with_the_public_url_whatever_the_host_header(
    webapp: tuple[Server, Path], host: str | None
) -> None:
    server, path = webapp
    episode_id = seed(path)
    cookie = signed_in(server)
    forged = {} if host is None else {"host": host}
    page = call(f"{server.url}/clinician/episodes/{episode_id}", headers={"cookie": cookie, **forged})
    choice = {"csrf": csrf_of(page), "measure": "phq-9", "language": "en"}
    made = call(
        f"{server.url}/clinician/episodes/{episode_id}/requests",
        method="POST",
        form=choice,
        headers={"cookie": cookie, **forged},
    )
    assert made.status == 200
    link = re.search(r'<p class="secret" id="link">([^<]+)</p>', made.body)
    assert link is not None
    assert re.fullmatch(re.escape(PUBLIC_URL) + r"/r/[A-Za-z0-9_\-.~]+", link.group(1)), link.group(1)
    assert "elsewhere" not in made.body
    assert "localhost" not in made.body


def _settings(public_url: object) -> object:
    module = app_module()
    return module.Settings(clinic_id="clinic-web", secret_key=SECRET_KEY, public_url=public_url)


@pytest.mark.parametrize(
    "url",
    [
        "https://measures.clinic.example",
        "https://measures.clinic.example:8443/",
        "http://localhost:8000",
        "http://127.0.0.1",
        "http://127.255.255.255:1",
        "http://[::1]:8000",
        "https://measures.clinic.example:1",  # either end of the port's range
        "https://measures.clinic.example:65535",
    ],
)
def test_settings_take_an_https_public_url_or_http_on_a_loopback_address(url: str) -> None:
    assert _settings(url).link_base == url.rstrip("/")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://measures.clinic.example", "https"),
        ("http://126.255.255.255", "https"),  # either side of 127.0.0.0/8
        ("http://128.0.0.0", "https"),
        ("http://0.0.0.0:8000", "https"),
        ("http://[::2]:8000", "https"),
        ("http://localhost.elsewhere.example", "https"),
        ("ftp://localhost", "https"),
        ("https://measures.clinic.example/app", "no-path"),
        ("https://measures.clinic.example/?next=x", "no-path"),
        ("https://measures.clinic.example#x", "no-path"),
        ("https://user@measures.clinic.example", "absolute-url"),
        ("https://measures.clinic.example:65536", "absolute-url"),
        ("https://measures.clinic.example:0", "absolute-url"),
        ("https://:pw@measures.clinic.example", "absolute-url"),
        ("https://measures.clinic.example\\@elsewhere.example", "absolute-url"),
        ("https://measures_clinic.example", "absolute-url"),
        ("https://-measures.clinic.example", "absolute-url"),
        ("measures.clinic.example", "absolute-url"),
        ("https:// measures.clinic.example", "absolute-url"),
        (None, "absolute-url"),
    ],
)
def test_settings_refuse_a_public_url_not_https_or_with_more_than_a_host_and_port(
    url: object, rule: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _settings(url)
    assert (refused.value.field, refused.value.rule) == ("public_url", rule)
    if isinstance(url, str):
        assert url not in str(refused.value)


def test_the_command_refuses_to_start_listening_beyond_loopback_without_an_https_public_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_module()
    import uvicorn
    from alliancekit_webapp.__main__ import main

    def never(*args: object, **kwargs: object) -> None:  # a guard, so a regression fails, not listens
        raise AssertionError("the app was served")

    monkeypatch.setattr(uvicorn, "run", never)
    db = tmp_path / "never-opened.sqlite"
    assert main(["--db", str(db), "--clinic", "clinic-web", "--host", "0.0.0.0"]) == 2  # noqa: S104
    assert "public_url: https" in capsys.readouterr().err
    assert not db.exists()


# -- 2. an answer the library refuses: the form again, answers kept, the token still good --------------


def test_answers_the_library_refuses_come_back_in_the_form_by_their_questions_and_the_link_still_works(
    webapp: tuple[Server, Path],
) -> None:
    """CORE-10 lets one question go unanswered (the form marks none required); with two left out the
    library refuses the response. That was the refusal page, the answers lost."""
    server, path = webapp
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="core-10", language="fr")
    page = call(f"{server.url}/r/{made.token}")
    jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
    form = _filled(page, made.token, "link", answers=8)
    reply = call(f"{server.url}/respond", method="POST", form=form, headers=jar)
    assert reply.status == 422
    assert '<html lang="fr">' in reply.body
    assert 'role="alert"' in reply.body
    assert re.findall(r'<li><a href="#([^"]+)">', reply.body) == ["item-9-0", "item-10-0"]
    for n in (9, 10):
        assert f'aria-describedby="item-{n}-error"' in reply.body
        assert f'<p class="field-error" id="item-{n}-error" lang="fr">' in reply.body
    for n in range(1, 9):  # the answers given are kept
        assert re.search(f'id="item-{n}-1" name="item-{n}" value="1" checked', reply.body)
    # the same token, the form as it came back, now complete: recorded
    again = _hidden(reply) | {f"item-{n}": "1" for n in range(1, 11)}
    assert again["token"] == made.token
    sent = call(f"{server.url}/respond", method="POST", form=again, headers=jar)
    assert sent.status == 200
    assert "<h1>Vos réponses ont été envoyées" in sent.body  # CORE-10's risk item was answered 1


def test_the_librarys_refusal_of_one_answer_is_placed_by_that_question(tmp_path: Path) -> None:
    """The errors the library raises on submission name the item by its link id (the measure's check) or
    by its place in the QuestionnaireResponse: each lands on its own question; an error about the answers
    as a whole lands on each question left out."""
    app_module()
    from alliancekit_webapp.questionnaire import (
        form_parts,
        questionnaire_response,
        read_answers,
        refused_by_library,
    )

    path = tmp_path / "practice.sqlite"
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9")
        token = made.token
        assert token is not None  # shown once, as made
        form = practice.open_request(token)
        parts = form_parts(form.questionnaire)
        answered = read_answers(parts, {f"item-{n}": "0" for n in range(1, 10)})
        good = questionnaire_response(form.questionnaire, answered)
        out_of_range = json.loads(json.dumps(good))
        out_of_range["item"][2]["answer"] = [{"valueInteger": 4}]  # above PHQ-9's 0-3
        wrong_type = json.loads(json.dumps(good))
        wrong_type["item"][4]["answer"] = [{"valueString": "synthetic"}]
        missing = json.loads(json.dumps(good))
        del missing["item"][6]
        placed = []
        for response in (out_of_range, wrong_type, missing):
            with pytest.raises(ValidationError) as refused:
                practice.submit_response(token, questionnaire_response=response)
            kept = refused_by_library(parts, answered, response, refused.value)
            placed.append([(q.field, kind) for q, kind in kept.errors])
        practice.submit_response(token, questionnaire_response=good)  # the token was still good
    assert placed[0] == [("item-3", "refused")]
    assert placed[1] == [("item-5", "refused")]
    assert placed[2] == []  # every answer was given to the form: no question to point at


# -- 3. a store that fails at submission: nothing saved, said so, the answers sent again -----------------


def test_a_store_failure_at_submission_says_the_answers_were_not_saved_and_sends_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The practice's SQLite file held by another writer while the client sends: the bare 500 page, the
    answers lost. Now a page of its own (503) says they were not saved and carries them; sent again once
    the file is free, they are recorded."""
    import alliancekit.store.sqlite

    monkeypatch.setattr(alliancekit.store.sqlite, "BUSY_TIMEOUT_MS", 100)  # not 10 s of waiting
    path = tmp_path / "practice.sqlite"
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="phq-9", language="es")
    with serve(path) as server:
        page = call(f"{server.url}/r/{made.token}")
        jar = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}"}
        form = _hidden(page) | {f"item-{n}": "1" for n in range(1, 10)}  # as the browser posts it
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            failed = call(f"{server.url}/respond", method="POST", form=form, headers=jar)
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        assert failed.status == 503
        assert failed.headers["cache-control"] == "no-store"
        assert '<html lang="es">' in failed.body
        assert "Sus respuestas no se han guardado" in failed.body
        assert "Error" not in failed.body
        assert "SQLite" not in failed.body
        assert "database" not in failed.body.lower()
        assert _hidden(failed) == form
        sent = call(f"{server.url}/respond", method="POST", form=_hidden(failed), headers=jar)
    assert sent.status == 200
    assert CRISIS_INFORMATION in sent.body
    with open_practice(path) as practice:
        row = next(r for r in practice.caseload(CLINICIAN) if r.episode_id == episode_id)
    assert json.loads(row.latest_scores_json or "{}")["phq-9"] == 9


# -- 4. a new CSRF cookie at sign-in and at sign-out ------------------------------------------------------


def test_signing_in_and_out_each_issue_a_new_csrf_cookie(webapp: tuple[Server, Path]) -> None:
    """A CSRF cookie planted before sign-in (its form field read off any page of the app) was still the
    signed-in clinician's: now sign-in and sign-out each replace it, and its field no longer works."""
    server, path = webapp
    episode_id = seed(path)
    page = call(f"{server.url}/clinician/sign-in")
    planted = page.cookies["ak_csrf"]
    planted_field = csrf_of(page)
    reply = call(
        f"{server.url}/clinician/sign-in",
        method="POST",
        form={"csrf": planted_field, "user": CLINICIAN.id, "passphrase": PASSPHRASE},
        headers={"cookie": f"ak_csrf={planted}"},
    )
    assert reply.status == 303
    issued = reply.cookies["ak_csrf"]
    assert issued != planted
    assert len(issued) >= 32
    assert "HttpOnly" in reply.set_cookies["ak_csrf"]
    assert "SameSite=strict" in reply.set_cookies["ak_csrf"]
    jar = {"cookie": f"ak_csrf={issued}; ak_session={reply.cookies['ak_session']}"}
    choice = {"measure": "phq-9", "language": "en"}
    url = f"{server.url}/clinician/episodes/{episode_id}/kiosk-code"
    stale = call(url, method="POST", form=choice | {"csrf": planted_field}, headers=jar)
    assert stale.status == 403
    episode = call(f"{server.url}/clinician/episodes/{episode_id}", headers=jar)
    assert "ak_csrf" not in episode.cookies  # the new one is kept
    assert call(url, method="POST", form=choice | {"csrf": csrf_of(episode)}, headers=jar).status == 200
    out = call(
        f"{server.url}/clinician/sign-out", method="POST", form={"csrf": csrf_of(episode)}, headers=jar
    )
    assert out.status == 303
    assert out.cookies["ak_csrf"] not in (planted, issued)
    assert len(out.cookies["ak_csrf"]) >= 32


# -- 5. behind a TLS-terminating proxy: the public URL's origin, Secure cookies -----------------------------

#: What the app sees behind such a proxy: plain http and the proxy's upstream Host (no X-Forwarded-*).
UPSTREAM = {"host": "app.internal:8000"}
_SECURE = re.compile(r";\s*secure\s*(;|$)", re.IGNORECASE)


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (PUBLIC_URL, 303),  # the browser's, on the public URL
        ("null", 303),  # what a browser may send under no-referrer: the signed field decides, as before
        ("http://app.internal:8000", 303),  # the request's own scheme and host, as before
        ("http://measures.clinic.example", 403),
        ("https://measures.clinic.example:8443", 403),
        ("https://measures.clinic.example.elsewhere.example", 403),
        ("https://app.internal:8000", 403),
        ("https://elsewhere.example", 403),
    ],
)
def test_behind_a_tls_proxy_a_post_from_the_public_urls_origin_is_accepted_and_others_refused(
    webapp: tuple[Server, Path], origin: str, status: int
) -> None:
    """The app listens on http and the proxy sends its upstream Host, while the browser names the public
    URL's origin: that post was refused (the app compared it with its own scheme and Host)."""
    server, _ = webapp
    page = call(f"{server.url}/clinician/sign-in", headers=UPSTREAM)
    right = {"csrf": csrf_of(page), "user": CLINICIAN.id, "passphrase": PASSPHRASE}
    sent = {**UPSTREAM, "cookie": f"ak_csrf={page.cookies['ak_csrf']}", "origin": origin}
    reply = call(f"{server.url}/clinician/sign-in", method="POST", form=right, headers=sent)
    assert reply.status == status
    assert ("ak_session" in reply.cookies) == (status == 303)


def test_behind_a_tls_proxy_every_cookie_is_secure_when_the_public_url_is_https(
    webapp: tuple[Server, Path],
) -> None:
    """Over http behind the proxy (no --proxy-headers), the cookies went without Secure."""
    server, _ = webapp
    page = call(f"{server.url}/clinician/sign-in", headers=UPSTREAM)
    assert _SECURE.search(page.set_cookies["ak_csrf"]), page.set_cookies["ak_csrf"]
    jar = {**UPSTREAM, "cookie": f"ak_csrf={page.cookies['ak_csrf']}", "origin": PUBLIC_URL}
    right = {"csrf": csrf_of(page), "user": CLINICIAN.id, "passphrase": PASSPHRASE}
    reply = call(f"{server.url}/clinician/sign-in", method="POST", form=right, headers=jar)
    assert reply.status == 303
    for name in ("ak_session", "ak_csrf"):
        assert _SECURE.search(reply.set_cookies[name]), name
    jar["cookie"] = f"ak_csrf={reply.cookies['ak_csrf']}; ak_session={reply.cookies['ak_session']}"
    home = call(f"{server.url}/clinician", headers=jar)
    out = call(f"{server.url}/clinician/sign-out", method="POST", form={"csrf": csrf_of(home)}, headers=jar)
    assert out.status == 303
    for name in ("ak_session", "ak_csrf"):
        assert _SECURE.search(out.set_cookies[name]), name


def test_an_https_public_url_asks_browsers_for_https_only_and_a_loopback_http_one_does_not(
    webapp: tuple[Server, Path], tmp_path: Path
) -> None:
    """No Strict-Transport-Security was sent, so a client who once typed the clinic's address without
    https could be sent to plain http again, link token and all."""
    server, _ = webapp
    for url in ("/kiosk", "/r/forged-token", "/static/app.css", "/clinician/sign-in"):
        assert call(f"{server.url}{url}", headers=UPSTREAM).headers["strict-transport-security"] == (
            "max-age=31536000"
        )
    seed(tmp_path / "practice.sqlite")
    with serve(tmp_path / "practice.sqlite") as loopback:
        assert "strict-transport-security" not in call(f"{loopback.url}/kiosk").headers


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Measures.Clinic.Example", "https://measures.clinic.example"),
        ("https://measures.clinic.example:442/", "https://measures.clinic.example:442"),
        ("https://measures.clinic.example:443/", "https://measures.clinic.example"),
        ("https://measures.clinic.example:444", "https://measures.clinic.example:444"),
        ("http://127.0.0.1:79", "http://127.0.0.1:79"),
        ("http://127.0.0.1:80/", "http://127.0.0.1"),
        ("http://localhost:81", "http://localhost:81"),
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
        ("http://[::1]", "http://[::1]"),
    ],
)
def test_the_public_origin_is_what_a_browser_names_in_its_origin_header(url: str, origin: str) -> None:
    assert _settings(url).public_origin == origin  # type: ignore[attr-defined]


# -- 2 and 3 in Chromium: the form sent back and the not-saved page, focus and axe-core ------------------


def test_in_a_browser_refused_answers_come_back_focused_and_unsaved_answers_are_sent_again(
    browser: Browser, axe_source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a phone: CORE-10 sent with two questions left out comes back with the error summary focused and
    linked to both, the answers given still checked; then, the practice's file held by another writer, the
    not-saved page; its button, once the file is free, records the answers. axe-core on both pages."""
    import alliancekit.store.sqlite

    monkeypatch.setattr(alliancekit.store.sqlite, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "practice.sqlite"
    episode_id = seed(path)
    with open_practice(path) as practice:
        made = practice.request_administration(CLINICIAN, episode_id, measure="core-10")
    with serve(path) as server:
        visit(browser, f"{server.url}/r/{made.token}", *PHONE)
        for n in range(1, 9):
            click(browser, f"#item-{n}-0")
        click_through(browser, "main button[type=submit]")
        summary = browser.driver.find_element(_by("CSS_SELECTOR"), ".error-summary")
        assert browser.driver.switch_to.active_element == summary
        links = summary.find_elements(_by("TAG_NAME"), "a")
        assert [a.get_attribute("href").split("#")[1] for a in links] == ["item-9-0", "item-10-0"]
        checked = browser.script("return [...document.querySelectorAll('input:checked')].map(i => i.id);")
        assert checked == [f"item-{n}-0" for n in range(1, 9)]
        check_page(browser, axe_source, PHONE[0])
        click(browser, "#item-9-0")
        click(browser, "#item-10-0")
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            click_through(browser, "main button[type=submit]")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert heading(browser) == "Your answers were not saved"
        check_page(browser, axe_source, PHONE[0])
        click_through(browser, "main button[type=submit]")
        assert heading(browser) == "Thank you"
    with open_practice(path) as practice:
        row = next(r for r in practice.caseload(CLINICIAN) if r.episode_id == episode_id)
    # "Not at all" everywhere: items 2 and 3 are reverse-keyed (Barkham et al. 2013), 4 points each
    assert json.loads(row.latest_scores_json or "{}")["core-10"] == 8
