"""The PostgreSQL repository of fans: who they are, where they ship, their language, and
the erasure of it all on request.

As in the SQLite adapter, the fans read most recently are kept in memory (`RECENT`) by
the process that owns the store (its lock says there is one): a payment reads its fan
twice, and each read here is a round trip to the server. Every change to a fan goes
through this object, which drops the fan from memory when the change is queued and again
once it is written. A rehearsal's fans are never kept, nor is anything kept by a store
opened read-only beside a running server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import psycopg

from soldout.domain.errors import Conflict
from soldout.domain.fans import ERASED_NAME, Fan, erased_email
from soldout.store.postgresql.base import Connections, InBlock, Repo, one
from soldout.store.postgresql.writer import Block, Do
from soldout.store.rows import ts
from soldout.store.rows_access import fan_changes, fan_from_row, fan_row
from soldout.store.sqlite.fans import RECENT

__all__ = ["BlockFans", "PgFans"]

_INSERT = (
    "INSERT INTO fans (id, email, name, referral_code, referred_by, created_at, address,"
    " phone, shipping, locale, time_zone, rehearsal)"
    " VALUES (%b, %b, %b, %b, %b, %b, %b, %b, %b, %b, %b, %b)"
)


class PgFans(Repo):
    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self._recent: dict[str, Fan] = {}

    async def add(self, fan: Fan) -> None:
        try:
            await self._do(_INSERT, fan_row(fan))
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "fans_email_key":
                raise Conflict("a fan with this e-mail is registered", field="email").with_code(
                    "email_taken"
                ) from exc
            raise

    def update(self, fan: Fan) -> asyncio.Future[None]:
        return self._changing(fan.id, _update_fan(fan))

    async def erased(self) -> Sequence[str]:
        rows = await self._rows("SELECT id FROM fans WHERE erased_at IS NOT NULL ORDER BY seq")
        return [r["id"] for r in rows]

    def erase(self, fan_id: str, at: datetime) -> asyncio.Future[None]:
        return self._changing(fan_id, _erase_fan(fan_id, at))

    async def get(self, fan_id: str) -> Fan | None:
        fan = self._recent.pop(fan_id, None)
        if fan is None:
            row = await self._first("SELECT * FROM fans WHERE id = %b", (fan_id,))
            if row is None:
                return None
            fan = fan_from_row(row)
            if fan.rehearsal is not None or not self._writer.running:
                return fan
            if len(self._recent) >= RECENT:
                del self._recent[next(iter(self._recent))]
        self._recent[fan_id] = fan  # (again) the most recently read
        return fan

    def _changing(self, fan_id: str, job: Do) -> asyncio.Future[None]:
        written: asyncio.Future[None] = self._writer.submit(job)
        self.forget_when(written, fan_id)
        return written

    def forget_when(self, written: asyncio.Future[None], fan_id: str) -> None:
        """Drop the fan from memory now and again once `written` (its change) is done."""
        self._recent.pop(fan_id, None)
        written.add_done_callback(lambda _: self._recent.pop(fan_id, None))

    async def by_referral_code(self, code: str) -> Fan | None:
        row = await self._first("SELECT * FROM fans WHERE referral_code = %b", (code,))
        return fan_from_row(row) if row else None

    async def by_email(self, email: str) -> Fan | None:
        row = await self._first("SELECT * FROM fans WHERE email = %b", (email,))
        return fan_from_row(row) if row else None

    async def referral_pairs(self) -> Sequence[tuple[str, str]]:
        rows = await self._rows(
            "SELECT id, referred_by FROM fans WHERE referred_by IS NOT NULL ORDER BY seq"
        )
        return [(r["id"], r["referred_by"]) for r in rows]

    async def contacts(self) -> Sequence[tuple[str, str | None, str | None]]:
        rows = await self._rows(
            "SELECT id, address, phone FROM fans"
            " WHERE address IS NOT NULL OR phone IS NOT NULL ORDER BY seq"
        )
        return [(r["id"], r["address"], r["phone"]) for r in rows]


class BlockFans(InBlock):
    def __init__(self, block: Block, repository: PgFans) -> None:
        super().__init__(block)
        self._repository = repository

    def update(self, fan: Fan) -> None:
        self._block.add(_update_fan(fan))
        self._repository.forget_when(self._block.durable, fan.id)

    def erase(self, fan_id: str, at: datetime) -> None:
        self._block.add(_erase_fan(fan_id, at))
        self._repository.forget_when(self._block.durable, fan_id)


def _update_fan(fan: Fan) -> Do:
    return one(
        "UPDATE fans SET name = %b, address = %b, phone = %b, shipping = %b, locale = %b,"
        " time_zone = %b, email_proven_at = %b WHERE id = %b",
        fan_changes(fan),
    )


def _erase_fan(fan_id: str, at: datetime) -> Do:
    just = (fan_id,)
    return Do(
        [
            (
                "UPDATE fans SET name = %b, email = %b, address = NULL, phone = NULL,"
                " shipping = NULL, time_zone = NULL, erased_at = %b WHERE id = %b",
                (ERASED_NAME, erased_email(fan_id), ts(at), fan_id),
            ),
            ("UPDATE orders SET shipping = NULL WHERE fan_id = %b", just),
            ("DELETE FROM notifications WHERE fan_id = %b", just),
            # entries of draws still to come (a drawn launch keeps its entries)
            (
                "DELETE FROM reservations WHERE fan_id = %b AND launch_id IN"
                " (SELECT id FROM launches WHERE drawn_at IS NULL)",
                just,
            ),
        ]
    )
