"""The reference web app (examples/webapp) over plain HTTP on 127.0.0.1, for what a browser hides: status
codes, security headers, CSRF, body limits, the clinician's sign-in. No browser needed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliancekit import open_practice

from .webapp_server import CLINICIAN, PASSPHRASE, Reply, Server, call, seed, serve


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
