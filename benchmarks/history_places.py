"""Where `benchmarks.history` keeps its stores: SQLite data directories and PostgreSQL
databases of its own (made, kept with `--keep`, dropped), the baseline and the history."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import uvloop

from benchmarks.history_make import PAYMENT_WINDOW, Generated, Shape, generate
from soldout.store.ports import Store

DB_PREFIX = "soldout_bench_history"


@dataclass
class Place:
    """A store to start: a data directory, and a PostgreSQL URL or None (SQLite in it)."""

    data: Path
    url: str | None = None

    def store(self) -> Store:
        if self.url is not None:
            from soldout.store.postgresql import PostgresStore

            return PostgresStore(self.url)
        from soldout.store.sqlite import SqliteStore

        return SqliteStore(self.data / "soldout.db")

    def size(self) -> str:
        if self.url is None:
            files = list(self.data.glob("soldout.db*"))
            return f"{sum(f.stat().st_size for f in files) / 2**20:,.0f} MB on disk"
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return f"{(row[0] if row else 0) / 2**20:,.0f} MB in PostgreSQL"


def with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def server_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


class Databases:
    """Databases named `soldout_bench_history*` on one server: made, found, dropped; no
    other database is ever touched."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _run(self, statement: str, name: str) -> bool:
        """`statement` with `{}` for the database's name; whether it returned a row."""
        import psycopg
        from psycopg import sql

        if not name.startswith(DB_PREFIX):
            raise ValueError(f"refusing to touch {name!r}: not a database of this benchmark")
        query = sql.SQL(statement).format(sql.Identifier(name), sql.Literal(name))
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(query)
            return cursor.description is not None and cursor.fetchone() is not None

    def exists(self, name: str) -> bool:
        return self._run("SELECT 1 FROM pg_database WHERE datname = {1}", name)

    def create(self, name: str) -> str:
        self._run("CREATE DATABASE {0} TEMPLATE template0", name)
        return with_dbname(self.admin_url, name)

    def drop(self, name: str) -> None:
        self._run("DROP DATABASE IF EXISTS {0} WITH (FORCE)", name)

    def vacuum(self, url: str) -> None:
        """VACUUM ANALYZE: the planner's statistics and visibility map a server that has
        run for months would have (autovacuum), not a bulk load's."""
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


@contextlib.contextmanager
def postgres_server(given: str | None) -> Iterator[tuple[str, str]]:
    """(maintenance URL, description): `given`, or a private server for the run."""
    if given:
        yield given, f"the server at {server_of(given)}"
        return
    from tests.postgres import PostgresServer

    with PostgresServer() as server:
        yield server.url, f"a private server from tests/postgres.py (port {server.port})"


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def made(label: str, place: Place, gen: Generated) -> None:
    steps = ", ".join(f"{what} at {at:.1f} s" for what, at in gen.steps)
    print(f"{label}: generated in {gen.seconds:.1f} s ({steps}); {place.size()}", flush=True)


def sqlite_places(
    args: argparse.Namespace, shape: Shape, work: Path
) -> Generator[Place, None, None]:
    """The baseline then the history, made if need be."""
    base = Place(private_dir(work / "sqlite-baseline"))
    made("sqlite baseline", base, uvloop.run(generate(base.store(), None, "sqlite baseline")))
    yield base
    kept = Path(args.keep).resolve() / f"sqlite-{shape.orders}" if args.keep else None
    history = Place(kept or work / f"sqlite-{shape.orders}")
    marker = history.data / "history.json"
    if kept and marker.exists() and not args.fresh:
        print(f"sqlite history: kept in {kept} ({_age(marker)}); {history.size()}", flush=True)
        yield history
        return
    shutil.rmtree(history.data, ignore_errors=True)  # (only ever this benchmark's folder)
    private_dir(history.data)
    gen = uvloop.run(generate(history.store(), shape, "sqlite history"))
    made("sqlite history", history, gen)
    marker.write_text(_note(shape, gen))
    yield history


def postgres_places(
    args: argparse.Namespace, shape: Shape, work: Path, admin: str
) -> Generator[Place, None, None]:
    """The baseline then the history, as databases of their own on `admin`'s server; the
    temporary ones dropped when the generator is closed."""
    databases = Databases(admin)
    token = uuid.uuid4().hex[:8]
    keep = bool(args.keep and args.postgres)
    name = f"{DB_PREFIX}_{shape.orders}" if keep else f"{DB_PREFIX}_{shape.orders}_{token}"
    marker = Path(args.keep).resolve() / f"postgresql-{shape.orders}.json" if keep else None
    with contextlib.ExitStack() as temporary:
        base_name = f"{DB_PREFIX}_base_{token}"
        base = Place(private_dir(work / "pg-baseline"), databases.create(base_name))
        temporary.callback(databases.drop, base_name)
        gen = uvloop.run(generate(base.store(), None, "postgresql baseline"))
        databases.vacuum(with_dbname(admin, base_name))
        made("postgresql baseline", base, gen)
        yield base
        data = private_dir(work / "pg-history")
        if marker is not None and marker.exists() and not args.fresh:
            noted = json.loads(marker.read_text())
            if noted.get("server") == server_of(admin) and databases.exists(name):
                history = Place(data, with_dbname(admin, name))
                print(f"postgresql history: kept as {name} ({_age(marker)}); {history.size()}")
                yield history
                return
        databases.drop(name)  # (a kept one made in part, or an old one)
        history = Place(data, databases.create(name))
        if marker is None:
            temporary.callback(databases.drop, name)
        gen = uvloop.run(generate(history.store(), shape, "postgresql history"))
        databases.vacuum(with_dbname(admin, name))
        made(f"postgresql history ({name})", history, gen)
        if marker is not None:
            marker.write_text(_note(shape, gen, server=server_of(admin), database=name))
        yield history


def _note(shape: Shape, gen: Generated, **more: str) -> str:
    return json.dumps(
        {
            "orders": shape.orders,
            "fans": shape.fans,
            "generated_at": datetime.now(UTC).isoformat(),
            "generation_s": round(gen.seconds, 1),
            **more,
        }
    )


def _age(marker: Path) -> str:
    noted = json.loads(marker.read_text())
    at = datetime.fromisoformat(noted["generated_at"])
    days = (datetime.now(UTC) - at).total_seconds() / 86400
    warning = ""
    if days * 86400 > PAYMENT_WINDOW:
        warning = "; its live launch's held claims have expired since: --fresh makes it anew"
    return f"made {days:.1f} days ago in {noted['generation_s']} s, {noted['fans']:,} fans{warning}"
