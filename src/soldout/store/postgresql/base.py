"""What every PostgreSQL repository shares: its store's two ways in (the group-commit
writer for writes, the pool for reads) and the SQL the SQLite adapter's rows module
already holds, with psycopg's placeholders. Each write's job is made by one function, which
the repository submits alone and its `Block...` twin (`InBlock`) adds to a transaction
block."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from soldout.store.postgresql.writer import Block, Do, Params, PgWriter, columns

__all__ = ["Connections", "InBlock", "Repo", "columns_of", "one", "pg", "update_from"]


def one(sql: str, params: Params) -> Do:
    """A job of one statement."""
    return Do([(sql, params)])


def pg(sql: str) -> str:
    """A statement written for SQLite (`?` placeholders) for psycopg, whose parameters go
    in binary (`%b`: cheaper to send and to parse than text, measured in
    benchmarks/pg_drivers.py)."""
    if "%" in sql:
        raise ValueError(f"a % in SQL meant for SQLite: {sql!r}")
    return sql.replace("?", "%b")


class Connections(Protocol):
    writer: PgWriter

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]:
        """Rows as dicts by column name (the SQLite adapter's rows module reads them as it
        reads a `sqlite3.Row`)."""


class Repo:
    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._writer = connections.writer

    async def _rows(self, sql: str, params: Params = ()) -> list[Any]:
        return await self._connections.fetch(sql, params)

    async def _first(self, sql: str, params: Params = ()) -> Any:
        rows = await self._connections.fetch(sql, params)
        return rows[0] if rows else None

    def _do(self, sql: str, params: Params) -> asyncio.Future[None]:
        """One statement, queued now."""
        return self._writer.submit(one(sql, params))


class InBlock:
    """A repository's writes inside a transaction block: each adds its job to the block."""

    def __init__(self, block: Block) -> None:
        self._block = block


def update_from(table: str, columns: str, types: str, *, where: str = "") -> str:
    """`UPDATE table SET c = u.c, ... FROM unnest(arrays) u WHERE table.id = u.id`: many rows
    changed by one statement, whose arrays are `columns` in order, the id last (`types`:
    one letter a column, `t` text, `i` bigint)."""
    names = columns.split(", ")
    arrays = ", ".join(f"%b::{'text' if t == 't' else 'bigint'}[]" for t in types)
    sets = ", ".join(f"{name} = u.{name}" for name in names)
    return (
        f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS u({columns}, id)"
        f" WHERE {table}.id = u.id{where}"
    )


def columns_of(rows: Sequence[Sequence[object]], width: int) -> list[list[object]]:
    """Rows as one list per column, for `update_from` (the last row for an id wins, as
    when the rows are applied one by one)."""
    return columns(list({row[-1]: row for row in rows}.values()), width)
