"""What rehearsal runs left in the PostgreSQL store: their fans' marks, and their removal
(the SQLite adapter's order of deletes, `_DELETES`; here one statement a table, by an
array of ids)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from soldout.domain.rehearsals import RunRecord
from soldout.store.postgresql.base import InBlock, Repo
from soldout.store.postgresql.writer import Do, Step
from soldout.store.sqlite.rehearsals import _DELETES

__all__ = ["BlockRehearsals", "PgRehearsals"]


class PgRehearsals(Repo):
    async def marks(self) -> Sequence[tuple[str, str]]:
        rows = await self._rows("SELECT id, rehearsal FROM fans WHERE rehearsal IS NOT NULL")
        return [(r["id"], r["rehearsal"]) for r in rows]

    async def real_fans(self) -> int:
        row = await self._first("SELECT count(*) AS n FROM fans WHERE rehearsal IS NULL")
        return int(row["n"])

    def purge(self, record: RunRecord) -> asyncio.Future[None]:
        return self._writer.submit(_purge(record))


class BlockRehearsals(InBlock):
    def purge(self, record: RunRecord) -> None:
        self._block.add(_purge(record))


def _purge(record: RunRecord) -> Do:
    steps: list[Step] = [
        (f"DELETE FROM {table} WHERE {column} = ANY(%b::text[])", (list(getattr(record, ids)),))
        for table, column, ids in _DELETES
    ]
    # in one statement: a rehearsal's fan may have been referred by another of its fans
    steps.append(("DELETE FROM fans WHERE rehearsal = %b", (record.run,)))
    return Do(steps)
