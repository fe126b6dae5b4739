"""The embedded SQLite store: one database file in the data directory."""

from __future__ import annotations

import fcntl
import secrets
import sqlite3
from pathlib import Path
from typing import TextIO

from soldout.store.sqlite.after_sale import (
    SqliteAudit,
    SqliteNotifications,
    SqliteOrders,
    SqlitePayments,
    SqlitePlans,
)
from soldout.store.sqlite.fans import SqliteFans
from soldout.store.sqlite.migrations import upgrade
from soldout.store.sqlite.rehearsals import SqliteRehearsals
from soldout.store.sqlite.repos import (
    SqliteClaims,
    SqliteCodes,
    SqliteLaunches,
    SqliteProducts,
    SqliteReservations,
)
from soldout.store.sqlite.site import SqliteLinks, SqliteMedia, SqliteShop
from soldout.store.sqlite.writer import GroupCommitWriter, connect

__all__ = ["SqliteStore", "StoreInUse"]


class SqliteStore:
    """`await store.open()` migrates the schema to the newest version and starts the writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = GroupCommitWriter(path)
        self._reader: sqlite3.Connection | None = None
        self._lock: TextIO | None = None
        self.products = SqliteProducts(self)
        self.launches = SqliteLaunches(self)
        self.fans = SqliteFans(self)
        self.reservations = SqliteReservations(self)
        self.claims = SqliteClaims(self)
        self.codes = SqliteCodes(self)
        self.orders = SqliteOrders(self)
        self.payments = SqlitePayments(self)
        self.plans = SqlitePlans(self)
        self.notifications = SqliteNotifications(self)
        self.audit = SqliteAudit(self)
        self.media = SqliteMedia(self)
        self.shop = SqliteShop(self)
        self.links = SqliteLinks(self)
        self.rehearsals = SqliteRehearsals(self)

    def reader(self) -> sqlite3.Connection:
        """The read connection, used on the event loop thread (WAL: reads never block)."""
        if self._reader is None:
            raise RuntimeError("the store is not open")
        return self._reader

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _exclusive_lock(lock_path(self.path))
        upgrade(self.path)
        reader = self._reader = connect(self.path)
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only=ON")
        self.writer.start()

    async def open_read_only(self) -> None:
        """Read what is durable without owning the store: no lock, no migration, no writes
        (they fail). Safe while a server runs on the same database (WAL readers)."""
        if not self.path.exists():
            raise FileNotFoundError(f"no soldout database at {self.path}")
        reader = self._reader = sqlite3.connect(
            f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
        )
        reader.row_factory = sqlite3.Row

    async def secret(self, name: str) -> bytes:
        row = self.reader().execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
        if row is not None:
            value: bytes = row[0]
            return value
        made = secrets.token_bytes(32)
        await self.writer.submit(
            lambda conn: conn.execute(
                "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, made),
            )
        )
        return await self.secret(name)

    async def close(self) -> None:
        await self.writer.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._lock is not None:
            self._lock.close()  # the kernel drops the lock with the file (also on a crash)
            self._lock = None


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def check_not_in_use(database: Path) -> None:
    """Raise `StoreInUse` now, with a clear message, if another process serves `database`."""
    database.parent.mkdir(parents=True, exist_ok=True)
    _exclusive_lock(lock_path(database)).close()


def _exclusive_lock(path: Path) -> TextIO:
    """One process owns a database: its counters are the truth only if no other process
    sells from the same record. A second `soldout serve` on the same data is refused."""
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreInUse(
            f"another soldout process is serving {path.with_suffix('')}; one process owns a "
            "store (stop the other one, or use another --data directory)"
        ) from None
    return handle


class StoreInUse(RuntimeError):
    pass
