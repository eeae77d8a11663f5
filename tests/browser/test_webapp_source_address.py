"""Which address the reference web app's per-address limits (kiosk codes, sign-in) count: the TCP peer, not
an ``X-Forwarded-For`` the client writes, unless a reverse proxy is named with ``--trusted-proxy``. Served
by uvicorn on 127.0.0.1 with the options ``python -m alliancekit_webapp`` gives it, and by that command."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from alliancekit import open_practice

from .test_webapp_http import csrf_of
from .webapp_server import CLINIC, CLINICIAN, PASSPHRASE, Reply, app_module, call, seed, serve


def _kiosk(url: str, code: str, forwarded: str, source: str | None = None) -> Reply:
    page = call(f"{url}/kiosk", source=source)
    headers = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}", "x-forwarded-for": forwarded}
    form = {"csrf": csrf_of(page), "code": code}
    return call(f"{url}/kiosk", method="POST", form=form, headers=headers, source=source)


def _sign_in(url: str, user: str, passphrase: str, forwarded: str) -> Reply:
    page = call(f"{url}/clinician/sign-in")
    headers = {"cookie": f"ak_csrf={page.cookies['ak_csrf']}", "x-forwarded-for": forwarded}
    form = {"csrf": csrf_of(page), "user": user, "passphrase": passphrase}
    return call(f"{url}/clinician/sign-in", method="POST", form=form, headers=headers)


def _failures(path: Path) -> list[int]:
    """Each source's count of wrong kiosk codes, as the library keeps them."""
    with sqlite3.connect(path) as db:
        return sorted(n for (n,) in db.execute("SELECT failures FROM kiosk_failures"))


def _code(path: Path, episode_id: str) -> str:
    with open_practice(path) as practice:
        return practice.kiosk_code(CLINICIAN, episode_id, measure="gad-7").code


@pytest.mark.parametrize("wrong", [1, 2])
def test_a_forwarded_for_header_does_not_make_kiosk_guesses_count_as_other_sources(
    tmp_path: Path, wrong: int
) -> None:
    """With a limit of 2 wrong codes per source, each guess naming another X-Forwarded-For from 127.0.0.1:
    they count as one source, so after 2 the right code (naming yet another) is refused."""
    path = tmp_path / "practice.sqlite"
    code = _code(path, seed(path))
    with serve(path, {"kiosk_attempts": 2}) as server:
        refusals = [_kiosk(server.url, "WRONG000", f"203.0.113.{i}") for i in range(wrong)]
        right = _kiosk(server.url, code, "198.51.100.7")
    assert {r.status for r in refusals} == {404}
    assert _failures(path) == [wrong]
    if wrong < 2:
        assert right.status == 200
    else:
        assert right.status == 404
        assert right.body == refusals[0].body


@pytest.mark.parametrize("wrong", [1, 2])
def test_a_forwarded_for_header_does_not_make_sign_in_guesses_count_as_other_addresses(
    tmp_path: Path, wrong: int
) -> None:
    path = tmp_path / "practice.sqlite"
    seed(path)
    with serve(path, settings_options={"sign_in_attempts": 2}) as server:
        refusals = [
            _sign_in(server.url, user, PASSPHRASE + "x", f"203.0.113.{i}")
            for i, user in enumerate((CLINICIAN.id, "nobody")[:wrong])
        ]
        right = _sign_in(server.url, CLINICIAN.id, PASSPHRASE, "198.51.100.7")
    assert {r.status for r in refusals} == {401}
    assert right.status == (303 if wrong < 2 else 429)


def test_behind_a_trusted_proxy_each_forwarded_client_is_its_own_source(tmp_path: Path) -> None:
    """``--trusted-proxy 127.0.0.1``: requests from 127.0.0.1 are counted by their X-Forwarded-For, those
    from any other address (127.0.0.2 here) by that address, whatever header they carry."""
    path = tmp_path / "practice.sqlite"
    episode_id = seed(path)
    code = _code(path, episode_id)
    with serve(path, {"kiosk_attempts": 2}, trusted_proxies=("127.0.0.1",)) as server:
        direct = [_kiosk(server.url, "WRONG000", f"203.0.113.{i}", source="127.0.0.2") for i in range(2)]
        held = _kiosk(server.url, code, "198.51.100.7", source="127.0.0.2")
        proxied = [_kiosk(server.url, "WRONG000", f"203.0.113.{i}") for i in range(2)]
        through = _kiosk(server.url, code, "198.51.100.7")
    assert {r.status for r in (*direct, *proxied)} == {404}
    assert held.status == 404
    assert through.status == 200  # 198.51.100.7 guessed nothing
    assert _failures(path) == [1, 1, 2]


@pytest.mark.parametrize("proxy", ["*", "proxy.clinic.example", "10.0.0.0/33", ""])
def test_the_command_refuses_a_trusted_proxy_that_is_not_an_address_or_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, proxy: str
) -> None:
    app_module()
    import uvicorn
    from alliancekit_webapp.__main__ import main

    def never(*args: object, **kwargs: object) -> None:  # a guard, so a regression fails, not listens
        raise AssertionError("the app was served")

    monkeypatch.setattr(uvicorn, "run", never)
    db = tmp_path / "never-opened.sqlite"
    assert main(["--db", str(db), "--clinic", CLINIC, "--trusted-proxy", proxy]) == 2
    error = capsys.readouterr().err
    assert "trusted_proxy: ip-address" in error
    if proxy:
        assert proxy not in error
    assert not db.exists()


@contextmanager
def _command(path: Path, *options: str) -> Iterator[str]:
    """``python -m alliancekit_webapp`` serving ``path`` on a free port of 127.0.0.1; yields its URL."""
    app_module()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "alliancekit_webapp", "--db", str(path), "--clinic", CLINIC]
    process = subprocess.Popen(
        [*command, "--port", str(port), *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    _, err = process.communicate()
                    pytest.fail(f"the app did not start: {err.decode(errors='replace')}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.parametrize("wrong", [4, 5])
def test_the_command_counts_the_tcp_peer_whatever_x_forwarded_for_says(tmp_path: Path, wrong: int) -> None:
    """The command as documented (the default limit of 5 wrong codes per source): guesses from 127.0.0.1,
    each naming another X-Forwarded-For, count as one source, so after 5 the right code is refused."""
    path = tmp_path / "practice.sqlite"
    code = _code(path, seed(path))
    with _command(path) as url:
        refusals = [_kiosk(url, "WRONG000", f"203.0.113.{i}") for i in range(wrong)]
        right = _kiosk(url, code, "198.51.100.7")
    assert {r.status for r in refusals} == {404}
    assert _failures(path) == [wrong]
    assert right.status == (200 if wrong < 5 else 404)
