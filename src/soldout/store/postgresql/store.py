"""The PostgreSQL store: one database, owned by one soldout process at a time.

    store = PostgresStore("postgresql://soldout@db.internal/shop")
    await store.open()  # the lock, the migrations, the writer, the read pool

Two kinds of connection: the writer's own (group commit, `writer.py`; it also holds the
store's advisory lock) and a small pool for reads, which are awaited like the SQLite
adapter's and run while a commit is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

import psycopg
import sqlalchemy.exc
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from soldout.datadir import Unusable
from soldout.domain.errors import StorageUnavailable
from soldout.store.ports import StoreHealth
from soldout.store.postgresql.access import PgSessions, PgTeam
from soldout.store.postgresql.after_sale import PgAudit, PgOrders, PgPayments, PgPlans
from soldout.store.postgresql.fans import PgFans
from soldout.store.postgresql.migrations import upgrade
from soldout.store.postgresql.outbox import PgNotifications
from soldout.store.postgresql.ownership import (
    first_line,
    let_go,
    take_lock,
    warn_unless_durable,
    where,
)
from soldout.store.postgresql.rehearsals import PgRehearsals
from soldout.store.postgresql.repos import PgClaims, PgCodes, PgLaunches, PgProducts, PgReservations
from soldout.store.postgresql.site import PgBoard, PgLinks, PgMedia, PgShop
from soldout.store.postgresql.transaction import PgTransaction
from soldout.store.postgresql.writer import Do, Params, PgWriter
from soldout.store.sqlite.store import StoreInUse

__all__ = ["PostgresStore", "StoreInUse"]

READERS = 4  # pooled read connections at most: reads are short, and the engine reads little
CONNECT: dict[str, Any] = {"autocommit": True, "application_name": "soldout", "connect_timeout": 10}


class PostgresStore:
    """`await store.open()` owns the database, migrates it and starts the writer;
    `open_read_only()` reads beside a running server."""

    def __init__(self, url: str, *, readers: int = READERS) -> None:
        self.url = url
        self.where = where(url)
        self.writer = PgWriter(self.where)
        self._readers = readers
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._owner: psycopg.AsyncConnection[Any] | None = None
        self._worker: psycopg.AsyncConnection[Any] | None = None  # `open_as_worker`
        self.products = PgProducts(self)
        self.launches = PgLaunches(self)
        self.fans = PgFans(self)
        self.reservations = PgReservations(self)
        self.claims = PgClaims(self)
        self.codes = PgCodes(self)
        self.orders = PgOrders(self)
        self.payments = PgPayments(self)
        self.plans = PgPlans(self)
        self.notifications = PgNotifications(self)
        self.audit = PgAudit(self)
        self.media = PgMedia(self)
        self.shop = PgShop(self)
        self.links = PgLinks(self)
        self.board = PgBoard(self)
        self.rehearsals = PgRehearsals(self)
        self.team = PgTeam(self)
        self.sessions = PgSessions(self)

    def transaction(self) -> PgTransaction:
        """One job of the group commit: see `postgresql/transaction.py`."""
        return PgTransaction(self.writer, self.fans, self.notifications)

    def health(self) -> StoreHealth:
        failed = self.writer.failed
        return StoreHealth(
            failed=None
            if failed is None
            else f"a commit to the PostgreSQL {self.where} failed: {first_line(failed)}",
            transactions=self.writer.batches,
            writes=self.writer.jobs,
        )

    def on_commit(self, listener: Callable[[int, float], None]) -> None:
        self.writer.listeners.append(listener)

    async def open(self) -> None:
        """Raises `StoreInUse` if another process owns the database, `Unusable` (one line
        naming it) if it cannot be reached or migrated."""
        owner = await self._connect()
        try:
            await take_lock(owner, self.where)
            await asyncio.to_thread(self._migrate)
            await warn_unless_durable(owner, self.where)
            await self._open_pool()
        except BaseException:
            await owner.close()
            raise
        self._owner = owner
        self.writer.start(owner)

    async def open_as_worker(self) -> None:
        """Write claims beside the owner (`soldout.scaleout`): a writer and a read pool, no
        lock and no migration (the owner migrates). `Unusable` if out of reach."""
        await self._open_pool()
        self._worker = await self._connect()
        self.writer.start(self._worker)

    async def write_again(self) -> bool:
        """A worker's writer stopped at a failed commit: start a new one on a new
        connection once the server answers again. Whether writing works now."""
        if not self.writer.failed:
            return True
        try:
            conn = await self._connect()
        except Unusable:
            return False
        stale, self._worker = self._worker, conn
        self.writer.resume(conn)
        if stale is not None:
            with contextlib.suppress(psycopg.Error):
                await stale.close()
        return True

    async def open_read_only(self) -> None:
        """Read what is durable without owning the store: no lock, no migration, no writes
        (they raise `StorageUnavailable`). Safe while a server runs on the same database."""
        await self._open_pool()
        try:
            await self.fetch("SELECT version_num FROM alembic_version")
        except psycopg.errors.UndefinedTable:
            await self.close()
            raise Unusable(f"no soldout data in the PostgreSQL {self.where}") from None

    async def close(self) -> None:
        await self.writer.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._worker is not None:
            with contextlib.suppress(psycopg.Error):
                await self._worker.close()
            self._worker = None
        if self._owner is not None:
            await let_go(self._owner)
            await self._owner.close()
            self._owner = None

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]:
        """Rows as dicts. A server out of reach is `StorageUnavailable` (HTTP 503)."""
        if self._pool is None:
            raise RuntimeError("the store is not open")
        try:
            async with self._pool.connection() as conn:
                cursor = conn.cursor(row_factory=dict_row)
                await cursor.execute(sql, params)
                rows: list[Any] = await cursor.fetchall()
                return rows
        except psycopg.OperationalError as exc:  # the pool's timeout is one too
            raise StorageUnavailable() from exc

    async def secret(self, name: str) -> bytes:
        rows = await self.fetch("SELECT value FROM secrets WHERE name = %b", (name,))
        if rows:
            value: bytes = rows[0]["value"]
            return value
        made = secrets.token_bytes(32)
        await self.writer.submit(
            Do(
                [
                    (
                        "INSERT INTO secrets (name, value) VALUES (%b, %b)"
                        " ON CONFLICT (name) DO NOTHING",
                        (name, made),
                    )
                ]
            )
        )
        return await self.secret(name)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """The writer's connection. psycopg prepares a statement at its sixth use, so the
        server parses and plans it once (paid orders 1,148/s against 878 unprepared,
        docs/payments.md). A batch that fails in pipeline mode makes the server skip what
        followed the error, a PREPARE included, which psycopg believes done until it sees
        a ROLLBACK: the writer rolls back with psycopg's own `rollback` (it forgets every
        prepared statement) before it sends the jobs again one by one, preparing none
        (`test_a_failed_batch_leaves_no_statement_believed_prepared`)."""
        try:
            return await psycopg.AsyncConnection.connect(self.url, **CONNECT)
        except psycopg.Error as exc:
            raise Unusable(f"cannot reach the PostgreSQL {self.where}: {first_line(exc)}") from None

    def _migrate(self) -> None:
        try:
            upgrade(self.url)
        except sqlalchemy.exc.DBAPIError as exc:
            raise Unusable(
                f"cannot migrate the PostgreSQL {self.where}: {first_line(exc.orig)}"
            ) from None

    async def _open_pool(self) -> None:
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self._readers,
            kwargs=CONNECT,
            open=False,
            timeout=5,  # a read waits this long for a connection, then 503
            name="soldout-reads",
        )
        try:
            await pool.open(wait=True, timeout=10)
        except psycopg.OperationalError as exc:
            await pool.close()
            raise Unusable(f"cannot reach the PostgreSQL {self.where}: {first_line(exc)}") from None
        self._pool = pool
