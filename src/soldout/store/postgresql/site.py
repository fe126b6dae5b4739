"""The PostgreSQL repositories of the shop around the sale: uploaded images, the shop's
own settings, and the single-use sign-in links already spent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from soldout.domain.media import MediaItem
from soldout.domain.shop import Shop
from soldout.store.postgresql.base import InBlock, Repo, one, pg
from soldout.store.postgresql.writer import Do
from soldout.store.rows import ts
from soldout.store.rows_access import media_from_row, media_row, shop_from_json, shop_json
from soldout.store.rows_board import (
    LOAD_DOCS,
    LOAD_MARKS,
    MARK_SQL,
    PUT_SQL,
    UNMARK_SQL,
    BoardChange,
    BoardMark,
    BoardPut,
    BoardRecords,
    BoardUnmark,
    mark_of,
    record_of,
)

__all__ = ["BlockBoard", "BlockMedia", "BlockShop", "PgBoard", "PgLinks", "PgMedia", "PgShop"]


def _add_media(item: MediaItem) -> Do:
    return one(
        "INSERT INTO media (id, content_type, width, height, data, created_at)"
        " VALUES (%b, %b, %b, %b, %b, %b) ON CONFLICT (id) DO NOTHING",
        media_row(item),
    )


def _put_shop(shop: Shop) -> Do:
    return one(
        "INSERT INTO shop (key, value) VALUES ('settings', %b)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (shop_json(shop),),
    )


class BlockMedia(InBlock):
    def add(self, item: MediaItem) -> None:
        self._block.add(_add_media(item))


class BlockShop(InBlock):
    def put(self, shop: Shop) -> None:
        self._block.add(_put_shop(shop))


class PgMedia(Repo):
    async def add(self, item: MediaItem) -> None:
        await self._writer.submit(_add_media(item))

    async def get(self, media_id: str) -> MediaItem | None:
        row = await self._first("SELECT * FROM media WHERE id = %b", (media_id,))
        if row is None:
            return None
        return media_from_row(row)


class PgShop(Repo):
    async def get(self) -> Shop:
        row = await self._first("SELECT value FROM shop WHERE key = 'settings'")
        if row is None:
            return Shop()
        return shop_from_json(row["value"])

    async def put(self, shop: Shop) -> None:
        await self._writer.submit(_put_shop(shop))


class PgLinks(Repo):
    def use(self, key: str, expires_at: datetime, now: datetime) -> asyncio.Future[bool]:
        forget = ("DELETE FROM used_links WHERE expires_at < %b", (ts(now),))
        spend = (
            "INSERT INTO used_links (key, expires_at) VALUES (%b, %b) ON CONFLICT DO NOTHING",
            (key, ts(expires_at)),
        )
        return self._writer.submit(Do([forget, spend], count=True))

    async def spent(self, key: str) -> bool:
        return await self._first("SELECT 1 FROM used_links WHERE key = %b", (key,)) is not None


def _board(changes: Sequence[BoardChange]) -> Do:
    return Do([(pg(_BOARD_SQL[type(c)]), c.params()) for c in changes])


_BOARD_SQL: dict[type, str] = {BoardPut: PUT_SQL, BoardMark: MARK_SQL, BoardUnmark: UNMARK_SQL}


class BlockBoard(InBlock):
    def write(self, changes: Sequence[BoardChange]) -> None:
        self._block.add(_board(changes))


class PgBoard(Repo):
    def write(self, changes: Sequence[BoardChange]) -> asyncio.Future[None]:
        return self._writer.submit(_board(changes))

    async def load(self) -> BoardRecords:
        docs = await self._rows(LOAD_DOCS)
        marks = await self._rows(LOAD_MARKS)
        return BoardRecords(
            [record_of(r["kind"], r["body"]) for r in docs], list(map(mark_of, marks))
        )
