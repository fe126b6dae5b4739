"""The SQLite repository of fans: who they are, where they ship, their language, and the
erasure of it all on request.

The fans read most recently are kept in memory (`RECENT`) by the process that owns the
store: a payment reads its fan twice (the address is on file; the order ships there), each
read a query and a row to parse. Every change to a fan goes through this object (one
process writes a store), which drops the fan from memory when the change is queued and
again once it is written (a read in between answers the row as it still is). A
rehearsal's fans are never kept: they are deleted with their run, by another repository;
nor is anything kept by a store opened read-only beside a running server.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

from soldout.domain.errors import Conflict
from soldout.domain.fans import ERASED_NAME, Fan, erased_email
from soldout.store.rows import ts
from soldout.store.rows_access import fan_changes, fan_from_row, fan_row
from soldout.store.sqlite.base import Connections, _InBlock, _one, _Repo
from soldout.store.sqlite.writer import Block, Job

__all__ = ["BlockFans", "SqliteFans"]

RECENT = 4096  # fans kept in memory, least recently read dropped first


class SqliteFans(_Repo):
    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self._recent: dict[str, Fan] = {}

    async def add(self, fan: Fan) -> None:
        try:
            await self._writer.submit(
                _one(
                    "INSERT INTO fans (id, email, name, referral_code, referred_by, created_at,"
                    " address, phone, shipping, locale, time_zone, rehearsal)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    fan_row(fan),
                )
            )
        except sqlite3.IntegrityError as exc:
            if "fans.email" in str(exc):
                raise Conflict("a fan with this e-mail is registered", field="email").with_code(
                    "email_taken"
                ) from exc
            raise

    def update(self, fan: Fan) -> asyncio.Future[None]:
        return self._changing(fan.id, _update_fan(fan))

    async def erased(self) -> Sequence[str]:
        return [r[0] for r in self._read.execute("SELECT id FROM fans WHERE erased_at IS NOT NULL")]

    def erase(self, fan_id: str, at: datetime) -> asyncio.Future[None]:
        return self._changing(fan_id, _erase_fan(fan_id, at))

    async def get(self, fan_id: str) -> Fan | None:
        fan = self._recent.pop(fan_id, None)
        if fan is None:
            row = self._read.execute("SELECT * FROM fans WHERE id = ?", (fan_id,)).fetchone()
            if row is None:
                return None
            fan = fan_from_row(row)
            if fan.rehearsal is not None or not self._writer.running:
                return fan
            if len(self._recent) >= RECENT:
                del self._recent[next(iter(self._recent))]
        self._recent[fan_id] = fan  # (again) the most recently read
        return fan

    def _changing(
        self, fan_id: str, job: Callable[[sqlite3.Connection], None]
    ) -> asyncio.Future[None]:
        written = self._writer.submit(job)
        self.forget_when(written, fan_id)
        return written

    def forget_when(self, written: asyncio.Future[None], fan_id: str) -> None:
        """Drop the fan from memory now and again once `written` (its change) is done."""
        self._recent.pop(fan_id, None)
        written.add_done_callback(lambda _: self._recent.pop(fan_id, None))

    async def by_referral_code(self, code: str) -> Fan | None:
        row = self._read.execute("SELECT * FROM fans WHERE referral_code = ?", (code,)).fetchone()
        return fan_from_row(row) if row else None

    async def by_email(self, email: str) -> Fan | None:
        row = self._read.execute("SELECT * FROM fans WHERE email = ?", (email,)).fetchone()
        return fan_from_row(row) if row else None

    async def referral_pairs(self) -> Sequence[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self._read.execute(
                "SELECT id, referred_by FROM fans WHERE referred_by IS NOT NULL ORDER BY rowid"
            )
        ]

    async def contacts(self) -> Sequence[tuple[str, str | None, str | None]]:
        return [
            (r[0], r[1], r[2])
            for r in self._read.execute(
                "SELECT id, address, phone FROM fans"
                " WHERE address IS NOT NULL OR phone IS NOT NULL ORDER BY rowid"
            )
        ]


class BlockFans(_InBlock):
    def __init__(self, block: Block, repository: SqliteFans) -> None:
        super().__init__(block)
        self._repository = repository

    def update(self, fan: Fan) -> None:
        self._block.add(_update_fan(fan))
        self._repository.forget_when(self._block.durable, fan.id)

    def erase(self, fan_id: str, at: datetime) -> None:
        self._block.add(_erase_fan(fan_id, at))
        self._repository.forget_when(self._block.durable, fan_id)


def _update_fan(fan: Fan) -> Job:
    return _one(
        "UPDATE fans SET name = ?, address = ?, phone = ?, shipping = ?, locale = ?,"
        " time_zone = ?, email_proven_at = ? WHERE id = ?",
        fan_changes(fan),
    )


def _erase_fan(fan_id: str, at: datetime) -> Job:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE fans SET name = ?, email = ?, address = NULL, phone = NULL,"
            " shipping = NULL, time_zone = NULL, erased_at = ? WHERE id = ?",
            (ERASED_NAME, erased_email(fan_id), ts(at), fan_id),
        )
        conn.execute("UPDATE orders SET shipping = NULL WHERE fan_id = ?", (fan_id,))
        conn.execute("DELETE FROM notifications WHERE fan_id = ?", (fan_id,))
        # entries of draws still to come (a drawn launch keeps its published entries)
        conn.execute(
            "DELETE FROM reservations WHERE fan_id = ? AND launch_id IN"
            " (SELECT id FROM launches WHERE drawn_at IS NULL)",
            (fan_id,),
        )

    return job
