"""What the command line makes and opens on PostgreSQL, seen from the server: a refused or interrupted demo
leaves nothing it made, and a command opens one connection pool. The CLI runs in a process of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEMO = ("--clients", "12", "--seed", "5", "--today", "2026-06-30", "-q")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD"}
    env["ALLIANCEKIT_PLUGINS"] = "postgres"
    return env


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alliancekit", *argv], capture_output=True, text=True, env=_env(), check=False
    )


def _objects(admin, schema: str) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every relation and routine in ``schema``, by kind and name."""
    rows = admin.execute(
        "WITH n AS (SELECT oid FROM pg_namespace WHERE nspname = %(s)s)"
        " SELECT 'class', relname FROM pg_class WHERE relnamespace = (SELECT oid FROM n)"
        " UNION ALL SELECT 'proc', proname FROM pg_proc WHERE pronamespace = (SELECT oid FROM n)",
        {"s": schema},
    ).fetchall()
    return {(str(kind), str(name)) for kind, name in rows}


def _schema_exists(admin, schema: str) -> bool:  # type: ignore[no-untyped-def]
    return admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


def test_a_refused_demo_leaves_nothing_it_made_and_what_was_there_stays(pg, admin) -> None:  # type: ignore[no-untyped-def]
    # Before the fix the demo refused for another clinic left its tables in the schema, and the next demo at
    # the right location said "the store already holds a practice (it holds no episodes)".
    schema = pg.new_schema()
    admin.execute(sql.SQL("CREATE SEQUENCE {}.kept").format(sql.Identifier(schema)))
    admin.execute(
        sql.SQL("CREATE FUNCTION {}.kept() RETURNS int LANGUAGE sql AS 'SELECT 1'").format(
            sql.Identifier(schema)
        )
    )
    before = _objects(admin, schema)
    done = _run("demo", "--db", pg.location(schema, "north"), *DEMO)
    assert done.returncode == 2
    assert "the demo's clinic is demo-clinic" in done.stderr
    assert _objects(admin, schema) == before == {("class", "kept"), ("proc", "kept")}
    again = _run("demo", "--db", pg.location(schema, "demo-clinic"), *DEMO)
    assert again.returncode == 0, again.stderr


def test_a_refused_demo_drops_the_schema_it_made(pg, admin) -> None:  # type: ignore[no-untyped-def]
    schema = f"made_{pg.token}"
    grant = sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
        sql.Identifier(pg.database), sql.Identifier(pg.app_role)
    )
    admin.execute(grant)
    try:
        done = _run("demo", "--db", pg.location(schema, "north"), *DEMO)
        assert done.returncode == 2
        assert not _schema_exists(admin, schema)
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        admin.execute(
            sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(
                sql.Identifier(pg.database), sql.Identifier(pg.app_role)
            )
        )


def _wait_for_episodes(admin, schema: str, demo: subprocess.Popen[str]) -> None:  # type: ignore[no-untyped-def]
    """Until the demo has committed its first batch of episodes (it is then mid-way, with more to write)."""
    query = sql.SQL("SELECT count(*) FROM {}.episodes").format(sql.Identifier(schema))
    deadline = time.monotonic() + 120  # a bound on a hang, not a speed requirement
    while time.monotonic() < deadline:
        assert demo.poll() is None, demo.communicate()[1]
        if ("class", "episodes") in _objects(admin, schema) and admin.execute(query).fetchone()[0] > 0:
            return
        time.sleep(0.05)
    pytest.fail("the demo wrote no episode")


def test_an_interrupted_demo_leaves_nothing_it_made(pg, admin) -> None:  # type: ignore[no-untyped-def]
    # Before the fix it said "empty the store before running the demo again" and left its tables and rows.
    schema = pg.new_schema()
    location = pg.location(schema, "demo-clinic")
    argv = ["demo", "--db", location, "--clients", "5000", "--seed", "5", "--today", "2026-06-30", "-q"]
    # ``with`` closes the pipes on every way out: a pipe left open on a failure would be collected, and
    # reported as an unclosed file, in whichever test of this worker runs next.
    with subprocess.Popen(
        [sys.executable, "-m", "alliancekit", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as demo:
        try:
            _wait_for_episodes(admin, schema, demo)
            demo.send_signal(signal.SIGINT)
            _, stderr = demo.communicate(timeout=120)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
    assert demo.returncode == 130, stderr
    assert "the unfinished demo at" in stderr
    assert "was removed" in stderr
    assert _objects(admin, schema) == set()
    again = _run("demo", "--db", location, *DEMO)
    assert again.returncode == 0, again.stderr


class CountingProxy:
    """A TCP relay on 127.0.0.1 to the server, counting the connections made through it."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.upstream) as server:
            back = threading.Thread(target=self._pump, args=(server, client), daemon=True)
            back.start()
            self._pump(client, server)
            back.join()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):  # the end of one direction ends the other
            sink.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(pg) -> Iterator[CountingProxy]:  # type: ignore[no-untyped-def]
    params = conninfo_to_dict(pg.app_dsn)
    host = str(params.get("host") or "")
    if not host or host.startswith("/") or "," in host:
        pytest.skip("the test server is reached by a Unix socket or several hosts here: nothing to relay")
    relay = CountingProxy(host, int(params.get("port") or 5432))
    yield relay
    relay.close()


def test_caseload_opens_one_pool(pg, proxy: CountingProxy) -> None:  # type: ignore[no-untyped-def]
    # Before the fix the command opened the practice read-only (a pool), closed it and opened it again to
    # write (a second pool): four connections, each pool's plus the one checking the location first.
    schema = pg.new_schema()
    assert _run("demo", "--db", pg.location(schema, "demo-clinic"), *DEMO).returncode == 0
    location = (
        f"postgresql://{pg.app_role}@127.0.0.1:{proxy.port}/{pg.database}"
        f"?clinic=demo-clinic&schema={schema}&pool_max=1"
    )
    done = _run("caseload", "--db", location, "--all", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[")
    assert proxy.accepted == 2  # the location's check, then the one pool's one connection
    for argv in (("verify",), ("report", "--out", "-")):  # read-only opening: one pool as well
        before = proxy.accepted
        assert _run(*argv, "--db", location).returncode == 0
        assert proxy.accepted - before == 2, argv


def test_the_store_removes_only_what_its_own_opening_made(pg, admin) -> None:  # type: ignore[no-untyped-def]
    from alliancekit_postgres import PostgresStore

    schema = f"Mixed_{pg.token}"  # a quoted, mixed-case name: looked up as written, not folded
    ident = sql.Identifier(schema)
    admin.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(ident, sql.Identifier(pg.app_role)))
    try:
        admin.execute(
            sql.SQL("CREATE FUNCTION {}.kept() RETURNS int LANGUAGE sql AS 'SELECT 1'").format(ident)
        )
        before = _objects(admin, schema)
        made = PostgresStore(pg.app_dsn, clinic_id="north", schema=schema)
        made.save_meta("k", '{"n": 1}')
        assert _objects(admin, schema) > before
        assert made.discard_created()
        made.close()
        assert _objects(admin, schema) == before == {("proc", "kept")}
        first = PostgresStore(pg.app_dsn, clinic_id="north", schema=schema)
        first.save_meta("k", '{"n": 1}')
        first.close()
        opened = PostgresStore(pg.app_dsn, clinic_id="north", schema=schema)  # finds the store: made nothing
        try:
            assert not opened.discard_created()
            assert opened.load_meta("k") == '{"n": 1}'
        finally:
            opened.close()
    finally:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(ident))
