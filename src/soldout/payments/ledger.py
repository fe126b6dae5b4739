"""The `test` provider's own ledger: one line per payment, in SQLite.

With a path the ledger is its own SQLite file (WAL), and a provider opened later on the same
file sees every line; without one it lives in memory. `synchronous=NORMAL` keeps a
committed line through a crash of the process (not of the machine, which a simulator need
not survive).

A change (`add`, `move`) returns once it is committed, and the changes asked for in one
tick of the event loop share one transaction (as soldout's own group commit): a change
alone in a transaction cost 23-32 us here, one of fifty about 5 us, and a payment makes two
(authorized, then captured). Each change is one statement, so it is whole or absent: a
caller cancelled while it waits leaves no half change behind, and the change still
commits. Reads run at once. `add` reads only when the key was taken (a retry) and `move`
answers the changed line (`RETURNING`); the lines just written or moved are kept in memory
(the last `RECENT`), so a capture right after an authorization reads nothing. The file
stays the record: a line not in memory is read from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from soldout.datadir import create_private, make_private_dir, read_only_uri
from soldout.payments.port import Transaction

__all__ = ["Ledger", "Line", "LineStatus"]

RECENT = 4096  # lines kept in memory: a payment's capture follows its authorization at once


class LineStatus(StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    VOIDED = "voided"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Line:
    reference: str
    idempotency_key: str
    merchant_reference: str
    method: str
    card: str  # the behaviour the card token chose, never the token itself
    amount: int
    currency: str
    status: LineStatus
    captured: int = 0
    refunded: int = 0
    reason: str | None = None
    created: str = ""  # ISO 8601

    def transaction(self) -> Transaction:
        return Transaction(
            reference=self.reference,
            method=self.method,
            amount=self.amount,
            currency=self.currency,
            status=str(self.status),
            captured=self.captured,
            refunded=self.refunded,
            merchant_reference=self.merchant_reference,
            failure=(self.reason or "declined") if self.status is LineStatus.DECLINED else None,
        )


_COLUMNS = (
    "reference, idempotency_key, merchant_reference, method, card, amount, currency,"
    " status, captured, refunded, reason, created"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS lines (
    seq INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    merchant_reference TEXT NOT NULL,
    method TEXT NOT NULL,
    card TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    captured INTEGER NOT NULL,
    refunded INTEGER NOT NULL,
    reason TEXT,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS part_refunds (
    key TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    amount INTEGER NOT NULL
)
"""


def _line(row: sqlite3.Row) -> Line:
    return Line(
        reference=row["reference"],
        idempotency_key=row["idempotency_key"],
        merchant_reference=row["merchant_reference"],
        method=row["method"],
        card=row["card"],
        amount=row["amount"],
        currency=row["currency"],
        status=LineStatus(row["status"]),
        captured=row["captured"],
        refunded=row["refunded"],
        reason=row["reason"],
        created=row["created"],
    )


_INSERT = (
    f"INSERT INTO lines ({_COLUMNS}) VALUES ({', '.join('?' * 12)})"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING seq"
)
_Change = tuple[str, Sequence[object], "asyncio.Future[list[sqlite3.Row]]"]


class Ledger:
    def __init__(self, path: Path | None, *, read_only: bool = False) -> None:
        """`read_only`: the file opened `mode=ro` (`soldout reconcile`), nothing created."""
        if path is None:
            self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        elif read_only:
            self._conn = sqlite3.connect(
                read_only_uri(path), uri=True, isolation_level=None, check_same_thread=False
            )
        else:
            make_private_dir(path.parent)
            create_private(path)  # 0600, and so its -wal and -shm, as soldout's database
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.row_factory = sqlite3.Row
        if path is None or not read_only:
            self._conn.executescript(_SCHEMA)
        self._recent: dict[str, Line] = {}  # by reference, oldest first
        self._changes: list[_Change] = []  # to commit at the end of this tick

    async def add(self, line: Line) -> Line:
        """Write `line` unless its idempotency key is taken; the line holding the key."""
        values = (
            line.reference,
            line.idempotency_key,
            line.merchant_reference,
            line.method,
            line.card,
            line.amount,
            line.currency,
            str(line.status),
            line.captured,
            line.refunded,
            line.reason,
            line.created,
        )
        if await self._change(_INSERT, values):
            return self._remember(line)
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE idempotency_key = ?", (line.idempotency_key,)
        ).fetchone()
        return self._remember(_line(row))

    def get(self, reference: str) -> Line | None:
        line = self._recent.get(reference)
        if line is not None:
            return line
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE reference = ?", (reference,)
        ).fetchone()
        return None if row is None else self._remember(_line(row))

    async def move(
        self,
        reference: str,
        from_: Collection[LineStatus],
        to: LineStatus,
        *,
        captured: int | None = None,
        refunded: int | None = None,
        reason: str | None = None,
    ) -> bool:
        """Change the line's status if it is one of `from_`; whether it changed."""
        marks = ", ".join("?" * len(from_))
        rows = await self._change(
            "UPDATE lines SET status = ?, captured = coalesce(?, captured),"
            " refunded = coalesce(?, refunded), reason = coalesce(?, reason)"
            f" WHERE reference = ? AND status IN ({marks}) RETURNING {_COLUMNS}",
            (str(to), captured, refunded, reason, reference, *(str(s) for s in from_)),
        )
        if not rows:
            self._recent.pop(reference, None)  # read again next time: it is not as we thought
            return False
        self._remember(_line(rows[0]))
        return True

    def part_refund(self, key: str) -> tuple[str, int] | None:
        """The (reference, amount) of the part refund made under `key`, if one was."""
        row = self._conn.execute(
            "SELECT reference, amount FROM part_refunds WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else (row["reference"], row["amount"])

    async def refund_part(self, reference: str, key: str, amount: int) -> bool:
        """Add `amount` to a captured line's `refunded` if that leaves it no more than
        captured, and keep `key`, in one transaction; whether it was refunded (a key
        already kept refunds nothing again)."""
        moved = self._change(
            "UPDATE lines SET refunded = refunded + ? WHERE reference = ? AND status = ?"
            " AND captured - refunded >= ?"
            " AND NOT EXISTS (SELECT 1 FROM part_refunds WHERE key = ?)"
            f" RETURNING {_COLUMNS}",
            (amount, reference, str(LineStatus.CAPTURED), amount, key),
        )
        kept = self._change(  # (same tick, same transaction: after the update above)
            "INSERT INTO part_refunds (key, reference, amount) SELECT ?, ?, ?"
            " WHERE changes() = 1 ON CONFLICT (key) DO NOTHING",
            (key, reference, amount),
        )
        rows = await moved
        await kept
        if not rows:
            self._recent.pop(reference, None)
            return False
        self._remember(_line(rows[0]))
        return True

    def of_merchant(self, merchant_reference: str) -> Line | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE merchant_reference = ? ORDER BY seq DESC",
            (merchant_reference,),
        ).fetchone()
        return None if row is None else _line(row)

    def lines(self) -> list[Line]:
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM lines ORDER BY seq").fetchall()
        return [_line(row) for row in rows]

    def pending(self) -> list[Line]:
        """The lines still waiting for their outcome, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE status = ? ORDER BY seq",
            (str(LineStatus.PENDING),),
        ).fetchall()
        return [_line(row) for row in rows]

    def close(self) -> None:
        self._commit()
        self._conn.close()

    def _remember(self, line: Line) -> Line:
        self._recent[line.reference] = line
        if len(self._recent) > RECENT:
            del self._recent[next(iter(self._recent))]
        return line

    def _change(self, sql: str, params: Sequence[object]) -> asyncio.Future[list[sqlite3.Row]]:
        """Run `sql` in this tick's transaction; the rows it returns, once committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[sqlite3.Row]] = loop.create_future()
        if not self._changes:
            loop.call_soon(self._commit)
        self._changes.append((sql, params, done))
        return done

    def _commit(self) -> None:
        changes, self._changes = self._changes, []
        if not changes:
            return
        outcomes: list[tuple[list[sqlite3.Row] | None, BaseException | None]] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for sql, params, _ in changes:
                try:  # (a statement that fails is undone alone; the others stand)
                    outcomes.append((self._conn.execute(sql, params).fetchall(), None))
                except sqlite3.IntegrityError as refused:
                    outcomes.append((None, refused))
            self._conn.execute("COMMIT")
        except sqlite3.Error as failed:
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            outcomes = [(None, failed)] * len(changes)
        for (_, _, done), (rows, error) in zip(changes, outcomes, strict=True):
            if done.cancelled():
                continue
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(rows or [])
