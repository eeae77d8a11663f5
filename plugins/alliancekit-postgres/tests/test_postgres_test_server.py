"""The test server helper (:func:`alliancekit_postgres.testing.test_server`) tells a server that is absent
from one that is slow to answer: the first refuses at once and skips the test (fails it under ``CI=true``),
the second is waited for. Before, the helper gave the server 3 seconds, and a run whose machine was busy took
a server that answered later for absent and failed every PostgreSQL test of that process.

The slow server is the real one behind a relay on 127.0.0.1 that holds the first connection for longer than
those 3 seconds before it passes the bytes on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator

import pytest
from alliancekit_postgres.testing import CONNECT_TIMEOUT, DEFAULT_DSN, test_server
from psycopg.conninfo import conninfo_to_dict

#: Seconds the relay holds the first connection: more than the 3 the helper used to allow, well under
#: :data:`CONNECT_TIMEOUT`.
HELD = 4.0


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def _slow_relay(host: str, port: int) -> Iterator[int]:
    """A port on 127.0.0.1 that relays to ``host:port``, the first connection only after :data:`HELD`
    seconds (the server's answer to it comes that late); yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = threading.Event()
    open_sockets: list[socket.socket] = [listener]

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                if not held.is_set():
                    held.set()
                    threading.Event().wait(HELD)
                server = socket.create_connection((host, port))
                open_sockets.extend((client, server))
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        for s in open_sockets:
            with contextlib.suppress(OSError):
                s.close()


def _server_dsn() -> tuple[str, int, str]:
    dsn = os.environ.get("ALLIANCEKIT_TEST_PG_DSN", DEFAULT_DSN)
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "")
    if not host or host.startswith("/") or "," in host:
        pytest.skip("the test server is reached by a Unix socket or several hosts here")
    return host, int(params.get("port") or 5432), str(params.get("user") or "postgres")


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (it was just bound and let go): a connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_slow_to_answer_is_waited_for_not_taken_for_absent(
    pg: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``pg``: the run's server is there (else this test is skipped or failed as every other one)
    assert HELD < CONNECT_TIMEOUT
    host, port, user = _server_dsn()
    with _slow_relay(host, port) as relay:
        monkeypatch.setenv("ALLIANCEKIT_TEST_PG_DSN", f"postgresql://{user}@127.0.0.1:{relay}/test")
        monkeypatch.setenv("CI", "true")
        made = test_server()
        server = next(made)  # a skip or a failure would raise here
        try:
            with server.admin() as conn:
                assert conn.execute("SELECT current_database()").fetchone() == (server.database,)
        finally:
            made.close()  # drops the database and role it made


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_server_that_refuses_skips_the_test_or_fails_it_under_ci(
    ci: str, outcome: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("ALLIANCEKIT_TEST_PG_DSN", f"postgresql://postgres@127.0.0.1:{port}/test")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome) as caught:
        next(test_server())
    said = str(caught.value)
    assert said.startswith(f"PostgreSQL not reachable at 127.0.0.1:{port} (OperationalError)"), said
    assert said.endswith(" and CI=true") == (ci == "true")
