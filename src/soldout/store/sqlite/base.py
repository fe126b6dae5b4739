"""What every SQLite repository shares: its store's two ways in (the group-commit writer
for writes, the read connection for reads), and jobs of one statement. Each write's job is
made by one function, which the repository submits alone and its `Block...` twin
(`_InBlock`) adds to a transaction block."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Protocol

from soldout.store.sqlite.writer import Block, GroupCommitWriter, Job

__all__ = ["Connections", "_InBlock", "_Repo", "_many", "_one"]


class Connections(Protocol):
    writer: GroupCommitWriter

    def reader(self) -> sqlite3.Connection: ...


def _one(sql: str, params: tuple[object, ...]) -> Job:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute(sql, params)

    return job


def _many(sql: str, rows: Sequence[tuple[object, ...]]) -> Job:
    def job(conn: sqlite3.Connection) -> None:
        conn.executemany(sql, rows)

    return job


class _Repo:
    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._writer = connections.writer

    @property
    def _read(self) -> sqlite3.Connection:
        return self._connections.reader()


class _InBlock:
    """A repository's writes inside a transaction block: each adds its job to the block."""

    def __init__(self, block: Block) -> None:
        self._block = block
