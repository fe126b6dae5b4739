"""The PostgreSQL that tests get (tests/postgres.py): it works, a private one survives a kill
with its committed data, and a server given by URL only ever sees databases of our own."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.postgres import (
    DB_PREFIX,
    ENV_URL,
    PostgresServer,
    PostgresTarget,
    postgres_database,
)

pytest_plugins = ["tests.postgres"]

# the machine's shared server, where there is one: the URL path is tried on it, with only a
# database of the test's own; a machine without it still runs the same path on a private one
SHARED_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def test_a_connection_works(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        # each test gets a fresh database of its own, durable as a real deployment's
        assert conn.info.dbname.startswith(DB_PREFIX)
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)


def test_the_session_server_is_shared_and_databases_are_not(
    postgres_server: PostgresTarget, postgres_url: str
) -> None:
    with postgres_server.database() as other, psycopg.connect(other) as conn:
        conn.execute("CREATE TABLE mine (x int)")
        conn.commit()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('mine')").fetchone() == (None,)


def test_a_private_server_keeps_committed_data_through_a_kill(
    private_postgres: PostgresServer,
) -> None:
    server = private_postgres
    port, pid = server.port, server.pid
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE claims (id text PRIMARY KEY)")
        conn.execute("INSERT INTO claims VALUES ('committed')")
    lost = psycopg.connect(server.url)  # a transaction left open when the server dies
    lost.execute("INSERT INTO claims VALUES ('in flight')")

    server.kill()
    assert not server.running
    with pytest.raises(psycopg.OperationalError):
        lost.commit()
    lost.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)

    server.start()  # crash recovery on the same data directory and port
    assert server.port == port
    assert server.pid != pid
    with psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT id FROM claims").fetchall() == [("committed",)]


def test_a_private_server_stops_and_starts_again(private_postgres: PostgresServer) -> None:
    server = private_postgres
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t AS SELECT 42 AS x")
    server.stop()
    assert not server.running
    server.start()
    with psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT x FROM t").fetchone() == (42,)


@pytest.fixture(params=["shared", "private"])
def url_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server that the URL path points at: the machine's shared one (skipped where there is
    none), or a private one standing in for it."""
    if request.param == "shared":
        if not _reachable(SHARED_URL):
            pytest.skip(f"no shared PostgreSQL at {SHARED_URL} on this machine")
        yield SHARED_URL
    else:
        with PostgresServer() as server:
            yield server.url


def _databases(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database").fetchall()}


def test_the_url_path_creates_and_drops_only_its_own_database(
    url_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_URL, url_server)
    before = _databases(url_server)
    with postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith(DB_PREFIX)
        assert url == url_server.rsplit("/", 1)[0] + "/" + name  # same server, same user
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
            conn.execute("CREATE TABLE t (x int)")
            conn.commit()
        # an open connection does not keep it alive: the drop forces it closed
        lingering = psycopg.connect(url)
        assert name in _databases(url_server)
        assert name not in before
    with pytest.raises(psycopg.OperationalError):
        lingering.execute("SELECT 1")
    lingering.close()
    # gone, and nothing else went with it (others may add databases to a shared server
    # meanwhile, but none of those that were there before went away)
    after = _databases(url_server)
    assert name not in after
    assert before <= after
