"""The reference web app (examples/webapp) served by uvicorn on 127.0.0.1 in a thread, over an SQLite file
the test makes, with synthetic clients. Used by the browser tests and the HTTP-level tests beside them.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from alliancekit import (
    Actor,
    Administration,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Role,
    Session,
    open_practice,
)
from alliancekit.domain import AdministrationTiming, Attendance, FitOutcome, Modality
from alliancekit.requests import RequestConfig

from .harness import unavailable

CLINIC = "clinic-web"
CLINICIAN = Actor("clin-web-1", Role.CLINICIAN, CLINIC)
PASSPHRASE = "synthetic passphrase for the tests"  # noqa: S105 - a test fixture's, never a real one
SECRET_KEY = bytes(range(32))
#: The clinic's crisis information (synthetic: no real service or number).
CRISIS_INFORMATION = "Synthetic crisis line: call 000-0000 (test clinic, open every day)."


def app_module() -> Any:
    """The example app's package, or the test is skipped (failed under CI=true)."""
    try:
        import alliancekit_webapp
    except ImportError:
        unavailable("the reference web app is not installed (pip install -e examples/webapp)")
    return alliancekit_webapp


def seed(path: Path, client_ref: str = "client-web-1") -> str:
    """A practice with one episode in therapy: two attended sessions with PHQ-9 totals 14 and 12, the last
    one today (so a kiosk code is for today's session). Returns the episode id."""
    with open_practice(path) as practice:
        today = practice.clinic_today(CLINIC)
        first = today - timedelta(days=14)
        ep = practice.start_episode(
            CLINICIAN, client_ref=client_ref, clinician_id=CLINICIAN.id, opened_on=first
        )
        practice.record_consultation(
            CLINICIAN,
            ep,
            Consultation(
                held_on=first, modality=Modality.IN_PERSON, consent=Consent(treatment=True, measures=True)
            ),
        )
        practice.decide_fit(CLINICIAN, ep, FitDecision(outcome=FitOutcome.PROCEED, decided_on=first))
        practice.agree_goals(CLINICIAN, ep, [GoalDraft("a synthetic goal")], agreed_on=first)
        for held_on, total in ((today - timedelta(days=7), 14), (today, 12)):
            answers: dict[str, float | None] = {
                f"q{i}": min(3, max(0, total - 3 * (i - 1))) for i in range(1, 10)
            }
            answers["q9"] = 0
            phq9 = Administration("phq-9", "1.0", AdministrationTiming.START, answers)
            practice.record_session(
                CLINICIAN,
                ep,
                Session(
                    held_on=held_on,
                    modality=Modality.IN_PERSON,
                    attendance=Attendance.ATTENDED,
                    administrations=(phq9,),
                ),
            )
    return ep


class Server:
    """uvicorn serving ``app_for(url)`` on a free port of 127.0.0.1 until :meth:`stop` (the app is made once
    its address is known, which its settings name), with the options ``python -m alliancekit_webapp`` gives
    it for ``trusted_proxies`` (its ``--trusted-proxy``)."""

    def __init__(
        self,
        app_for: Callable[[str], Any],
        *,
        access_log: bool = False,
        trusted_proxies: tuple[str, ...] = (),
    ) -> None:
        import uvicorn
        from alliancekit_webapp import server_options

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        # the name, not the address: the test browser resolves no host but localhost (harness.py)
        self.url = f"http://localhost:{self.port}"
        try:
            app = app_for(self.url)
        except BaseException:
            self._socket.close()
            raise
        level = "info" if access_log else "warning"  # uvicorn writes its access log at info
        config = uvicorn.Config(
            app, log_level=level, access_log=access_log, lifespan="on", **server_options(trusted_proxies)
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        ready = threading.Event()
        while not self._server.started and self._thread.is_alive():
            ready.wait(0.02)
        if not self._server.started:
            raise RuntimeError("the web app did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


@contextmanager
def serve(
    path: Path,
    request_options: Mapping[str, Any] | None = None,
    *,
    access_log: bool = False,
    settings_options: Mapping[str, Any] | None = None,
    trusted_proxies: tuple[str, ...] = (),
) -> Iterator[Server]:
    """The app over the practice at ``path``, with :data:`CLINICIAN` able to sign in (``settings_options``
    go to its ``Settings``, whose ``public_url`` is the server's own unless given; uvicorn's access log is
    on if asked; ``trusted_proxies`` as ``--trusted-proxy``)."""
    module = app_module()
    from alliancekit_webapp.security import hash_passphrase

    requests = RequestConfig(crisis_information={CLINIC: CRISIS_INFORMATION}, **(request_options or {}))
    passphrase = hash_passphrase(PASSPHRASE)

    def app_for(url: str) -> Any:
        options = {"public_url": url, **(settings_options or {})}
        settings = module.Settings(
            clinic_id=CLINIC, secret_key=SECRET_KEY, clinicians={CLINICIAN.id: passphrase}, **options
        )
        return module.create_app(path, settings, requests=requests)

    server = Server(app_for, access_log=access_log, trusted_proxies=trusted_proxies)
    try:
        yield server
    finally:
        server.stop()


class Reply:
    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        cookies: Mapping[str, str],
        body: str,
        set_cookies: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.cookies = cookies
        """The cookies the reply sets: name -> value."""
        self.body = body
        self.set_cookies = set_cookies or {}
        """The cookies the reply sets: name -> its whole ``Set-Cookie`` header (attributes and all)."""


def call(
    url: str,
    *,
    method: str = "GET",
    form: Mapping[str, str] | None = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    source: str | None = None,
) -> Reply:
    """One plain HTTP request to the app (no redirects followed), for what a browser hides: status codes
    and headers. ``source`` is the loopback address to send it from (``127.0.0.2`` ...: a client at
    another address, as the app sees it), the system's choice when ``None``."""
    parts = urlsplit(url)
    bind = None if source is None else (source, 0)
    connection = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60, source_address=bind)
    sent = dict(headers or {})
    if form is not None:
        body = urlencode(form).encode()
        sent.setdefault("content-type", "application/x-www-form-urlencoded")
    try:
        connection.request(
            method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=sent
        )
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        cookies, set_cookies = {}, {}
        for header in response.msg.get_all("set-cookie") or ():
            name, _, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";")[0]
            set_cookies[name.strip()] = header
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, headers, cookies, text, set_cookies)
    finally:
        connection.close()
