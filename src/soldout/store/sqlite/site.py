"""The SQLite repositories of the shop around the sale: uploaded images, the shop's own
settings, and the single-use sign-in links already spent."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from soldout.domain.media import MediaItem
from soldout.domain.shop import Shop
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
from soldout.store.sqlite.base import _InBlock, _one, _Repo
from soldout.store.sqlite.writer import Job

__all__ = [
    "BlockBoard",
    "BlockMedia",
    "BlockShop",
    "SqliteBoard",
    "SqliteLinks",
    "SqliteMedia",
    "SqliteShop",
]


def _add_media(item: MediaItem) -> Job:
    return _one(
        "INSERT INTO media (id, content_type, width, height, data, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        media_row(item),
    )


def _put_shop(shop: Shop) -> Job:
    return _one(
        "INSERT INTO shop (key, value) VALUES ('settings', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (shop_json(shop),),
    )


class BlockMedia(_InBlock):
    def add(self, item: MediaItem) -> None:
        self._block.add(_add_media(item))


class BlockShop(_InBlock):
    def put(self, shop: Shop) -> None:
        self._block.add(_put_shop(shop))


class SqliteMedia(_Repo):
    async def add(self, item: MediaItem) -> None:
        await self._writer.submit(_add_media(item))

    async def get(self, media_id: str) -> MediaItem | None:
        row = self._read.execute("SELECT * FROM media WHERE id = ?", (media_id,)).fetchone()
        if row is None:
            return None
        return media_from_row(row)


class SqliteShop(_Repo):
    async def get(self) -> Shop:
        row = self._read.execute("SELECT value FROM shop WHERE key = 'settings'").fetchone()
        if row is None:
            return Shop()
        return shop_from_json(row[0])

    async def put(self, shop: Shop) -> None:
        await self._writer.submit(_put_shop(shop))


class SqliteLinks(_Repo):
    def use(self, key: str, expires_at: datetime, now: datetime) -> asyncio.Future[bool]:
        def job(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM used_links WHERE expires_at < ?", (ts(now),))
            cursor = conn.execute(
                "INSERT INTO used_links (key, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (key, ts(expires_at)),
            )
            return cursor.rowcount == 1

        return self._writer.submit(job)

    async def spent(self, key: str) -> bool:
        row = self._read.execute("SELECT 1 FROM used_links WHERE key = ?", (key,)).fetchone()
        return row is not None


def _board(changes: Sequence[BoardChange]) -> Job:
    steps = [(_BOARD_SQL[type(c)], c.params()) for c in changes]

    def job(conn: sqlite3.Connection) -> None:
        for sql, params in steps:
            conn.execute(sql, params)

    return job


_BOARD_SQL: dict[type, str] = {BoardPut: PUT_SQL, BoardMark: MARK_SQL, BoardUnmark: UNMARK_SQL}


class BlockBoard(_InBlock):
    def write(self, changes: Sequence[BoardChange]) -> None:
        self._block.add(_board(changes))


class SqliteBoard(_Repo):
    def write(self, changes: Sequence[BoardChange]) -> asyncio.Future[None]:
        return self._writer.submit(_board(changes))

    async def load(self) -> BoardRecords:
        docs = self._read.execute(LOAD_DOCS).fetchall()
        marks = self._read.execute(LOAD_MARKS).fetchall()
        return BoardRecords(
            [record_of(r["kind"], r["body"]) for r in docs], list(map(mark_of, marks))
        )
