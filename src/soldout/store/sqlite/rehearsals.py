"""What rehearsal runs left in the SQLite store: their fans' marks, and their removal.

The removal deletes by id (every id comes from the engine's memory), so each statement
is a primary-key or indexed lookup: no scan of the claims table, which has no index on
its launch (a claim's insert is the hot path; see migration 0005).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence

from soldout.domain.rehearsals import RunRecord
from soldout.store.sqlite.base import _InBlock, _Repo
from soldout.store.sqlite.writer import Job

__all__ = ["BlockRehearsals", "SqliteRehearsals"]

# Children before parents (foreign keys are on): (table, column, which ids of the record).
_DELETES: tuple[tuple[str, str, str], ...] = (
    ("order_events", "order_id", "order_ids"),
    ("orders", "id", "order_ids"),
    ("payments", "id", "payment_ids"),
    ("priority_codes", "launch_id", "launch_ids"),
    ("claims", "id", "claim_ids"),
    ("reservations", "launch_id", "launch_ids"),
    ("launch_batches", "launch_id", "launch_ids"),
    ("launches", "id", "launch_ids"),
    ("production_plans", "product_id", "product_ids"),
    ("skus", "product_id", "product_ids"),
    ("products", "id", "product_ids"),
    ("notifications", "fan_id", "fan_ids"),
    ("secrets", "name", "secrets"),
)


class SqliteRehearsals(_Repo):
    async def marks(self) -> Sequence[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self._read.execute(
                "SELECT id, rehearsal FROM fans WHERE rehearsal IS NOT NULL"
            )
        ]

    async def real_fans(self) -> int:
        row = self._read.execute("SELECT count(*) FROM fans WHERE rehearsal IS NULL").fetchone()
        return int(row[0])

    def purge(self, record: RunRecord) -> asyncio.Future[None]:
        return self._writer.submit(_purge(record))


class BlockRehearsals(_InBlock):
    def purge(self, record: RunRecord) -> None:
        self._block.add(_purge(record))


def _purge(record: RunRecord) -> Job:
    def job(conn: sqlite3.Connection) -> None:
        for table, column, ids in _DELETES:
            conn.executemany(
                f"DELETE FROM {table} WHERE {column} = ?", [(i,) for i in getattr(record, ids)]
            )
        # In one statement (the partial index finds them): a rehearsal's fan may have been
        # referred by another of its fans, and a foreign key is checked at the end of each
        # statement.
        conn.execute("DELETE FROM fans WHERE rehearsal = ?", (record.run,))

    return job
